using System.Text.Json;
using FsCheck.Xunit;
using Engine.Nn;
using Engine.Serialization;

namespace Engine.Tests.Nn;

/// <summary>
/// BatchNorm1d and LayerNorm on the SIMD backend and on the ILGPU kernels: outputs, input and parameter gradients,
/// running statistics and num_batches_tracked equal PyTorch 1.13's (Golden/norms.json from make_norm_golden.py),
/// gradients match finite differences of a double reference, and state dicts load both ways.
/// </summary>
public class NormalizationTests
{
    private static readonly JsonDocument Golden =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "norms.json")));

    private static JsonElement Case(string name) =>
        Golden.RootElement.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    public static IEnumerable<object[]> Cases() =>
        from backend in new[] { "simd", "ilgpu" }
        from c in Golden.RootElement.GetProperty("cases").EnumerateArray()
        select new object[] { backend, c.GetProperty("name").GetString()! };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Outputs_gradients_and_running_statistics_equal_pytorchs(string backend, string name)
    {
        var dev = backend == "simd" ? TestDevice.Simd : TestDevice.Ilgpu;
        var c = Case(name);
        var shape = Ints(c.GetProperty("shape"));
        bool affine = c.GetProperty("affine").GetBoolean();
        using var module = Build(dev, c, shape);
        if (affine)
        {
            var (w, b) = Affine(module);
            w.CopyFrom(Floats(c.GetProperty("weight")));
            b.CopyFrom(Floats(c.GetProperty("bias")));
        }
        int index = 0;
        foreach (var step in c.GetProperty("steps").EnumerateArray())
        {
            string at = $"{name} step {index++} ({step.GetProperty("mode").GetString()})";
            module.Train(step.GetProperty("mode").GetString() == "train");
            foreach (var p in module.Parameters()) p.Grad = null;
            using var scope = new DisposeScope();
            var x = Tensor.FromArray(dev, Floats(step.GetProperty("x")), shape, requiresGrad: true);
            var y = module.Forward(x);
            Expect.Close(Floats(step.GetProperty("y")), y.ToArray(), 2e-5, 1e-4, $"{at}: y");
            (y * Tensor.FromArray(dev, Floats(step.GetProperty("dy")), shape)).Sum().Backward();
            Expect.Close(Floats(step.GetProperty("dx")), x.Grad!.ToArray(), 2e-5, 1e-4, $"{at}: dx");
            if (affine)
            {
                var (w, b) = Affine(module);
                Expect.Close(Floats(step.GetProperty("dweight")), w.Grad!.ToArray(), 2e-5, 1e-4, $"{at}: dweight");
                Expect.Close(Floats(step.GetProperty("dbias")), b.Grad!.ToArray(), 2e-5, 1e-4, $"{at}: dbias");
            }
            if (module is BatchNorm1d { RunningMean: not null } bn)
            {
                Expect.Close(Floats(step.GetProperty("running_mean")), bn.RunningMean.ToArray(), 1e-5, 1e-5, $"{at}: running_mean");
                Expect.Close(Floats(step.GetProperty("running_var")), bn.RunningVar!.ToArray(), 1e-5, 1e-5, $"{at}: running_var");
                Assert.Equal(step.GetProperty("num_batches_tracked").GetInt64(), bn.NumBatchesTracked);
            }
        }
    }

    private static Module Build(Device dev, JsonElement c, int[] shape)
    {
        bool affine = c.GetProperty("affine").GetBoolean();
        if (c.GetProperty("kind").GetString() == "layer_norm")
            return new LayerNorm(dev, Ints(c.GetProperty("normalized")), elementwiseAffine: affine);
        var momentum = c.GetProperty("momentum");
        return new BatchNorm1d(dev, shape[1], momentum: momentum.ValueKind == JsonValueKind.Null ? null : momentum.GetSingle(),
            affine: affine, trackRunningStats: c.GetProperty("track").GetBoolean());
    }

    private static (Tensor Weight, Tensor Bias) Affine(Module m) => m switch
    {
        BatchNorm1d bn => (bn.Weight!, bn.Bias!),
        LayerNorm ln => (ln.Weight!, ln.Bias!),
        _ => throw new ArgumentException(m.GetType().Name),
    };

    /// <summary>Batch norm in double: per channel of [N, C, L], (x − μ)/√(σ² + ε)·γ + β with the biased variance.</summary>
    private static double[] BatchNormReference(double[] x, double[] gamma, double[] beta, int n, int c, int l)
    {
        var y = new double[x.Length];
        for (int ch = 0; ch < c; ch++)
        {
            var idx = Enumerable.Range(0, n * l).Select(j => (j / l * c + ch) * l + j % l).ToArray();
            double mean = idx.Average(i => x[i]), variance = idx.Average(i => (x[i] - mean) * (x[i] - mean));
            foreach (int i in idx) y[i] = (x[i] - mean) / Math.Sqrt(variance + 1e-5) * gamma[ch] + beta[ch];
        }
        return y;
    }

    /// <summary>Layer norm in double over rows of length d, γ and β per column.</summary>
    private static double[] LayerNormReference(double[] x, double[] gamma, double[] beta, int d)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / d; r++)
        {
            var row = x.Skip(r * d).Take(d).ToArray();
            double mean = row.Average(), variance = row.Average(v => (v - mean) * (v - mean));
            for (int j = 0; j < d; j++) y[r * d + j] = (row[j] - mean) / Math.Sqrt(variance + 1e-5) * gamma[j] + beta[j];
        }
        return y;
    }

    [Theory]
    [InlineData(5, 4, 1)]
    [InlineData(3, 2, 4)]
    [InlineData(4, 19, 1)]
    public void Batch_norm_gradients_match_finite_differences(int n, int c, int l)
    {
        var shape = l == 1 ? new[] { n, c } : new[] { n, c, l };
        var x = Reference.RandomValues(1, n * c * l, -2, 3);
        var gamma = Reference.RandomValues(2, c, 0.5f, 1.5f);
        var beta = Reference.RandomValues(3, c, -1, 1);
        GradCheck.Run(t => Tensor.BatchNorm(t[0], null, null, t[1], t[2], training: true),
            r => BatchNormReference(r[0], r[1], r[2], n, c, l), new[] { x, gamma, beta },
            new[] { shape, new[] { c }, new[] { c } });
    }

    [Theory]
    [InlineData(3, 6)]
    [InlineData(2, 21)]
    public void Layer_norm_gradients_match_finite_differences(int rows, int d)
    {
        var x = Reference.RandomValues(4, rows * d, -2, 3);
        var gamma = Reference.RandomValues(5, d, 0.5f, 1.5f);
        var beta = Reference.RandomValues(6, d, -1, 1);
        GradCheck.Run(t => Tensor.LayerNorm(t[0], new[] { d }, t[1], t[2]),
            r => LayerNormReference(r[0], r[1], r[2], d), new[] { x, gamma, beta },
            new[] { new[] { rows, d }, new[] { d }, new[] { d } });
    }

    /// <summary>
    /// Any shape, both backends: y equals the double reference, and the input gradient of a normalization without
    /// affine is orthogonal to what normalizing removes: per group, Σ dx = 0 and Σ dx·x̂ = s·(Σ dy·x̂)·ε/(σ² + ε) (0 but
    /// for ε).
    /// </summary>
    [Property(MaxTest = 40)]
    public void Any_shape_matches_the_reference_and_the_gradient_removes_mean_and_scale(int a, int b, int d, int seed, bool layer)
    {
        int n = 2 + Math.Abs(a % 30), c = 1 + Math.Abs(b % 40), l = 1 + Math.Abs(d % 4);
        var shape = l == 1 ? new[] { n, c } : new[] { n, c, l };
        var x = Reference.RandomValues(seed, n * c * l, -3, 5);
        var dy = Reference.RandomValues(seed + 1, n * c * l);
        int groups = layer ? n : c, per = layer ? c * l : n * l;
        int Index(int g, int j) => layer ? g * per + j : (j / l * c + g) * l + j % l;
        var ones = Enumerable.Repeat(1.0, layer ? c * l : c).ToArray();
        var zeros = new double[ones.Length];
        var expected = layer
            ? LayerNormReference(Reference.ToDouble(x), ones, zeros, c * l)
            : BatchNormReference(Reference.ToDouble(x), ones, zeros, n, c, l);
        foreach (var dev in new[] { TestDevice.Simd, TestDevice.Ilgpu })
        {
            using var scope = new DisposeScope();
            var t = Tensor.FromArray(dev, x, shape, requiresGrad: true);
            var y = layer ? Tensor.LayerNorm(t, shape[1..]) : Tensor.BatchNorm(t, null, null, training: true);
            Expect.Close(expected, y.ToArray(), 1e-4, 1e-4, $"{dev.Kind}: y");
            (y * Tensor.FromArray(dev, dy, shape)).Sum().Backward();
            var dx = t.Grad!.ToArray();
            for (int g = 0; g < groups; g++)
            {
                double sum = 0, dot = 0, scale = 0, dyDotXhat = 0, mean = 0, variance = 0;
                for (int j = 0; j < per; j++) mean += x[Index(g, j)] / (double)per;
                for (int j = 0; j < per; j++) variance += Math.Pow(x[Index(g, j)] - mean, 2) / per;
                for (int j = 0; j < per; j++)
                {
                    sum += dx[Index(g, j)];
                    dot += dx[Index(g, j)] * expected[Index(g, j)];
                    dyDotXhat += dy[Index(g, j)] * expected[Index(g, j)];
                    scale += Math.Abs(dy[Index(g, j)]);
                }
                // Σ dx·x̂ = s·(Σ dy·x̂)·ε/(σ² + ε) exactly: not quite 0, since ε keeps Σ x̂² just under M.
                double expectedDot = dyDotXhat / Math.Sqrt(variance + 1e-5) * 1e-5 / (variance + 1e-5);
                double inverse = 1 / Math.Sqrt(variance + 1e-5);
                Assert.True(Math.Abs(sum) < 1e-3 * scale * Math.Max(1, inverse / 10) && Math.Abs(dot - expectedDot) < 1e-3 * scale * Math.Max(1, inverse / 10),
                    $"{dev.Kind} group {g}: Σdx {sum}, Σdx·x̂ {dot} (expected {expectedDot}), σ² {variance}");
            }
        }
    }

    [Fact]
    public void Batch_of_one_in_training_gets_pytorchs_error_and_works_in_eval()
    {
        var dev = TestDevice.Instance;
        using var bn = new BatchNorm1d(dev, 3);
        using var scope = new DisposeScope();
        var one = Tensor.FromArray(dev, new[] { 1f, 2f, 3f }, new[] { 1, 3 });
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(one));
        Assert.Contains("expected more than 1 value per channel when training, got input size [1, 3]", e.Message);
        Assert.Equal(0, bn.NumBatchesTracked);
        Assert.Contains("expected more than 1 value per channel", Assert.Throws<ArgumentException>(() =>
            Tensor.BatchNorm(one, null, null, training: true)).Message);
        bn.Eval();
        var y = bn.Forward(one).ToArray();
        Expect.Close(new[] { 1f, 2f, 3f }.Select(v => v / MathF.Sqrt(1 + 1e-5f)).ToArray(), y, 1e-6, 1e-6, "eval, batch 1");
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Bad_shapes_are_named()
    {
        var dev = TestDevice.Instance;
        using var bn = new BatchNorm1d(dev, 4);
        using var ln = new LayerNorm(dev, 5);
        using var scope = new DisposeScope();
        var x = Tensor.Zeros(dev, new[] { 2, 3 });
        Assert.Contains("BatchNorm1d(4): expected input [N, 4] or [N, 4, L], got [2, 3]",
            Assert.Throws<ArgumentException>(() => bn.Forward(x)).Message);
        Assert.Contains("normalized_shape [5] is not the trailing dimensions of input of shape [2, 3]",
            Assert.Throws<ArgumentException>(() => ln.Forward(x)).Message);
        Assert.Contains("num_features must be ≥ 1", Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm1d(dev, 0)).Message);
    }

    private static Sequential BnMlp(Device dev) =>
        new(new Linear(dev, 4, 6, seed: 1), new BatchNorm1d(dev, 6), new Relu(), new Linear(dev, 6, 3, seed: 2));

    [Fact]
    public void PyTorch_state_dict_loads_predicts_as_pytorch_and_saves_back_byte_for_byte()
    {
        var dev = TestDevice.Instance;
        using var model = BnMlp(dev);
        string fixture = Serialization.SafeTensorsTests.Fixture("bn_mlp.safetensors");
        model.Load(fixture);
        Assert.True(((BatchNorm1d)model[1]).NumBatchesTracked == 3);
        Assert.Equal(new[] { "0.bias", "0.weight", "1.bias", "1.num_batches_tracked", "1.running_mean", "1.running_var",
            "1.weight", "3.bias", "3.weight" }, model.StateDict().Keys.Order(StringComparer.Ordinal));
        using var expected = JsonDocument.Parse(File.ReadAllText(Serialization.SafeTensorsTests.Fixture("bn_mlp_expected.json")));
        model.Eval();
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(dev, Floats(expected.RootElement.GetProperty("input")), new[] { 5, 4 });
        Expect.Close(Floats(expected.RootElement.GetProperty("outputs")), model.Forward(x).ToArray(), 1e-5, 1e-5,
            "eval outputs");
        // Written back, the file is the one PyTorch wrote (int64 counter first, as the reference writer orders it),
        // so torch.nn.Module.load_state_dict takes it (make_norm_golden.py --check FILE loads one into torch).
        Assert.Equal(File.ReadAllBytes(fixture), SafeTensors.Serialize(model.StateDict()));
    }

    [Fact]
    public void Running_statistics_survive_save_and_load()
    {
        var dev = TestDevice.Instance;
        using var model = BnMlp(dev);
        using (var scope = new DisposeScope())
            for (int i = 0; i < 4; i++) model.Forward(Tensor.RandN(dev, new[] { 8, 4 }, seed: 10 + i, mean: 2f));
        string path = Path.Combine(Path.GetTempPath(), $"engine-bn-{Guid.NewGuid():N}.safetensors");
        try
        {
            model.Save(path);
            using var copy = BnMlp(dev);
            copy.Load(path);
            var bn = (BatchNorm1d)copy[1];
            Assert.Equal(4, bn.NumBatchesTracked);
            Assert.Equal(((BatchNorm1d)model[1]).RunningMean!.ToArray(), bn.RunningMean!.ToArray());
            Assert.Equal(((BatchNorm1d)model[1]).RunningVar!.ToArray(), bn.RunningVar!.ToArray());
            Assert.Equal(SafeTensorsDType.I64, SafeTensors.Load(path).Tensors["1.num_batches_tracked"].DType);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
