using System.Diagnostics;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Training.Search;

/// <summary>How each trial is scored: on one held-out split, or by k-fold cross-validation (the mean over folds).</summary>
public sealed record SearchScoring
{
    private SearchScoring(int folds, double holdout)
    {
        Folds = folds;
        HoldoutFraction = holdout;
    }

    /// <summary>k for k-fold cross-validation; 1 for a single held-out split.</summary>
    public int Folds { get; }

    public double HoldoutFraction { get; }

    /// <summary>Train on 1 − <paramref name="fraction"/> of the rows, score on the rest (seeded split).</summary>
    public static SearchScoring Holdout(double fraction = 0.2) => fraction is > 0 and < 1
        ? new SearchScoring(1, fraction)
        : throw new ArgumentOutOfRangeException(nameof(fraction), $"holdout fraction must be in (0, 1), got {fraction}.");

    /// <summary>k-fold cross-validation (seeded shuffle, <see cref="CrossValidation.KFold"/>).</summary>
    public static SearchScoring KFold(int k = 5) => k >= 2
        ? new SearchScoring(k, 0)
        : throw new ArgumentOutOfRangeException(nameof(k), $"k-fold needs k ≥ 2, got {k}.");

    public override string ToString() => Folds == 1 ? $"holdout {HoldoutFraction:P0}" : $"{Folds}-fold cross-validation";
}

/// <summary>
/// Grid or random search over hyperparameters (scikit-learn's <c>GridSearchCV</c>/<c>RandomizedSearchCV</c>) for
/// mini-batch training: each candidate is trained by <see cref="Trainer.Fit"/> on the training part of every fold
/// and scored on its validation part (accuracy for a dataset with labels, higher is better; the loss otherwise, lower
/// is better), with early stopping on the validation loss when set. Trials run one after another on the device.
/// </summary>
/// <remarks>
/// Reproducible: before every fold of every trial the global <see cref="Generator"/> is reset to <see cref="Seed"/>,
/// so each candidate starts from the same initial weights and batch order, and differences in score come from the
/// hyperparameters alone. A trial whose loss becomes NaN/∞ is reported as diverged (score NaN) and never wins.
/// The hyperparameters <c>epochs</c> and <c>batch_size</c> are read here when present; <see cref="Epochs"/> and
/// <see cref="BatchSize"/> are the defaults.
/// </remarks>
public sealed class HyperparameterSearch
{
    private readonly Func<Hyperparameters, Module> buildModel;
    private readonly Func<Hyperparameters, Module, Optimizer> buildOptimizer;
    private readonly BatchLoss loss;

    /// <param name="buildModel">a fresh model for a configuration (called once per fold, after the generator is seeded).</param>
    /// <param name="buildOptimizer">its optimizer, e.g. <c>(h, m) => new Adam(m.Parameters(), lr: (float)h.Double("lr"))</c>.</param>
    /// <param name="loss">the training loss, e.g. <see cref="Trainer.CrossEntropy"/>.</param>
    public HyperparameterSearch(Func<Hyperparameters, Module> buildModel, Func<Hyperparameters, Module, Optimizer> buildOptimizer,
        BatchLoss loss)
    {
        this.buildModel = buildModel ?? throw new ArgumentNullException(nameof(buildModel));
        this.buildOptimizer = buildOptimizer ?? throw new ArgumentNullException(nameof(buildOptimizer));
        this.loss = loss ?? throw new ArgumentNullException(nameof(loss));
    }

    public SearchScoring Scoring { get; init; } = SearchScoring.KFold(3);

    /// <summary>Early stopping on each fold's validation loss (best weights restored before scoring); null: none.</summary>
    public EarlyStopping? EarlyStopping { get; init; }

    public int Seed { get; init; }

    /// <summary>Epochs when the configuration has no <c>epochs</c>.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Batch size when the configuration has no <c>batch_size</c>.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Called after each trial (e.g. to print a row as the search goes).</summary>
    public Action<TrialResult>? OnTrialEnd { get; init; }

