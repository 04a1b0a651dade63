using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests.Serialization;

public class RobustnessTests
{
    private static Device Dev => TestDevice.Instance;

    [Fact]
    public void Anomaly_mode_names_the_op_whose_output_is_not_finite()
    {
        using var x = Tensor.FromArray(Dev, new[] { 1f, -2f, 3f }, new[] { 3 }, requiresGrad: true);
        using (Autograd.DetectAnomaly())
        {
            var e = Assert.Throws<ArithmeticException>(() => x.Log());
            Assert.Contains("forward of 'log'", e.Message);
            Assert.Contains("element [1] = NaN", e.Message);
        }
        using var quiet = x.Log(); // outside the scope: no check, NaN propagates as in PyTorch
        Assert.True(float.IsNaN(quiet.ToArray()[1]));
    }

    [Fact]
    public void Anomaly_mode_names_the_backward_that_made_a_gradient_infinite()
    {
        // sqrt is finite at 0 but its derivative 1/(2√x) is not: the forward passes, the backward is caught.
        using var x = Tensor.FromArray(Dev, new[] { 4f, 0f }, new[] { 2 }, requiresGrad: true);
        using (Autograd.DetectAnomaly())
        {
            using var y = x.Sqrt().Sum();
            var e = Assert.Throws<ArithmeticException>(() => y.Backward());
            Assert.Contains("backward of 'sqrt'", e.Message);
            Assert.Contains("input 0 (shape [2])", e.Message);
            Assert.Contains("element [1] = Infinity", e.Message);
        }
    }

    /// <summary>A 2 → 2 layer with weights ±2, so that a row of ±float.MaxValue overflows to ±∞ logits.</summary>
    internal static Sequential Overflowing(Device dev, int inputs = 2)
    {
        var layer = new Linear(dev, inputs, 2, seed: 1);
        layer.Weight.CopyFrom(Enumerable.Range(0, 2 * inputs).Select(i => i < inputs ? 2f : -2f).ToArray());
        return new Sequential(layer);
    }

