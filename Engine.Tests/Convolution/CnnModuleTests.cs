using Engine.Nn;
using Engine.Serialization;

namespace Engine.Tests;

/// <summary>BatchNorm2d, GroupNorm, Dropout2d, and a PyTorch CNN's state dict loading and predicting the same.</summary>
public class CnnModuleTests
{
    /// <summary>The fixture's model (make_cnn_fixture.py), built from the engine's modules with PyTorch's indices as names.</summary>
    private static Sequential TorchCnn(Device dev) => new(
        new Conv2d(dev, 1, 4, 3, padding: 1), new BatchNorm2d(dev, 4), new Relu(), new MaxPool2d(2),
        new Conv2d(dev, 4, 6, 3, groups: 2), new Relu(), new AdaptiveAvgPool2d((2, 2)), new Flatten(), new Linear(dev, 24, 5));

    [Fact]
    public void A_pytorch_cnn_state_dict_loads_and_predicts_the_same_and_saves_back()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var file = SafeTensors.Load(Path.Combine(AppContext.BaseDirectory, "Serialization", "Fixtures", "torch_cnn.safetensors"));
        var model = TorchCnn(dev);
        var state = file.Tensors.Where(p => p.Key is not ("input" or "expected")).ToDictionary(p => p.Key, p => p.Value);
        model.LoadStateDict(state);
        model.Eval();
        var y = model.Forward(file.Tensors["input"].ToTensor(dev));
        Expect.Close(file.Tensors["expected"].Values, y.ToArray(), 1e-5, 1e-4, "eval-mode prediction");
        var saved = model.StateDict();
        Assert.Equal(state.Keys.OrderBy(k => k), saved.Keys.OrderBy(k => k));
        foreach (var (key, value) in state)
            if (value.Integers == null) Assert.Equal(value.Values, saved[key].Values);
    }

    [Fact]
    public void BatchNorm2d_normalizes_each_channel_over_batch_and_space_and_checks_its_input()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var bn = new BatchNorm2d(dev, 3);
        var xv = Reference.RandomValues(31, 2 * 3 * 4 * 5, -2, 3);
        var y = bn.Forward(Tensor.FromArray(dev, xv, new[] { 2, 3, 4, 5 })).ToArray();
        for (int c = 0; c < 3; c++)
        {
            var idx = Enumerable.Range(0, xv.Length).Where(i => i / 20 % 3 == c).ToArray();
            double mean = idx.Average(i => (double)xv[i]);
            double variance = idx.Average(i => (xv[i] - mean) * (xv[i] - mean));
            Expect.Close(idx.Select(i => (xv[i] - mean) / Math.Sqrt(variance + 1e-5)).ToArray(), idx.Select(i => y[i]).ToArray(), 1e-5, 1e-4, $"channel {c}");
        }
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.Zeros(dev, new[] { 2, 3, 4 })));
        Assert.Contains("BatchNorm2d(3)", e.Message);
        Assert.Contains("[2, 3, 4]", e.Message);
    }

    [Fact]
    public void GroupNorm_matches_finite_differences_and_checks_groups()
    {
        int n = 2, c = 4, h = 3, w = 2, groups = 2;
        double[] Reference_(double[][] r)
        {
            var x = r[0];
            var y = new double[x.Length];
            int per = c / groups * h * w;
            for (int s = 0; s < n * groups; s++)
            {
                var seg = Enumerable.Range(s * per, per).ToArray();
                double mean = seg.Average(i => x[i]), variance = seg.Average(i => (x[i] - mean) * (x[i] - mean));
                foreach (int i in seg)
                {
                    int ch = i / (h * w) % c;
                    y[i] = (x[i] - mean) / Math.Sqrt(variance + 1e-5) * r[1][ch] + r[2][ch];
                }
            }
            return y;
        }
        GradCheck.Run(t => Tensor.GroupNorm(t[0], groups, t[1], t[2]), Reference_,
            new[] { Reference.RandomValues(32, n * c * h * w, -2, 2), Reference.RandomValues(33, c, 0.5, 1.5), Reference.RandomValues(34, c, -1, 1) },
            new[] { new[] { n, c, h, w }, new[] { c }, new[] { c } });
        Assert.Contains("num_groups 3", Assert.Throws<ArgumentException>(() => new GroupNorm(TestDevice.Instance, 3, 4)).Message.Replace("num_channels 4 must be divisible by num_groups 3", "num_groups 3"));
    }

    [Fact]
    public void Dropout2d_zeroes_whole_channels_and_scales_the_rest()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var drop = new Dropout2d(0.5f, seed: 3);
        var x = Tensor.Ones(dev, new[] { 8, 16, 3, 3 });
        x.RequiresGrad = true;
        var y = drop.Forward(x);
        var v = y.ToArray();
        int zeroed = 0;
        for (int plane = 0; plane < 8 * 16; plane++)
        {
            var p = v.Skip(plane * 9).Take(9).Distinct().ToArray();
            Assert.Single(p);
            Assert.True(p[0] == 0f || p[0] == 2f, $"plane {plane}: {p[0]}");
            if (p[0] == 0f) zeroed++;
        }
        Assert.InRange(zeroed, 32, 96);
        y.Sum().Backward();
        Assert.Equal(v, x.Grad!.ToArray());
        drop.Eval();
        Assert.Same(x, drop.Forward(x));
    }
}
