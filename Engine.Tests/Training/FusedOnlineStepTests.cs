using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests.Training;

/// <summary>
/// The fused per-sample dense step (<see cref="OnlineTrainer.FusedSteps"/>) against the general path, on the SIMD
/// backend and on the ILGPU kernels: the same weights (up to the order of float additions), the same progressive metrics,
/// the same predictions before learning, divergence still caught before the step; and it steps aside for models,
/// optimizers and samples it does not cover.
/// </summary>
public class FusedOnlineStepTests
{
    private static List<Sample> Stream(int count, int features, int classes, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var x = Enumerable.Range(0, features).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            return new Sample(x, (x[0] + x[1] > 0 ? 1 : 0) + (x[2] > 0.3 ? 2 : 0) % classes);
        }).ToList();
    }

    private static Sequential Mlp(Device dev) =>
        new(new Linear(dev, 12, 16, seed: 1), new Relu(), new Linear(dev, 16, 8, seed: 2), new Linear(dev, 8, 4, seed: 3));

    [Theory]
    [InlineData("simd", 12)]
    [InlineData("ilgpu", 12)]
    [InlineData("simd", 300)] // 300 inputs: the SIMD kernels' vector body and scalar tail, and their skipped zero rows
    public void Fused_and_general_steps_learn_the_same_model(string backend, int features)
    {
        var dev = backend == "simd" ? TestDevice.Simd : TestDevice.Ilgpu;
        var stream = Stream(60, features, 4, 3);
        (float[] Weights, double Accuracy, double Loss, float[] Output) Run(bool fused)
        {
            using var model = features == 12 ? Mlp(dev)
                : new Sequential(new Linear(dev, features, 256, seed: 1), new Relu(), new Linear(dev, 256, 4, seed: 2));
            using var sgd = new Sgd(model.Parameters(), lr: 0.05f);
            using var online = new OnlineTrainer(model, sgd) { FusedSteps = fused };
            var output = new float[4];
            foreach (var s in stream) online.Learn(s, output);
            Assert.Equal(60, sgd.StepCount);
            return (model.Parameters().SelectMany(p => p.ToArray()).ToArray(), online.ProgressiveAccuracy, online.MeanLoss, output);
        }
        var general = Run(fused: false);
        var fused = Run(fused: true);
        Expect.Close(general.Weights, fused.Weights, 1e-5, 1e-4, "weights after 60 samples");
        Assert.Equal(general.Accuracy, fused.Accuracy);
        Assert.Equal(general.Loss, fused.Loss, 4);
        Expect.Close(general.Output, fused.Output, 1e-5, 1e-4, "the last prediction before learning");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_diverging_sample_throws_before_the_step_touches_the_model(bool fused)
    {
        var dev = TestDevice.Instance;
        using var model = Serialization.RobustnessTests.Overflowing(dev, inputs: 1); // weights ±2: logits ±∞ for a huge input
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var online = new OnlineTrainer(model, sgd) { FusedSteps = fused };
        online.Learn(new Sample(new[] { 1f }, 0));
        var before = model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        var e = Assert.Throws<TrainingDivergedException>(() => online.Learn(new Sample(new[] { float.MaxValue }, 1)));
        Assert.Contains("loss NaN at sample 1", e.Message);
        Assert.Equal(before, model.Parameters().SelectMany(p => p.ToArray()).ToArray());
    }

    [Fact]
    public void A_learning_rate_changed_between_steps_is_the_one_the_fused_step_uses()
    {
        var dev = TestDevice.Instance;
        var stream = Stream(20, 12, 4, 9);
        float[] Run(bool fused)
        {
            using var model = Mlp(dev);
            using var sgd = new Sgd(model.Parameters(), lr: 0.05f);
            using var online = new OnlineTrainer(model, sgd) { FusedSteps = fused };
            for (int i = 0; i < stream.Count; i++)
            {
                if (i == 10) sgd.ParamGroups[0].Lr = 0.2f; // as a schedule or a drift reaction would
                online.Learn(stream[i]);
            }
            return model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        }
        Expect.Close(Run(fused: false), Run(fused: true), 1e-5, 1e-4, "weights after an lr change");
    }

    [Fact]
    public void Other_models_optimizers_and_regression_samples_take_the_general_path()
    {
        var dev = TestDevice.Instance;
        using var tanh = new Sequential(new Linear(dev, 3, 4, seed: 1), new Tanh(), new Linear(dev, 4, 2, seed: 2));
        using var momentum = new Sgd(tanh.Parameters(), lr: 0.1f, momentum: 0.9f);
        foreach (var (model, optimizer) in new (Module, Optimizer)[] { (tanh, momentum) })
        {
            using var online = new OnlineTrainer(model, optimizer) { FusedSteps = true };
            online.Learn(new Sample(new[] { 1f, 2f, 3f }, 1));
            Assert.Equal(1, online.Samples);
        }
        using var regression = new Sequential(new Linear(dev, 3, 2, seed: 1));
        using var sgd = new Sgd(regression.Parameters(), lr: 0.1f);
        using var learner = new OnlineTrainer(regression, sgd) { FusedSteps = true };
        learner.Learn(new Sample(new[] { 1f, 2f, 3f }, Target: new[] { 0.5f, 1f }));
        Assert.Equal(1, learner.Samples);
    }
}
