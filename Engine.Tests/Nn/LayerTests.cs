using Engine.Nn;
using FsCheck.Xunit;

namespace Engine.Tests.Nn;

[Properties(Arbitrary = new[] { typeof(Generators) }, MaxTest = 40)]
public class LayerTests
{
    private static Device Dev => TestDevice.Instance;

    private static double[] LinearReference(double[] x, double[] w, double[]? b, int m, int inputs, int outputs)
    {
        var y = new double[m * outputs];
        for (int r = 0; r < m; r++)
        for (int o = 0; o < outputs; o++)
        {
            double s = b?[o] ?? 0;
            for (int i = 0; i < inputs; i++) s += x[r * inputs + i] * w[o * inputs + i];
            y[r * outputs + o] = s;
        }
        return y;
    }

    [Property]
    public void Linear_is_x_times_w_transposed_plus_b_with_matching_gradients(MatMulDims s, int seed)
    {
        int m = s.M, inputs = s.K, outputs = s.N;
        var x = Reference.RandomValues(seed, m * inputs);
        var w = Reference.RandomValues(seed + 1, outputs * inputs);
        var b = Reference.RandomValues(seed + 2, outputs);
        GradCheck.Run(t => Tensor.Linear(t[0], t[1], t[2]), r => LinearReference(r[0], r[1], r[2], m, inputs, outputs),
            new[] { x, w, b }, new[] { new[] { m, inputs }, new[] { outputs, inputs }, new[] { outputs } }, atol: 5e-3);
        using var scope = new DisposeScope();
        using (Autograd.NoGrad())
        {
            var y = Tensor.Linear(Tensor.FromArray(Dev, x, new[] { m, inputs }), Tensor.FromArray(Dev, w, new[] { outputs, inputs }));
            Expect.Close(LinearReference(Reference.ToDouble(x), Reference.ToDouble(w), null, m, inputs, outputs),
                y.ToArray(), 1e-4, 1e-5, "no bias");
        }
    }

    [Fact]
    public void Sequential_names_parameters_as_pytorch_does()
    {
        using var model = new Sequential(new Linear(Dev, 4, 3, seed: 1), new Relu(), new Linear(Dev, 3, 2, bias: false, seed: 2));
        var names = model.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(new[] { "0.weight", "0.bias", "2.weight" }, names);
        Assert.Equal(new[] { 3, 4 }, model.NamedParameters().First().Parameter.Shape);
        Assert.All(model.Parameters(), p => Assert.True(p.RequiresGrad));
        using var scope = new DisposeScope();
        var y = model.Forward(Tensor.Ones(Dev, new[] { 5, 4 }));
        Assert.Equal(new[] { 5, 2 }, y.Shape);
    }

    [Fact]
    public void Linear_uses_pytorch_default_initialisation_bounds()
    {
        using var layer = new Linear(Dev, 400, 300, seed: 3);
        float bound = 1f / MathF.Sqrt(400);
        var w = layer.Weight.ToArray();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        double std = Math.Sqrt(w.Average(v => (double)v * v));
        Assert.InRange(std, bound / Math.Sqrt(3) * 0.97, bound / Math.Sqrt(3) * 1.03); // U(−a, a) has std a/√3
        Assert.All(layer.Bias!.ToArray(), v => Assert.InRange(v, -bound, bound));
    }

    [Fact]
    public void Layers_seeded_one_after_another_share_no_random_numbers()
    {
        // Seeds 1 and 2 for consecutive layers is the natural way to write a model; the bias of the first layer
        // must not reappear (scaled) as a row of the second layer's weight.
        using var first = new Linear(Dev, 784, 256, seed: 1);
        using var second = new Linear(Dev, 256, 10, seed: 2);
        var bias = first.Bias!.ToArray().Select(v => (double)v).ToArray();
        var row = second.Weight.ToArray().Take(256).Select(v => (double)v).ToArray();
        Assert.InRange(Correlation(bias, row), -0.25, 0.25);
        using var again = new Linear(Dev, 784, 256, seed: 1);
        Assert.Equal(bias.Select(v => (float)v), again.Bias!.ToArray());
    }

    private static double Correlation(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average();
        double ab = a.Zip(b, (x, y) => (x - ma) * (y - mb)).Sum();
        return ab / Math.Sqrt(a.Sum(x => (x - ma) * (x - ma)) * b.Sum(y => (y - mb) * (y - mb)));
    }

