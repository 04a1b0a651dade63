using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using Engine.Training.Search;

namespace Engine.Tests.Training;

public class HyperparameterSearchTests
{
    private static Device Dev => TestDevice.Instance;

    /// <summary>y = 3x₀ − 2x₁ + 1 + small noise; a linear model's best learning rate is easy to know.</summary>
    private static Dataset Line(int rows, int seed)
    {
        var rng = new Random(seed);
        var x = new float[2 * rows];
        var y = new float[rows];
        for (int i = 0; i < rows; i++)
        {
            x[2 * i] = (float)(rng.NextDouble() * 2 - 1);
            x[2 * i + 1] = (float)(rng.NextDouble() * 2 - 1);
            y[i] = 3 * x[2 * i] - 2 * x[2 * i + 1] + 1 + (float)(0.01 * (rng.NextDouble() - 0.5));
        }
        return Dataset.WithTargets(x, 2, y);
    }

    private static HyperparameterSearch LinearSearch(SearchScoring scoring, EarlyStopping? stop = null) => new(
        _ => new Sequential(new Linear(Dev, 2, 1)),
        (h, m) => new Sgd(m.Parameters(), lr: (float)h.Double("lr"), momentum: (float)h.Double("momentum", 0)),
        Trainer.Mse) { Scoring = scoring, Seed = 3, Epochs = 5, BatchSize = 16, EarlyStopping = stop };

    [Fact]
    public void Grid_is_every_combination_first_name_slowest()
    {
        var grid = new SearchSpace().Add("lr", 0.1, 0.01).Add("batch_size", 16, 32, 64).Grid();
        Assert.Equal(6, grid.Count);
        Assert.Equal("lr=0.1, batch_size=16", grid[0].ToString());
        Assert.Equal("lr=0.1, batch_size=32", grid[1].ToString());
        Assert.Equal("lr=0.01, batch_size=64", grid[5].ToString());
        Assert.Equal(64, grid[5].Int("batch_size"));
        Assert.Contains("'lr' is LogUniform", Assert.Throws<InvalidOperationException>(() =>
            new SearchSpace().Add("lr", new LogUniform(1e-4, 1e-1)).Grid()).Message);
    }

    [Fact]
    public void Random_search_is_seeded_and_draws_the_learning_rate_log_uniformly()
    {
        var space = new SearchSpace().Add("lr", new LogUniform(1e-4, 1e-1)).Add("batch_size", new IntUniform(8, 64))
            .Add("optimizer", "sgd", "adam");
        var a = space.Random(400, seed: 5);
        Assert.Equal(a.Select(h => h.ToString()), space.Random(400, seed: 5).Select(h => h.ToString()));
        Assert.NotEqual(a.Select(h => h.ToString()), space.Random(400, seed: 6).Select(h => h.ToString()));
        var lrs = a.Select(h => h.Double("lr")).ToArray();
        Assert.All(lrs, lr => Assert.InRange(lr, 1e-4, 1e-1));
        // Log-uniform: each decade holds about a third of the draws.
        foreach (var (low, high) in new[] { (1e-4, 1e-3), (1e-3, 1e-2), (1e-2, 1e-1) })
            Assert.InRange(lrs.Count(v => v >= low && v < high), 100, 167);
        Assert.All(a, h => Assert.InRange(h.Int("batch_size"), 8, 64));
        Assert.Equal(new[] { "adam", "sgd" }, a.Select(h => h.String("optimizer")).Distinct().Order());
    }

    [Fact]
    public void Search_picks_the_known_best_learning_rate_and_reports_a_diverging_one()
    {
        var candidates = new SearchSpace().Add("lr", 1e-4, 0.1, 30.0).Grid();
        var result = LinearSearch(SearchScoring.Holdout(0.25)).Run(Line(200, 1), candidates);
        Assert.Equal(0.1, result.BestHyperparameters.Double("lr"));
        Assert.Equal("loss", result.Metric);
        var diverged = result.Trials.Single(t => t.Hyperparameters.Double("lr") == 30.0);
        Assert.True(diverged.Failed);
        Assert.Contains("diverged", diverged.Failure);
        Assert.True(double.IsNaN(diverged.Mean));
        Assert.True(result.Trials[0].Mean > 10 * result.Best.Mean); // lr 1e-4 barely moved
        Assert.Equal(new[] { 0.1, 1e-4, 30.0 }, result.Ranked.Select(t => t.Hyperparameters.Double("lr")));
        Assert.Contains("failed", result.ToTable());
    }

    [Fact]
    public void Cross_validated_search_is_reproducible_for_a_seed()
    {
        var candidates = new SearchSpace().Add("lr", 0.03, 0.1).Add("momentum", 0.0, 0.9).Add("batch_size", 8, 32).Grid();
        var first = LinearSearch(SearchScoring.KFold(3)).Run(Line(120, 2), candidates);
        var second = LinearSearch(SearchScoring.KFold(3)).Run(Line(120, 2), candidates);
        Assert.Equal(first.Trials.SelectMany(t => t.FoldScores), second.Trials.SelectMany(t => t.FoldScores));
        Assert.All(first.Trials, t => Assert.Equal(3, t.FoldScores.Count));
        var best = first.Best;
        Assert.Equal(best.FoldScores.Average(), best.Mean, 12);
        Assert.True(best.StandardDeviation >= 0);
        Assert.All(first.Trials, t => Assert.True(best.Mean <= t.Mean));
    }

