using System.Globalization;
using Engine;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using Engine.Training.Search;
using Spectre.Console;

namespace Examples;

/// <summary>
/// Choosing the learning rate and batch size the way the material teaches it: a grid over lr × batch size for the main
/// recipe (784→256→10 ReLU MLP, Adam), each candidate scored by k-fold cross-validation on the training set with early
/// stopping, the winner retrained on all training data and only then measured on the test set. Then the online
/// counterpart: the online SGD learning rate chosen by progressive validation on a prefix of the stream.
/// </summary>
public static class TuneJob
{
    public static int Execute(string deviceKind, string? dataDir, string outDir, string lrs, string batchSizes, int folds,
        int epochs, int onlinePrefix, int seed)
    {
        var learningRates = ParseList(lrs, "--lrs", double.Parse).ToArray();
        var sizes = ParseList(batchSizes, "--batch-sizes", int.Parse).ToArray();
        if (learningRates.Any(v => !(v > 0)) || sizes.Any(v => v < 1))
            throw new ArgumentException("tune: learning rates must be > 0 and batch sizes ≥ 1.");
        if (folds < 2 || epochs < 1 || onlinePrefix < 1)
            throw new ArgumentException($"tune: need --folds ≥ 2, --epochs ≥ 1 and --online-prefix ≥ 1 (got {folds}, {epochs}, {onlinePrefix}).");
        using var dev = Device.Create(deviceKind);
        var (train, test) = MnistJob.Load(dataDir);
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test");
        Console.WriteLine($"Grid: lr {{{string.Join(", ", learningRates.Select(v => v.ToString(c)))}}} × batch size " +
                          $"{{{string.Join(", ", sizes)}}}, Adam, up to {epochs} epochs, early stopping (patience 2) on each " +
                          $"fold's validation loss, scored by {folds}-fold cross-validation (validation accuracy)");

        var search = new HyperparameterSearch(
            _ => new Sequential(new Linear(dev, 784, 256), new Relu(), new Linear(dev, 256, 10)),
            (h, m) => new Adam(m.Parameters(), lr: (float)h.Double("lr")), Trainer.CrossEntropy)
        {
            Scoring = SearchScoring.KFold(folds), Seed = seed, Epochs = epochs,
            EarlyStopping = new EarlyStopping(Patience: 2),
            OnTrialEnd = t => Console.WriteLine($"  trial {t.Index + 1}: {t.Hyperparameters}: " +
                (t.Failed ? t.Failure : $"{t.Mean:P2} ± {t.StandardDeviation:P2} ({t.Seconds:F1} s)")),
        };
        var grid = new SearchSpace().Add("lr", learningRates.Cast<object>().ToArray())
            .Add("batch_size", sizes.Cast<object>().ToArray()).Grid();
        var result = search.Run(train, grid);
        Console.Write(result.ToTable());
        var best = result.Best;
        var (model, optimizer, history) = search.RetrainBest(result, train);
        double testAccuracy;
        using (model)
        using (optimizer)
            testAccuracy = Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value;
        Console.WriteLine($"winner: {best.Hyperparameters} with {best.Mean:P2} ± {best.StandardDeviation:P2} cross-validated; " +
                          $"retrained on all {train.Count} training rows for {history.Epochs.Count} epochs (its mean best " +
                          $"epoch): test accuracy {testAccuracy:P2}");

        int prefix = Math.Min(onlinePrefix, train.Count);
        var samples = Enumerable.Range(0, prefix)
            .Select(i => new Sample(train.Features[(i * 784)..((i + 1) * 784)], train.Labels![i])).ToList();
        var onlineRates = new[] { 0.003, 0.01, 0.03, 0.1, 0.3 };
        Console.WriteLine($"Online: SGD learning rate by progressive validation on the first {prefix} samples of the stream");
        var online = OnlineLearningRateSearch.Run(samples, onlineRates,
            () => new Sequential(new Linear(dev, 784, 256), new Relu(), new Linear(dev, 256, 10)),
            (m, lr) => new Sgd(m.Parameters(), lr: (float)lr), seed);
        var onlineTable = new Table().AddColumns("online lr", "progressive accuracy", "mean progressive loss");
        foreach (var t in online.Trials)
            onlineTable.AddRow(t.Lr.ToString(c), t.Failed ? "diverged" : t.ProgressiveAccuracy.ToString("P2", c),
                t.Failed ? "-" : t.MeanLoss.ToString("F4", c));
        AnsiConsole.Write(onlineTable);
        Console.WriteLine($"online winner: lr {online.BestLr.ToString(c)}");

        Directory.CreateDirectory(outDir);
        string plot = Path.Combine(outDir, "tune.svg");
        var batchSeries = sizes.Select(b => ($"batch {b}", (IReadOnlyList<(double, double)>)result.Trials
            .Where(t => t.Hyperparameters.Int("batch_size") == b && !t.Failed)
            .Select(t => (Math.Log10(t.Hyperparameters.Double("lr")), t.Mean)).ToList())).ToArray();
        File.WriteAllText(plot, SvgPlot.Panels(
            ($"{folds}-fold cross-validated accuracy", "log₁₀ learning rate", batchSeries),
            ($"online progressive accuracy, first {prefix} samples", "log₁₀ learning rate",
                new[] { ("SGD, predict then learn", (IReadOnlyList<(double, double)>)online.Trials.Where(t => !t.Failed)
                    .Select(t => (Math.Log10(t.Lr), t.ProgressiveAccuracy)).ToList()) })));
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    }

    private static IEnumerable<T> ParseList<T>(string text, string option, Func<string, IFormatProvider, T> parse)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException($"tune: {option} is empty.");
        foreach (var p in parts)
        {
            T value;
            try
            {
                value = parse(p, CultureInfo.InvariantCulture);
            }
            catch (FormatException)
            {
                throw new ArgumentException($"tune: {option} has '{p}', which is not a number.");
            }
            yield return value;
        }
    }
}