    [Fact]
    public void Bad_linear_shapes_are_named()
    {
        using var layer = new Linear(Dev, 4, 3);
        using var scope = new DisposeScope();
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Ones(Dev, new[] { 2, 5 })));
        Assert.Contains("[2, 5]", e.Message);
        Assert.Contains("[3, 4]", e.Message);
    }

    [Fact]
    public void Dropout_zeroes_about_p_scales_the_rest_and_is_identity_in_eval()
    {
        var dropout = new Dropout(0.3f, seed: 5);
        using var scope = new DisposeScope();
        var x = Tensor.Ones(Dev, new[] { 100, 100 }, requiresGrad: true);
        var y = dropout.Forward(x);
        var values = y.ToArray();
        double zeros = values.Count(v => v == 0f) / (double)values.Length;
        Assert.InRange(zeros, 0.28, 0.32);
        Assert.All(values.Where(v => v != 0f), v => Assert.Equal(1f / 0.7f, v, 5));
        y.Sum().Backward();
        Assert.Equal(values, x.Grad!.ToArray()); // the gradient passes exactly where the value did
        var again = dropout.Forward(x).ToArray();
        Assert.NotEqual(values, again); // a new mask each call
        dropout.Eval();
        Assert.Same(x, dropout.Forward(x));
        Assert.Equal(values, new Dropout(0.3f, seed: 5).Forward(x).ToArray()); // same seed, same first mask
    }

    [Fact]
    public void Initialisers_have_the_stated_spread()
    {
        using var scope = new DisposeScope();
        var w = Tensor.Zeros(Dev, new[] { 200, 300 });
        double Std(Tensor t) => Math.Sqrt(t.ToArray().Average(v => (double)v * v));
        Assert.InRange(Std(Init.XavierUniform(w, seed: 1)), 0.97 * Math.Sqrt(2.0 / 500), 1.03 * Math.Sqrt(2.0 / 500));
        Assert.InRange(Std(Init.XavierNormal(w, seed: 2)), 0.97 * Math.Sqrt(2.0 / 500), 1.03 * Math.Sqrt(2.0 / 500));
        Assert.InRange(Std(Init.KaimingUniform(w, seed: 3)), 0.97 * Math.Sqrt(2.0 / 300), 1.03 * Math.Sqrt(2.0 / 300));
        Assert.InRange(Std(Init.KaimingNormal(w, seed: 4)), 0.97 * Math.Sqrt(2.0 / 300), 1.03 * Math.Sqrt(2.0 / 300));
        Assert.All(Init.Uniform(w, -2f, -1f, seed: 5).ToArray(), v => Assert.InRange(v, -2f, -1f));
        Assert.All(Init.Constant(w, 0.25f).ToArray(), v => Assert.Equal(0.25f, v));
        Assert.Contains("rank", Assert.Throws<ArgumentException>(() => Init.XavierUniform(Tensor.Zeros(Dev, new[] { 3 }))).Message);
    }

    [Fact]
    public void An_mlp_module_trains_with_an_optimizer()
    {
        using var model = new Sequential(new Linear(Dev, 2, 16, seed: 1), new Tanh(), new Linear(Dev, 16, 2, seed: 2));
        using var adam = new Engine.Optim.Adam(model.Parameters(), lr: 0.05f);
        using var x = Tensor.FromArray(Dev, new float[] { 0, 0, 0, 1, 1, 0, 1, 1 }, new[] { 4, 2 });
        var labels = new[] { 0, 1, 1, 0 };
        float loss = float.NaN;
        for (int step = 0; step < 150; step++)
        {
            using var scope = new DisposeScope();
            var l = Loss.CrossEntropy(model.Forward(x), labels);
            l.Backward();
            adam.Step();
            adam.ZeroGrad();
            if (step == 149) loss = l.Item();
        }
        Assert.True(loss < 0.05f, $"XOR loss {loss}");
    }

    [Fact]
    public void Embedding_padding_row_starts_at_zero_and_gets_no_gradient()
    {
        using var scope = new DisposeScope();
        using var embedding = new Embedding(Dev, 5, 3, seed: 1, paddingIdx: -1); // row 4, as torch's padding_idx=-1
        Assert.Equal(4, embedding.PaddingIdx);
        Assert.All(embedding.Weight.ToArray().Skip(12), v => Assert.Equal(0f, v));
        var tokens = Tensor.FromArray(Dev, new long[] { 1, 4, 1, 4, 2 }, new[] { 5 });
        var output = embedding.Forward(tokens);
        (output * Tensor.RandN(Dev, new[] { 5, 3 }, seed: 2)).Sum().Backward();
        var grad = embedding.Weight.Grad!.ToArray();
        Assert.All(grad.Skip(12), g => Assert.Equal(0f, g));            // the padding row: none
        Assert.Contains(grad.Skip(3).Take(3), g => g != 0f);             // row 1 (used twice): some
        Assert.All(grad.Take(3), g => Assert.Equal(0f, g));              // row 0 (unused): none
        Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(Dev, 5, 3, paddingIdx: 5));
    }
}
