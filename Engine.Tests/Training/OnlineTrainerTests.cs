using Engine.Drift;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests.Training;

public class OnlineTrainerTests
{
    private static Device Dev => TestDevice.Instance;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void Progressive_score_equals_a_hand_computed_predict_then_learn_run(int scoreEvery)
    {
        // Linear softmax model, 2 features → 2 classes, plain SGD lr 0.5, five samples.
        var samples = new[]
        {
            new Sample(new[] { 1f, 0f }, 0), new Sample(new[] { 0f, 1f }, 1), new Sample(new[] { 1f, 1f }, 1),
            new Sample(new[] { 2f, -1f }, 0), new Sample(new[] { -1f, 2f }, 1),
        };
        using var model = new Sequential(new Linear(Dev, 2, 2, seed: 9));
        var layer = (Linear)model[0];
        double[] w = Reference.ToDouble(layer.Weight.ToArray()), b = Reference.ToDouble(layer.Bias!.ToArray());
        using var sgd = new Sgd(model.Parameters(), lr: 0.5f);
        using var online = new OnlineTrainer(model, sgd) { ScoreEvery = scoreEvery };
        int hits = 0;
        double lossSum = 0;
        foreach (var s in samples)
        {
            var z = new double[2];
            for (int o = 0; o < 2; o++) z[o] = b[o] + w[o * 2] * s.Features[0] + w[o * 2 + 1] * s.Features[1];
            double max = z.Max(), lse = max + Math.Log(z.Sum(v => Math.Exp(v - max)));
            int label = s.Label!.Value;
            lossSum += lse - z[label];
            if ((z[1] > z[0] ? 1 : 0) == label) hits++;
            for (int o = 0; o < 2; o++)
            {
                double g = Math.Exp(z[o] - lse) - (o == label ? 1 : 0);
                b[o] -= 0.5 * g;
                w[o * 2] -= 0.5 * g * s.Features[0];
                w[o * 2 + 1] -= 0.5 * g * s.Features[1];
            }
            online.Learn(s);
        }
        Assert.Equal(5, online.Samples); // reading a metric brings in the scores still on the device (5 = 2·2 + 1)
        Assert.Equal(hits, online.CumulativeHits);
        Assert.Equal(lossSum / 5, online.MeanLoss, 5);
        Assert.Equal(hits / 5.0, online.ProgressiveAccuracy, 10);
        Expect.Close(w, layer.Weight.ToArray(), 1e-5, 1e-5, "weights after the stream");
    }

    [Fact]
    public void Online_training_learns_a_stream_and_keeps_device_memory_flat()
    {
        using var dev = Device.Create(Dev.Kind);
        using var model = new Sequential(new Linear(dev, 2, 8, seed: 1), new Tanh(), new Linear(dev, 8, 2, seed: 2));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var online = new OnlineTrainer(model, sgd, window: 200);
        var rng = new Random(4);
        IEnumerable<Sample> Stream()
        {
            while (true)
            {
                float x = (float)(rng.NextDouble() * 2 - 1), y = (float)(rng.NextDouble() * 2 - 1);
                yield return new Sample(new[] { x, y }, x + y > 0 ? 1 : 0);
            }
        }
        online.Run(Stream(), limit: 100);
        var before = dev.Memory;
        online.Run(Stream(), limit: 1500);
        var after = dev.Memory;
        Assert.Equal(1500, online.Samples);
        Assert.Equal(before.DeviceAllocations, after.DeviceAllocations);
        Assert.Equal(before.RentedBuffers, after.RentedBuffers);
        Assert.True(online.WindowAccuracy > 0.9, $"window accuracy {online.WindowAccuracy}");
        Assert.True(online.ProgressiveAccuracy > 0.8, $"progressive accuracy {online.ProgressiveAccuracy}");
        Assert.True(online.SamplesPerSecond > 0);
    }

