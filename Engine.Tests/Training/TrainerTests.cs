using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Optim.Schedules;
using Engine.Training;

namespace Engine.Tests.Training;

public class TrainerTests
{
    private static Device Dev => TestDevice.Instance;

    /// <summary>Three Gaussian blobs in 2-D, seeded.</summary>
    private static Dataset Blobs(int perClass, int seed, bool flipLabels = false)
    {
        var rng = new Random(seed);
        var x = new List<float>();
        var y = new List<int>();
        double[][] centres = { new[] { -2.0, 0 }, new[] { 2.0, 0 }, new[] { 0.0, 2.5 } };
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < perClass; i++)
        {
            x.Add((float)(centres[c][0] + 0.5 * (rng.NextDouble() - 0.5)));
            x.Add((float)(centres[c][1] + 0.5 * (rng.NextDouble() - 0.5)));
            y.Add(flipLabels ? (c + 1) % 3 : c);
        }
        return Dataset.WithLabels(x.ToArray(), 2, y.ToArray());
    }

    private static Sequential Mlp(int seed) =>
        new(new Linear(Dev, 2, 16, seed: seed), new Tanh(), new Linear(Dev, 16, 3, seed: seed + 10));

    [Fact]
    public void Fit_learns_blobs_with_mini_batches_and_reports_every_epoch()
    {
        using var model = Mlp(1);
        using var adam = new Adam(model.Parameters(), lr: 0.05f);
        var epochs = new List<int>();
        var history = Trainer.Fit(model, Trainer.CrossEntropy, adam, Blobs(40, 1),
            new TrainerOptions { Epochs = 8, BatchSize = 16, ValidationFraction = 0.25, OnEpochEnd = r => epochs.Add(r.Epoch) });
        Assert.Equal(Enumerable.Range(1, 8), epochs);
        var last = history.Epochs[^1];
        Assert.True(last.TrainAccuracy > 0.95, $"train accuracy {last.TrainAccuracy}");
        Assert.True(last.ValidationAccuracy > 0.95, $"validation accuracy {last.ValidationAccuracy}");
        Assert.True(last.TrainLoss < history.Epochs[0].TrainLoss);
    }

    [Fact]
    public void Full_batch_gradient_descent_recovers_linear_coefficients()
    {
        var rng = new Random(3);
        var x = Enumerable.Range(0, 64 * 2).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var y = Enumerable.Range(0, 64).Select(i => 3f * x[2 * i] - 2f * x[2 * i + 1] + 0.5f).ToArray();
        using var model = new Sequential(new Linear(Dev, 2, 1, seed: 4));
        using var sgd = new Sgd(model.Parameters(), lr: 0.5f);
        int steps = 0;
        Trainer.Fit(model, Trainer.Mse, sgd, Dataset.WithTargets(x, 2, y),
            new TrainerOptions { Epochs = 300, BatchSize = 0, OnBatchEnd = _ => steps++ });
        Assert.Equal(300, steps); // one step per epoch: full batch
        var linear = (Linear)model[0];
        Expect.Close(new[] { 3.0, -2.0 }, linear.Weight.ToArray(), 1e-3, 1e-3, "weights");
        Expect.Close(new[] { 0.5 }, linear.Bias!.ToArray(), 1e-3, 1e-3, "bias");
    }

    [Fact]
    public void Early_stopping_halts_after_patience_and_restores_the_best_weights()
    {
        // Validation labels are the training labels rotated: the better the fit, the worse the validation loss.
        using var model = Mlp(2);
        using var adam = new Adam(model.Parameters(), lr: 0.05f);
        var weightsPerEpoch = new List<float[]>();
        var history = Trainer.Fit(model, Trainer.CrossEntropy, adam, Blobs(20, 2), new TrainerOptions
        {
            Epochs = 30,
            BatchSize = 8,
            Validation = Blobs(20, 5, flipLabels: true),
            EarlyStopping = new EarlyStopping(Patience: 3),
            OnEpochEnd = _ => weightsPerEpoch.Add(model.Parameters().First().ToArray()),
        });
        Assert.True(history.StoppedEarly);
        int best = history.BestEpoch!.Value;
        Assert.Equal(best + 3, history.Epochs.Count);
        Assert.Equal(weightsPerEpoch[best - 1], model.Parameters().First().ToArray());
    }

    [Fact]
    public void A_schedule_is_stepped_per_epoch_or_per_batch()
    {
        using var model = Mlp(3);
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var history = Trainer.Fit(model, Trainer.CrossEntropy, sgd, Blobs(10, 3),
            new TrainerOptions { Epochs = 3, BatchSize = 10, Schedule = new StepLR(sgd, 1, 0.5) });
        Expect.Close(new[] { 0.05, 0.025, 0.0125 }, history.Epochs.Select(e => (float)e.Lr).ToArray(), 1e-9, 1e-6, "lr");
        using var model2 = Mlp(3);
        using var sgd2 = new Sgd(model2.Parameters(), lr: 0.1f);
        Trainer.Fit(model2, Trainer.CrossEntropy, sgd2, Blobs(10, 3),
            new TrainerOptions { Epochs = 1, BatchSize = 10, Schedule = new StepLR(sgd2, 1, 0.5), StepSchedulePerBatch = true });
        Assert.Equal(0.1f * MathF.Pow(0.5f, 3), sgd2.Lr, 6); // three batches, three halvings
    }

    /// <summary>
    /// Batches of 8 accumulated 4 at a time take the steps batches of 32 take (the same shuffled order: the permutation
    /// depends on the seed and the rows, not the batch size); 100 rows make the last group one short micro-batch of 4.
    /// The schedule steps per optimizer step and OnAfterBackward runs once per step.
    /// </summary>
    [Fact]
    public void Accumulating_micro_batches_equals_one_batch_that_many_times_larger()
    {
        var data = Blobs(34, 5).Subset(Enumerable.Range(0, 100).ToArray());
        (float[] Weights, History History, int Steps, int Backwards) Train(int batch, int accumulate)
        {
            using var model = Mlp(7);
            using var adam = new Adam(model.Parameters(), lr: 0.02f);
            var schedule = new StepLR(adam, stepSize: 3, gamma: 0.5);
            int steps = 0, backwards = 0;
            var history = Trainer.Fit(model, Trainer.CrossEntropy, adam, data, new TrainerOptions
            {
                Epochs = 3, BatchSize = batch, AccumulationSteps = accumulate, Seed = 11, Schedule = schedule,
                StepSchedulePerBatch = true, OnBatchEnd = _ => steps++, OnAfterBackward = _ => backwards++,
            });
            return (model.Parameters().SelectMany(p => p.ToArray()).ToArray(), history, steps, backwards);
        }
        var big = Train(32, 1);
        var accumulated = Train(8, 4);
        Expect.Close(big.Weights, accumulated.Weights, 1e-5, 1e-5, "parameters after 3 epochs");
        for (int e = 0; e < 3; e++)
        {
            Assert.Equal(big.History.Epochs[e].TrainLoss, accumulated.History.Epochs[e].TrainLoss, 5);
            Assert.Equal(big.History.Epochs[e].Lr, accumulated.History.Epochs[e].Lr);
        }
        Assert.Equal(3 * 4, big.Backwards);
        Assert.Equal(3 * 4, accumulated.Backwards); // one per optimizer step
        Assert.Equal(3 * 13, accumulated.Steps);   // OnBatchEnd per micro-batch

        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => Train(8, 0));
        Assert.Contains("AccumulationSteps", e2.Message);
    }

    [Fact]
    public void A_diverging_loss_stops_with_the_epoch_and_step()
    {
        var x = Enumerable.Range(0, 32).Select(i => (float)i).ToArray();
        using var model = new Sequential(new Linear(Dev, 1, 1, seed: 1));
        using var sgd = new Sgd(model.Parameters(), lr: 1e6f);
        var e = Assert.Throws<TrainingDivergedException>(() => Trainer.Fit(model, Trainer.Mse, sgd,
            Dataset.WithTargets(x, 1, x), new TrainerOptions { Epochs = 5, BatchSize = 8, Shuffle = false }));
        Assert.Matches(@"epoch \d+, step \d+", e.Message);
    }

    [Fact]
    public void K_fold_runs_every_fold_on_disjoint_validation_rows()
    {
        var data = Dataset.WithLabels(Enumerable.Range(0, 23).Select(i => (float)i).ToArray(), 1, new int[23]);
        var seen = new List<float>();
        var result = CrossValidation.KFold(data, 5, 1, (train, validation) =>
        {
            Assert.Equal(23, train.Count + validation.Count);
            Assert.Empty(train.Features.Intersect(validation.Features));
            seen.AddRange(validation.Features);
            return validation.Count;
        });
        Assert.Equal(Enumerable.Range(0, 23).Select(i => (float)i), seen.OrderBy(v => v));
        Assert.Equal(23 / 5.0, result.Mean, 12);
        double std = Math.Sqrt(result.FoldScores.Average(s => (s - 4.6) * (s - 4.6)));
        Assert.Equal(std, result.StandardDeviation, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossValidation.KFold(data, 1, 0, (_, _) => 0));
    }
}