    /// <summary>Runs every candidate (from <see cref="SearchSpace.Grid"/> or <see cref="SearchSpace.Random"/>) and ranks them.</summary>
    public SearchResult Run(Dataset train, IEnumerable<Hyperparameters> candidates)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(candidates);
        var list = candidates.ToList();
        if (list.Count == 0) throw new ArgumentException("hyperparameter search: no candidates to try.", nameof(candidates));
        if (train.Count < 2) throw new ArgumentException($"hyperparameter search: {train.Count} training rows cannot be split for scoring.", nameof(train));
        bool accuracy = train.Labels != null;
        var folds = Folds(train);
        var trials = new List<TrialResult>();
        for (int t = 0; t < list.Count; t++)
        {
            var trial = RunTrial(t, list[t], folds, accuracy);
            trials.Add(trial);
            OnTrialEnd?.Invoke(trial);
        }
        return new SearchResult(trials, accuracy ? "accuracy" : "loss", higherIsBetter: accuracy, Scoring);
    }

    /// <summary>
    /// Trains the best configuration on all of <paramref name="train"/> (scikit-learn's <c>refit</c>): its epochs, or
    /// with early stopping the mean best epoch over its folds, seeded as the trials were.
    /// </summary>
    public (Module Model, Optimizer Optimizer, History History) RetrainBest(SearchResult result, Dataset train)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(train);
        var best = result.Best;
        int epochs = best.MeanBestEpoch is { } e ? Math.Max(1, (int)Math.Round(e)) : EpochsOf(best.Hyperparameters);
        Generator.ManualSeed(Seed);
        var model = buildModel(best.Hyperparameters);
        var optimizer = buildOptimizer(best.Hyperparameters, model);
        var history = Trainer.Fit(model, loss, optimizer, train, new TrainerOptions
        {
            Epochs = epochs, BatchSize = BatchSizeOf(best.Hyperparameters), Seed = Seed,
        });
        return (model, optimizer, history);
    }

    private int EpochsOf(Hyperparameters h) => h.Int("epochs", Epochs);

    private int BatchSizeOf(Hyperparameters h) => h.Int("batch_size", BatchSize);

    private List<(Dataset Train, Dataset Validation)> Folds(Dataset data)
    {
        if (Scoring.Folds == 1)
        {
            var parts = data.Split(Seed, 1 - Scoring.HoldoutFraction, Scoring.HoldoutFraction);
            if (parts[0].Count == 0 || parts[1].Count == 0)
                throw new ArgumentException($"hyperparameter search: a {Scoring} of {data.Count} rows leaves an empty part.");
            return new() { (parts[0], parts[1]) };
        }
        var folds = new List<(Dataset, Dataset)>();
        CrossValidation.KFold(data, Scoring.Folds, Seed, (tr, va) =>
        {
            folds.Add((tr, va));
            return 0;
        });
        return folds;
    }

    private TrialResult RunTrial(int index, Hyperparameters h, List<(Dataset Train, Dataset Validation)> folds, bool accuracy)
    {
        var clock = Stopwatch.StartNew();
        var scores = new List<double>();
        var bestEpochs = new List<int>();
        var epochsRun = new List<int>();
        foreach (var (train, validation) in folds)
        {
            Generator.ManualSeed(Seed);
            var model = buildModel(h);
            Optimizer? optimizer = null;
            try
            {
                optimizer = buildOptimizer(h, model);
                var history = Trainer.Fit(model, loss, optimizer, train, new TrainerOptions
                {
                    Epochs = EpochsOf(h), BatchSize = BatchSizeOf(h), Seed = Seed, Validation = validation,
                    EarlyStopping = EarlyStopping,
                });
                var (validationLoss, validationAccuracy) = Trainer.Evaluate(model, loss, validation, optimizer.Device);
                double score = accuracy ? validationAccuracy!.Value : validationLoss;
                if (!double.IsFinite(score))
                    return new TrialResult(index, h, scores, null, null, clock.Elapsed.TotalSeconds, $"validation loss {validationLoss}");
                scores.Add(score);
                epochsRun.Add(history.Epochs.Count);
                if (history.BestEpoch is { } b) bestEpochs.Add(b);
            }
            catch (TrainingDivergedException e)
            {
                return new TrialResult(index, h, scores, null, null, clock.Elapsed.TotalSeconds,
                    $"diverged in fold {scores.Count + 1}: {e.Message.Split(" Lower")[0]}");
            }
            finally
            {
                optimizer?.Dispose();
                model.Dispose();
            }
        }
        return new TrialResult(index, h, scores, epochsRun.Average(), bestEpochs.Count == folds.Count ? bestEpochs.Average() : null,
            clock.Elapsed.TotalSeconds, null);
    }
}
