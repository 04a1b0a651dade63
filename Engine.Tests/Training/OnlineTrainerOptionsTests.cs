using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests.Training;

/// <summary>
/// The online trainer's choices and edges: a loss of one's own, accuracy on a regression stream, non-finite samples
/// skipped when asked; and Trainer.Fit's batch size checked.
/// </summary>
public class OnlineTrainerOptionsTests
{
    private static Device Dev => TestDevice.Instance;

    private static Sample[] Line(int n) =>
        Enumerable.Range(0, n).Select(i => new Sample(new[] { i / (float)n, 1f - i / (float)n }, Target: new[] { 2f * i / n - 0.5f }))
            .ToArray();

    [Fact]
    public void A_regression_stream_has_no_accuracy_and_its_loss_can_be_chosen()
    {
        using var model = new Linear(Dev, 2, 1, seed: 3);
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using var online = new OnlineTrainer(model, sgd);
        Assert.True(double.IsNaN(online.ProgressiveAccuracy)); // nothing seen yet
        online.Run(Line(20));
        Assert.Equal(20, online.Samples);
        Assert.True(double.IsNaN(online.ProgressiveAccuracy), $"progressive accuracy {online.ProgressiveAccuracy} on targets");
        Assert.True(double.IsNaN(online.WindowAccuracy));

        // An L1 loss instead of the default MSE: the first sample's scored loss is |prediction − target|.
        using var l1Model = new Linear(Dev, 2, 1, seed: 3);
        using var l1Sgd = new Sgd(l1Model.Parameters(), lr: 0.1f);
        var first = Line(1)[0];
        float prediction;
        using (var scope = new DisposeScope())
            prediction = l1Model.Forward(Tensor.FromArray(Dev, first.Features, new[] { 1, 2 })).Item();
        using var l1 = new OnlineTrainer(l1Model, l1Sgd) { LossFunction = (p, b) => Loss.L1(p, b.Targets!) };
        l1.Learn(first);
        Assert.Equal(Math.Abs(prediction - first.Target![0]), l1.LastLoss, 5);
    }

    [Fact]
    public void A_classification_loss_of_ones_own_is_scored_with_accuracy()
    {
        var samples = Enumerable.Range(0, 40).Select(i => new Sample(new[] { i % 2 == 0 ? 1f : -1f, 0.5f }, i % 2)).ToArray();
        using var model = new Linear(Dev, 2, 2, seed: 5);
        using var sgd = new Sgd(model.Parameters(), lr: 0.5f);
        using var online = new OnlineTrainer(model, sgd)
        {
            LossFunction = (p, b) => Loss.CrossEntropy(p, b.Labels!, labelSmoothing: 0.1f),
        };
        online.Run(samples);
        Assert.Equal(40, online.Samples);
        Assert.InRange(online.ProgressiveAccuracy, 0.8, 1.0);
        Assert.True(online.LastLoss > 0.05, "label smoothing keeps the loss above zero"); // plain CE would be ~0
    }

    [Fact]
    public void With_skipping_on_a_non_finite_sample_is_skipped_and_counted_otherwise_refused_naming_it()
    {
        var stream = Line(6);
        stream[3] = stream[3] with { Features = new[] { float.NaN, 1f } };
        using var model = new Linear(Dev, 2, 1, seed: 3);
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        using (var strict = new OnlineTrainer(model, sgd))
        {
            var e = Assert.Throws<ArgumentException>(() => strict.Run(stream));
            Assert.Contains("sample 3 has feature 0 = NaN", e.Message);
            Assert.Contains("SkipNonFiniteSteps", e.Message);
        }
        using var lenient = new OnlineTrainer(model, sgd) { SkipNonFiniteSteps = true, ScoreEvery = 2 };
        lenient.Run(stream);
        Assert.Equal(5, lenient.Samples);
        Assert.Equal(1, lenient.SkippedSteps);
        Assert.All(model.Parameters().SelectMany(p => p.ToArray()), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void A_negative_batch_size_is_refused()
    {
        var data = Engine.Data.Dataset.WithLabels(new float[] { 0, 1, 1, 0 }, 2, new[] { 0, 1 });
        using var model = new Linear(Dev, 2, 2, seed: 1);
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Trainer.Fit(model, Trainer.CrossEntropy, sgd, data, new TrainerOptions { Epochs = 1, BatchSize = -5 }));
        Assert.Contains("BatchSize must be ≥ 1, or 0 for full-batch gradient descent; got -5", e.Message);
    }
}
