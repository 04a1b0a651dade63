using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Privacy;
using Engine.Training;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Engine.Tests.Privacy;

/// <summary>DP-SGD's step: clipping, noise, the expected-batch mean, and its equality with plain training without either.</summary>
public sealed class DpOptimizerTests
{
    private static Device Dev => TestDevice.Instance;

    private static Sequential Mlp() => new(new Linear(Dev, 4, 5, seed: 1), new Relu(), new Linear(Dev, 5, 3, seed: 2));

    private static (Tensor X, int[] Labels) Batch(int b, int seed)
    {
        var rng = new Random(seed);
        var x = Enumerable.Range(0, b * 4).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        return (Tensor.FromArray(Dev, x, new[] { b, 4 }), Enumerable.Range(0, b).Select(_ => rng.Next(3)).ToArray());
    }

    private static float[] Flat(Module m) => m.Parameters().SelectMany(p => p.ToArray()).ToArray();

    /// <summary>
    /// With σ = 0 and C = ∞, E = B: g̃ = Σᵢ gᵢ / B, the mean loss's gradient, so the run equals plain training (SGD with
    /// momentum and Adam, five steps of varying batches).
    /// </summary>
    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void WithoutNoiseAndClippingItEqualsPlainTraining(string name)
    {
        using var scope = new DisposeScope();
        using var plain = Mlp();
        using var priv = Mlp();
        Optimizer Make(Module m) => name == "sgd" ? new Sgd(m.Parameters(), lr: 0.1f, momentum: 0.9f) : new Adam(m.Parameters(), lr: 0.01f);
        using var plainOpt = Make(plain);
        using var privOpt = Make(priv);
        using var perSample = new PerSampleGradients(priv);
        var dp = new DpOptimizer(privOpt, perSample, noiseMultiplier: 0, maxGradNorm: double.PositiveInfinity,
            expectedBatchSize: 6, sampleRate: 0.1);
        for (int step = 0; step < 5; step++)
        {
            var (x, y) = Batch(6, step);
            Loss.CrossEntropy(plain.Forward(x), y).Backward();
            plainOpt.Step();
            plainOpt.ZeroGrad();
            Loss.CrossEntropy(priv.Forward(x), y).Backward();
            dp.Step();
            dp.ZeroGrad();
        }
        var a = Flat(plain);
        var b = Flat(priv);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 + 1e-5 * Math.Abs(a[i]), $"parameter {i}: {b[i]} vs {a[i]}");
        Assert.Equal(5, dp.Steps);
        Assert.True(double.IsPositiveInfinity(dp.GetEpsilon(1e-5)));
    }

    /// <summary>
    /// The written gradient is Σᵢ min(1, C/‖gᵢ‖)·gᵢ / E (checked against the materialized per-sample gradients), and each
    /// clipped term's norm is at most C: for random batches and clipping norms (FsCheck).
    /// </summary>
    [Property(MaxTest = 25)]
    public void ClippingBoundsEveryPerSampleNorm(PositiveInt seed, PositiveInt batch, NormalFloat logC)
    {
        int b = 1 + batch.Get % 7;
        double c = Math.Exp(Math.Clamp(logC.Get, -4, 2));
        using var scope = new DisposeScope();
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var perSample = new PerSampleGradients(model);
        var dp = new DpOptimizer(sgd, perSample, noiseMultiplier: 0, maxGradNorm: c, expectedBatchSize: 4, sampleRate: 0.5);
        var (x, y) = Batch(b, seed.Get);
        Loss.CrossEntropy(model.Forward(x), y).Backward();
        var parameters = model.Parameters().ToArray();
        var samples = parameters.Select(p => perSample.GradSample(p).ToArray()).ToArray();
        var norms = new double[b];
        for (int k = 0; k < parameters.Length; k++)
            for (int i = 0; i < b; i++)
                for (int j = 0; j < parameters[k].Numel; j++) norms[i] += Math.Pow(samples[k][i * parameters[k].Numel + j], 2);
        var factors = norms.Select(n => Math.Min(1, c / (Math.Sqrt(n) + 1e-6))).ToArray();
        for (int i = 0; i < b; i++) Assert.True(factors[i] * Math.Sqrt(norms[i]) <= c * (1 + 1e-6));
        dp.PreStep();
        for (int k = 0; k < parameters.Length; k++)
        {
            var grad = parameters[k].Grad!.ToArray();
            for (int j = 0; j < grad.Length; j++)
            {
                double expected = 0;
                for (int i = 0; i < b; i++) expected += factors[i] * samples[k][i * parameters[k].Numel + j];
                expected /= 4;
                Assert.True(Math.Abs(grad[j] - expected) <= 1e-5 + 1e-4 * Math.Abs(expected), $"parameter {k}[{j}]: {grad[j]} vs {expected}");
            }
        }
    }

    /// <summary>With no samples in the batch the gradient is the noise alone: mean 0, standard deviation σC/E.</summary>
    [Fact]
    public void AnEmptyBatchStepsOnNoiseOfStandardDeviationSigmaCOverE()
    {
        using var scope = new DisposeScope();
        using var model = new Sequential(new Linear(Dev, 40, 50, seed: 1));
        using var sgd = new Sgd(model.Parameters(), lr: 1f);
        using var perSample = new PerSampleGradients(model);
        var dp = new DpOptimizer(sgd, perSample, noiseMultiplier: 1.5, maxGradNorm: 2, expectedBatchSize: 10, sampleRate: 0.01, seed: 3);
        dp.PreStep();
        var g = model.Parameters().SelectMany(p => p.Grad!.ToArray()).ToArray();
        double mean = g.Average(v => (double)v), std = Math.Sqrt(g.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, -0.027, 0.027); // 2050 draws of sd 0.3: the mean's sd is 0.0066, so 4 of them
        Assert.InRange(std, 0.3 * 0.95, 0.3 * 1.05);
        var first = g.ToArray();
        dp.Step();
        dp.ZeroGrad();
        dp.PreStep();
        Assert.NotEqual(first, model.Parameters().SelectMany(p => p.Grad!.ToArray()).ToArray());
        Assert.Equal(1, dp.Steps);
        Assert.Single(dp.Accountant.History);
    }

    [Fact]
    public void TrainerFitTrainsPrivatelyAndAccountsEveryStep()
    {
        var rng = new Random(1);
        int n = 240;
        var x = new float[n * 4];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = i % 3;
            for (int j = 0; j < 4; j++) x[i * 4 + j] = (float)((j == y[i] ? 2 : 0) + rng.NextDouble() - 0.5);
        }
        var data = Dataset.WithLabels(x, 4, y);
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 0.5f);
        using var dp = DpSgd.MakePrivate(model, sgd, new DataLoader(Dev, data, 24), noiseMultiplier: 0.8, maxGradNorm: 1.0,
            delta: 1e-3, seed: 5);
        var history = Trainer.Fit(model, Trainer.CrossEntropy, sgd, data, new TrainerOptions { Epochs = 4, Privacy = dp });
        Assert.Equal(40, dp.Optimizer.Steps); // 4 epochs × 10 batches, empty ones included
        var reference = new RdpAccountant();
        reference.Step(0.8, 0.1, 40);
        Assert.Equal(reference.GetEpsilon(1e-3), dp.GetEpsilon(), 10);
        var (_, accuracy) = Trainer.Evaluate(model, Trainer.CrossEntropy, data, Dev);
        Assert.True(accuracy > 0.8, $"accuracy {accuracy}");
        Assert.NotEmpty(history.Epochs);
    }

    /// <summary>N = 20 at batch 1: q = 0.05, a third of the Poisson batches are empty; Fit steps on noise alone for them.</summary>
    [Fact]
    public void TrainerFitTakesEmptyPoissonBatches()
    {
        var data = Dataset.WithLabels(Enumerable.Range(0, 20 * 4).Select(i => (float)(i % 7) / 7).ToArray(), 4,
            Enumerable.Range(0, 20).Select(i => i % 3).ToArray());
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var dp = DpSgd.MakePrivate(model, sgd, new DataLoader(Dev, data, 1, seed: 2), noiseMultiplier: 1.0, maxGradNorm: 1.0, seed: 3);
        int empty = 0;
        foreach (var batch in dp.Loader.NextEpoch()) using (batch) if (batch.Count == 0) empty++;
        Assert.True(empty > 0, "the seed should give at least one empty batch");
        var before = Flat(model);
        Trainer.Fit(model, Trainer.CrossEntropy, sgd, data, new TrainerOptions { Epochs = 3, Privacy = dp });
        Assert.Equal(60, dp.Optimizer.Steps);
        Assert.NotEqual(before, Flat(model));
        Assert.True(Flat(model).All(float.IsFinite));
    }

    [Fact]
    public void MakePrivateWithATargetEpsilonFindsSigmaThatSpendsIt()
    {
        var data = Dataset.WithLabels(new float[400 * 4], 4, new int[400]);
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var dp = DpSgd.MakePrivate(model, sgd, new DataLoader(Dev, data, 20), targetEpsilon: 3, epochs: 5, maxGradNorm: 1,
            delta: 1e-4);
        var a = new RdpAccountant();
        a.Step(dp.NoiseMultiplier, 0.05, 5 * 20);
        Assert.InRange(a.GetEpsilon(1e-4), 2.99, 3.0);
        Assert.Equal(3, dp.TargetEpsilon);
    }

    /// <summary>
    /// The same for a small CNN with every supported layer type (Conv2d with its weight-gradient product skipped, LayerNorm,
    /// Linear over 3-D input, Embedding): σ = 0, C = ∞ equals plain SGD.
    /// </summary>
    [Fact]
    public void WithoutNoiseAndClippingACnnWithEverySupportedLayerEqualsPlainTraining()
    {
        using var scope = new DisposeScope();
        Module Cnn() => new Sequential(new Conv2d(Dev, 1, 3, 3, padding: 1, seed: 1), new Relu(), new Flatten(2),
            new LayerNorm(Dev, 16), new Linear(Dev, 16, 4, seed: 2), new Flatten(), new Linear(Dev, 12, 3, seed: 3));
        using var plain = Cnn();
        using var priv = Cnn();
        using var plainOpt = new Sgd(plain.Parameters(), lr: 0.1f, momentum: 0.5f);
        using var privOpt = new Sgd(priv.Parameters(), lr: 0.1f, momentum: 0.5f);
        using var perSample = new PerSampleGradients(priv);
        var dp = new DpOptimizer(privOpt, perSample, 0, double.PositiveInfinity, expectedBatchSize: 5, sampleRate: 0.5);
        var rng = new Random(4);
        for (int step = 0; step < 4; step++)
        {
            var x = Tensor.FromArray(Dev, Enumerable.Range(0, 5 * 16).Select(_ => (float)rng.NextDouble()).ToArray(), new[] { 5, 1, 4, 4 });
            var y = Enumerable.Range(0, 5).Select(_ => rng.Next(3)).ToArray();
            Loss.CrossEntropy(plain.Forward(x), y).Backward();
            plainOpt.Step();
            plainOpt.ZeroGrad();
            Loss.CrossEntropy(priv.Forward(x), y).Backward();
            dp.Step();
            dp.ZeroGrad();
        }
        var a = Flat(plain);
        var b = Flat(priv);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 + 1e-5 * Math.Abs(a[i]), $"parameter {i}: {b[i]} vs {a[i]}");
    }

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "sigma0", "σ" }, { "sigma-1", "-1" }, { "eps0", "ε" }, { "eps-2", "-2" }, { "delta0", "δ" }, { "delta1", "δ" },
        { "c0", "maxGradNorm" }, { "c-1", "-1" }, { "both", "not both" }, { "neither", "neither" }, { "noepochs", "epochs" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadSettingsAreRefusedNamingTheValue(string which, string named)
    {
        var data = Dataset.WithLabels(new float[40 * 4], 4, new int[40]);
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var loader = new DataLoader(Dev, data, 8);
        Action make = which switch
        {
            "sigma0" => () => DpSgd.MakePrivate(model, sgd, loader, noiseMultiplier: 0),
            "sigma-1" => () => DpSgd.MakePrivate(model, sgd, loader, noiseMultiplier: -1),
            "eps0" => () => DpSgd.MakePrivate(model, sgd, loader, targetEpsilon: 0, epochs: 1),
            "eps-2" => () => DpSgd.MakePrivate(model, sgd, loader, targetEpsilon: -2, epochs: 1),
            "delta0" => () => DpSgd.MakePrivate(model, sgd, loader, noiseMultiplier: 1, delta: 0),
            "delta1" => () => DpSgd.MakePrivate(model, sgd, loader, noiseMultiplier: 1, delta: 1),
            "c0" => () => DpSgd.MakePrivate(model, sgd, loader, noiseMultiplier: 1, maxGradNorm: 0),
            "c-1" => () => DpSgd.MakePrivate(model, sgd, loader, noiseMultiplier: 1, maxGradNorm: -1),
            "both" => () => DpSgd.MakePrivate(model, sgd, loader, noiseMultiplier: 1, targetEpsilon: 1, epochs: 1),
            "neither" => () => DpSgd.MakePrivate(model, sgd, loader),
            "noepochs" => () => DpSgd.MakePrivate(model, sgd, loader, targetEpsilon: 1),
            _ => throw new ArgumentException(which),
        };
        var e = Assert.ThrowsAny<ArgumentException>(make);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void MakePrivateRefusesAnUnsupportedLayerNamingIt()
    {
        var data = Dataset.WithLabels(new float[40 * 4], 4, new int[40]);
        using var model = new Sequential(new Linear(Dev, 4, 4, seed: 1), new GroupNorm(Dev, 2, 4), new Linear(Dev, 4, 3, seed: 2));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var e = Assert.Throws<NotSupportedException>(() => DpSgd.MakePrivate(model, sgd, new DataLoader(Dev, data, 8), noiseMultiplier: 1));
        Assert.Contains("GroupNorm", e.Message);
    }

    [Fact]
    public void FitRefusesToResumeAPrivateRunAndAnUnbatchedInputIsRefused()
    {
        var data = Dataset.WithLabels(new float[40 * 4], 4, new int[40]);
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var dp = DpSgd.MakePrivate(model, sgd, new DataLoader(Dev, data, 8), noiseMultiplier: 1);
        var e = Assert.Throws<NotSupportedException>(() => Trainer.Fit(model, Trainer.CrossEntropy, sgd, data,
            new TrainerOptions { Privacy = dp, Resume = true, CheckpointPath = Path.Combine(Path.GetTempPath(), "never.safetensors") }));
        Assert.Contains("Resume", e.Message);
        using var scope = new DisposeScope();
        var unbatched = model.Forward(Tensor.FromArray(Dev, new[] { 1f, 2, 3, 4 }, new[] { 4 }));
        var b = Assert.Throws<NotSupportedException>(() => unbatched.Sum().Backward());
        Assert.Contains("batch axis", b.Message);
    }
}