    private static Dataset WithPoisonedRows(out int poisoned)
    {
        var rng = new Random(4);
        int n = 48;
        var x = new float[n * 2];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            x[2 * i] = (float)(rng.NextDouble() * 2 - 1);
            x[2 * i + 1] = (float)(rng.NextDouble() * 2 - 1);
            y[i] = x[2 * i] > x[2 * i + 1] ? 1 : 0;
        }
        // Rows 5 and 30 are finite (datasets reject NaN and ±∞) but overflow a layer whose weights are large (see
        // Overflowing): their logits become ±∞ and their batch's loss and gradients NaN.
        x[2 * 5] = x[2 * 5 + 1] = float.MaxValue;
        x[2 * 30] = x[2 * 30 + 1] = -float.MaxValue;
        poisoned = 2;
        return Dataset.WithLabels(x, 2, y);
    }

    [Fact]
    public void Trainer_skips_non_finite_steps_when_asked_and_stops_naming_the_step_otherwise()
    {
        var data = WithPoisonedRows(out int poisoned);
        using (var model = Overflowing(Dev))
        using (var sgd = new Sgd(model.Parameters(), lr: 0.1f))
        {
            var e = Assert.Throws<TrainingDivergedException>(() => Trainer.Fit(model, Trainer.CrossEntropy, sgd, data,
                new TrainerOptions { Epochs = 1, BatchSize = 8, Shuffle = false }));
            Assert.Contains("the loss is NaN at epoch 1, step 1", e.Message);
        }
        using (var model = Overflowing(Dev))
        using (var sgd = new Sgd(model.Parameters(), lr: 0.1f))
        {
            var history = Trainer.Fit(model, Trainer.CrossEntropy, sgd, data,
                new TrainerOptions { Epochs = 3, BatchSize = 8, Seed = 2, SkipNonFiniteSteps = true });
            Assert.Equal(3 * poisoned, history.SkippedSteps); // each poisoned row spoils one batch per epoch
            Assert.All(model.Parameters().SelectMany(p => p.ToArray()), v => Assert.True(float.IsFinite(v)));
            Assert.All(history.Epochs, r => Assert.True(double.IsFinite(r.TrainLoss)));
            Assert.Equal(6 * 3 - 3 * poisoned, sgd.StepCount);
        }
    }

    [Fact]
    public void Optimizer_reports_non_finite_gradients()
    {
        using var w = Tensor.FromArray(Dev, new[] { 1f, 2f }, new[] { 2 }, requiresGrad: true);
        using var sgd = new Sgd(new[] { w }, lr: 0.1f);
        using (var loss = (w * 3f).Sum()) loss.Backward();
        Assert.True(sgd.GradientsAreFinite());
        sgd.ZeroGrad();
        using (var loss = (w * float.PositiveInfinity).Sum()) loss.Backward();
        Assert.False(sgd.GradientsAreFinite());
    }

    [Fact]
    public void Online_trainer_skips_non_finite_samples_when_asked()
    {
        var samples = Enumerable.Range(0, 40).Select(i =>
        {
            float a = (i * 37 % 17) / 8f - 1, b = (i * 11 % 13) / 6f - 1;
            if (i is 7 or 23) a = b = float.MaxValue; // finite, but overflows the layer below to ±∞ logits
            return new Sample(new[] { a, b }, a > b ? 1 : 0);
        }).ToList();
        using var model = Overflowing(Dev);
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var online = new OnlineTrainer(model, sgd) { SkipNonFiniteSteps = true };
        online.Run(samples);
        Assert.Equal(2, online.SkippedSteps);
        Assert.Equal(38, online.Samples);
        Assert.True(double.IsFinite(online.MeanLoss));
        Assert.All(model.Parameters().SelectMany(p => p.ToArray()), v => Assert.True(float.IsFinite(v)));

        online.SkipNonFiniteSteps = false;
        var e = Assert.Throws<TrainingDivergedException>(() => online.Learn(samples[7]));
        Assert.Contains("loss NaN at sample 40", e.Message); // its position in the stream: 40 samples came before it
    }

    [Fact]
    public void Out_of_memory_names_the_request_and_the_free_memory_after_releasing_the_cache()
    {
        using var dev = Device.Create(Dev.Kind);
        dev.MemoryLimit = 1_000_000;
        // 600 KB idle in the cache: the next, different-sized request only fits once the cache is released.
        Tensor.Zeros(dev, new[] { 150_000 }).Dispose();
        Assert.Equal(1, dev.Memory.LiveBuffers);
        using (var fits = Tensor.Zeros(dev, new[] { 200_000 })) Assert.Equal(1, dev.Memory.LiveBuffers);

        var e = Assert.Throws<OutOfMemoryException>(() => Tensor.Zeros(dev, new[] { 1000, 1000 }));
        Assert.Contains("could not allocate 4,000,000 bytes (1,000,000 × Single)", e.Message);
        Assert.Contains("free", e.Message);
        Assert.Contains("memory limit is 1,000,000 bytes", e.Message);
        // The device is still usable afterwards.
        using var small = Tensor.Ones(dev, new[] { 4 });
        Assert.Equal(new[] { 1f, 1, 1, 1 }, small.ToArray());
    }

    [Fact]
    public void Device_memory_stays_flat_over_20000_online_steps()
    {
        using var dev = Device.Create(Dev.Kind); // its own pool: no other test's late finalizers
        using var model = new Sequential(new Linear(dev, 4, 8, seed: 1), new Relu(), new Linear(dev, 8, 3, seed: 2));
        using var sgd = new Sgd(model.Parameters(), lr: 0.05f, momentum: 0.9f);
        using var online = new OnlineTrainer(model, sgd, new Engine.Drift.PageHinkley());
        var rng = new Random(1);
        IEnumerable<Sample> Stream()
        {
            while (true)
            {
                var x = Enumerable.Range(0, 4).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                yield return new Sample(x, x[0] + x[1] > 0 ? (x[2] > 0 ? 2 : 1) : 0);
            }
        }
        online.Run(Stream(), 500);
        var warm = dev.Memory;
        online.Run(Stream(), 20_000);
        var after = dev.Memory;
        Assert.Equal(20_000, online.Samples);
        Assert.Equal(warm.DeviceAllocations, after.DeviceAllocations);
        Assert.Equal(warm.LiveBuffers, after.LiveBuffers);
        Assert.Equal(warm.ReservedBytes, after.ReservedBytes);
        Assert.Equal(warm.RentedBuffers, after.RentedBuffers);
        Assert.True(online.ProgressiveAccuracy > 0.7, $"progressive accuracy {online.ProgressiveAccuracy:P1}");
    }
}