    private static IEnumerable<double> Noisy(int seed, int count, double mean)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++) yield return mean + 0.1 * (rng.NextDouble() - 0.5);
    }

    public static TheoryData<string> Detectors() => new() { "Page-Hinkley", "ADWIN" };

    private static IDriftDetector Create(string name) =>
        name == "ADWIN" ? new Adwin() : new PageHinkley(threshold: 5);

    [Theory]
    [MemberData(nameof(Detectors))]
    public void Detectors_fire_soon_after_a_planted_change_and_not_on_a_stationary_stream(string name)
    {
        var stationary = Create(name);
        Assert.DoesNotContain(true, Noisy(1, 3000, 0.3).Select(stationary.Update).ToList());

        var detector = Create(name);
        var values = Noisy(2, 1000, 0.3).Concat(Noisy(3, 1000, 0.8)).ToList();
        var fired = values.Select((v, i) => (Fired: detector.Update(v), Index: i)).Where(t => t.Fired).Select(t => t.Index).ToList();
        Assert.NotEmpty(fired);
        Assert.InRange(fired[0], 1000, 1100);
    }

    [Fact]
    public void A_detected_drift_raises_the_event_and_applies_the_reaction()
    {
        using var model = new Sequential(new Linear(Dev, 1, 1, seed: 3));
        using var adam = new Adam(model.Parameters(), lr: 0.01f);
        using var online = new OnlineTrainer(model, adam, new PageHinkley(threshold: 2, minInstances: 10),
            DriftReaction.RaiseLearningRate, lrBoost: 3f);
        var events = new List<DriftEvent>();
        online.DriftDetected += events.Add;
        for (int i = 0; i < 60; i++) online.Learn(new Sample(new[] { 1f }, Target: new[] { 0.5f }));
        for (int i = 0; i < 60 && events.Count == 0; i++) online.Learn(new Sample(new[] { 1f }, Target: new[] { 30f }));
        Assert.NotEmpty(events);
        Assert.Equal("Page-Hinkley", events[0].Detector);
        Assert.Equal(events, online.Drifts);
        Assert.Equal(0.03f, adam.Lr, 6);

        using var model2 = new Sequential(new Linear(Dev, 1, 1, seed: 3));
        using var adam2 = new Adam(model2.Parameters(), lr: 0.01f);
        using var online2 = new OnlineTrainer(model2, adam2, new PageHinkley(threshold: 2, minInstances: 10),
            DriftReaction.ResetOptimizerState);
        for (int i = 0; i < 60; i++) online2.Learn(new Sample(new[] { 1f }, Target: new[] { 0.5f }));
        long stepsBefore = adam2.StepCount;
        for (int i = 0; i < 60 && online2.Drifts.Count == 0; i++) online2.Learn(new Sample(new[] { 1f }, Target: new[] { 30f }));
        Assert.NotEmpty(online2.Drifts);
        Assert.True(adam2.StepCount < stepsBefore, "the optimizer state was reset at the drift");
    }

    [Fact]
    public void With_a_sample_shape_each_sample_is_one_image_and_the_step_is_a_batch_1_step_on_it()
    {
        // Conv2d(1, 2, 3) → ReLU → Flatten → Linear(8, 3) on 4×4 images: the trainer's steps equal batch-1 forward,
        // cross-entropy, backward and SGD (momentum 0.9) steps on [1, 1, 4, 4] tensors.
        Sequential Net() => new(new Conv2d(Dev, 1, 2, 3, seed: 11), new Relu(), new Flatten(), new Linear(Dev, 8, 3, seed: 12));
        var rng = new Random(5);
        var samples = Enumerable.Range(0, 6)
            .Select(i => new Sample(Enumerable.Range(0, 16).Select(_ => (float)rng.NextDouble()).ToArray(), i % 3)).ToList();
        using var model = Net();
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f, momentum: 0.9f);
        using var online = new OnlineTrainer(model, sgd) { SampleShape = new[] { 1, 4, 4 } };
        using var reference = Net();
        using var referenceSgd = new Sgd(reference.Parameters(), lr: 0.1f, momentum: 0.9f);
        double lossSum = 0;
        foreach (var s in samples)
        {
            online.Learn(s);
            using var scope = new DisposeScope();
            var loss = Loss.CrossEntropy(reference.Forward(Tensor.FromArray(Dev, s.Features, new[] { 1, 1, 4, 4 })), new[] { s.Label!.Value });
            lossSum += loss.Item();
            loss.Backward();
            referenceSgd.Step();
            referenceSgd.ZeroGrad();
        }
        Assert.Equal(lossSum / samples.Count, online.MeanLoss, 5);
        Expect.Close(reference.Parameters().SelectMany(p => p.ToArray()).ToArray(),
            model.Parameters().SelectMany(p => p.ToArray()).ToArray(), 1e-6, 1e-5, "parameters after the stream");
        Assert.Equal(new[] { 1, 4, 4 }, online.SampleShape);

        var e = Assert.Throws<ArgumentException>(() => online.Learn(new Sample(new float[15], 0)));
        Assert.Contains("sample 6 has 15 features; SampleShape [1, 4, 4] holds 16", e.Message);
        Assert.Throws<ArgumentException>(() => new OnlineTrainer(model, sgd) { SampleShape = new[] { 1, 0, 4 } });
    }

    [Fact]
    public void A_label_outside_the_model_outputs_names_the_sample()
    {
        using var model = new Sequential(new Linear(Dev, 1, 2, seed: 3));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var online = new OnlineTrainer(model, sgd);
        online.Learn(new Sample(new[] { 1f }, 1));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => online.Learn(new Sample(new[] { 1f }, 5)));
        Assert.Contains("sample 1 has label 5", e.Message);
    }

    [Fact]
    public void Scores_read_every_n_samples_give_the_same_metrics_and_drift_as_reading_every_sample()
    {
        // A stream whose concept flips at sample 300: reading the scores every 25 samples changes when the host sees
        // them, not what it sees; the detector fires on the same sample.
        IEnumerable<Sample> Stream()
        {
            var rng = new Random(8);
            for (int i = 0; i < 600; i++)
            {
                float x = (float)(rng.NextDouble() * 2 - 1), y = (float)(rng.NextDouble() * 2 - 1);
                yield return new Sample(new[] { x, y }, (x + y > 0) == (i < 300) ? 1 : 0);
            }
        }
        (long, double, double, List<DriftEvent>, float[]) Run(int scoreEvery)
        {
            using var model = new Sequential(new Linear(Dev, 2, 2, seed: 5));
            using var sgd = new Sgd(model.Parameters(), lr: 0.2f);
            using var online = new OnlineTrainer(model, sgd, new PageHinkley(threshold: 5), window: 100) { ScoreEvery = scoreEvery };
            online.Run(Stream());
            return (online.CumulativeHits, online.MeanLoss, online.WindowAccuracy, online.Drifts.ToList(),
                model.Parameters().SelectMany(p => p.ToArray()).ToArray());
        }
        var every = Run(1);
        var grouped = Run(25);
        Assert.Equal(every.Item1, grouped.Item1);
        Assert.Equal(every.Item2, grouped.Item2, 12);
        Assert.Equal(every.Item3, grouped.Item3);
        Assert.NotEmpty(every.Item4);
        Assert.Equal(every.Item4, grouped.Item4);
        Assert.Equal(every.Item5, grouped.Item5);
    }

    [Fact]
    public void A_divergence_read_late_names_its_sample_and_says_how_late()
    {
        using var model = Serialization.RobustnessTests.Overflowing(Dev, inputs: 1);
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var online = new OnlineTrainer(model, sgd) { ScoreEvery = 4 };
        online.Learn(new Sample(new[] { 1f }, 0));
        online.Learn(new Sample(new[] { float.MaxValue }, 1)); // logits ±∞: the loss is NaN
        online.Learn(new Sample(new[] { 1f }, 0));
        var e = Assert.Throws<TrainingDivergedException>(() => online.Learn(new Sample(new[] { 2f }, 1)));
        Assert.Contains("loss NaN at sample 1", e.Message);
        Assert.Contains("read back 2 samples later (ScoreEvery 4)", e.Message);
        Assert.Equal(1, online.Samples); // the sample before it counts; it and those after it do not
        Assert.Throws<ArgumentOutOfRangeException>(() => online.ScoreEvery = 0);
    }
}