    [Fact]
    public void Classification_is_scored_by_accuracy_with_early_stopping_and_the_best_is_retrained_on_all_data()
    {
        var rng = new Random(4);
        var x = new float[2 * 150];
        var labels = new int[150];
        for (int i = 0; i < 150; i++)
        {
            labels[i] = i % 3;
            x[2 * i] = (float)(labels[i] * 2 - 2 + 0.4 * (rng.NextDouble() - 0.5));
            x[2 * i + 1] = (float)(rng.NextDouble() - 0.5);
        }
        var data = Dataset.WithLabels(x, 2, labels);
        var search = new HyperparameterSearch(
            _ => new Sequential(new Linear(Dev, 2, 8), new Relu(), new Linear(Dev, 8, 3)),
            (h, m) => new Adam(m.Parameters(), lr: (float)h.Double("lr")), Trainer.CrossEntropy)
        {
            Scoring = SearchScoring.KFold(3), Seed = 1, BatchSize = 16, EarlyStopping = new EarlyStopping(Patience: 2, MinDelta: 0.005),
        };
        var result = search.Run(data, new SearchSpace().Add("lr", 1e-5, 0.05).Add("epochs", 30).Grid());
        Assert.Equal("accuracy", result.Metric);
        Assert.Equal(0.05, result.BestHyperparameters.Double("lr"));
        Assert.True(result.Best.Mean > 0.95, $"best accuracy {result.Best.Mean}");
        Assert.True(result.Best.MeanEpochs < 30, "early stopping ends the folds before 30 epochs");
        Assert.NotNull(result.Best.MeanBestEpoch);
        var (model, optimizer, history) = search.RetrainBest(result, data);
        using (model)
        using (optimizer)
        {
            Assert.Equal((int)Math.Round(result.Best.MeanBestEpoch!.Value), history.Epochs.Count);
            Assert.True(Trainer.Evaluate(model, Trainer.CrossEntropy, data, Dev).Accuracy > 0.95);
        }
    }

    [Fact]
    public void Online_learning_rate_is_chosen_by_progressive_validation_on_the_prefix()
    {
        var rng = new Random(7);
        var prefix = Enumerable.Range(0, 300).Select(_ =>
        {
            float a = (float)(rng.NextDouble() * 2 - 1), b = (float)(rng.NextDouble() * 2 - 1);
            return new Sample(new[] { a, b }, a + b > 0 ? 1 : 0);
        }).ToList();
        Module Build() => new Sequential(new Linear(Dev, 2, 2));
        Optimizer Sgd(Module m, double lr) => new Sgd(m.Parameters(), lr: (float)lr);
        var result = OnlineLearningRateSearch.Run(prefix, new[] { 1e-5, 0.3 }, Build, Sgd, seed: 2);
        Assert.Equal(0.3, result.BestLr);
        Assert.True(result.Best.ProgressiveAccuracy > 0.85, $"progressive accuracy {result.Best.ProgressiveAccuracy}");
        Assert.True(result.Trials[0].ProgressiveAccuracy < 0.7, $"lr 1e-5: {result.Trials[0].ProgressiveAccuracy}");
        Assert.Equal(300, result.Trials[0].Samples);
        var again = OnlineLearningRateSearch.Run(prefix, new[] { 1e-5, 0.3 }, Build, Sgd, seed: 2);
        Assert.Equal(result.Trials.Select(t => t.ProgressiveAccuracy), again.Trials.Select(t => t.ProgressiveAccuracy));
    }

    [Fact]
    public void Online_regression_is_scored_by_progressive_loss_and_a_diverging_rate_is_reported()
    {
        var rng = new Random(8);
        var prefix = Enumerable.Range(0, 200).Select(_ =>
        {
            float a = (float)(rng.NextDouble() * 2 - 1), b = (float)(rng.NextDouble() * 2 - 1);
            return new Sample(new[] { a, b }, Target: new[] { 2 * a - b + 0.5f });
        }).ToList();
        var result = OnlineLearningRateSearch.Run(prefix, new[] { 1e-3, 0.1, 10.0 },
            () => new Sequential(new Linear(Dev, 2, 1)), (m, lr) => new Sgd(m.Parameters(), lr: (float)lr), seed: 1);
        Assert.Equal(0.1, result.BestLr);
        Assert.True(result.Trials[2].Failed, "lr 10 diverges on per-sample squared error");
        Assert.Contains("diverged", result.Trials[2].Failure);
        Assert.True(result.Trials[1].MeanLoss < result.Trials[0].MeanLoss);
    }
}
