using System.Globalization;
using System.Text;

namespace Engine.Training.Search;

/// <summary>
/// One candidate's outcome: its score on each fold, their mean and (population) standard deviation, the epochs run
/// (fewer than configured when early stopping ended a fold), and why it failed when it did (<see cref="Failure"/>:
/// e.g. the loss diverged; its score is then NaN).
/// </summary>
public sealed record TrialResult(int Index, Hyperparameters Hyperparameters, IReadOnlyList<double> FoldScores,
    double? MeanEpochs, double? MeanBestEpoch, double Seconds, string? Failure)
{
    public bool Failed => Failure != null;

    public double Mean => Failed || FoldScores.Count == 0 ? double.NaN : FoldScores.Average();

    public double StandardDeviation => Failed || FoldScores.Count == 0 ? double.NaN
        : Math.Sqrt(FoldScores.Average(s => (s - Mean) * (s - Mean)));
}

/// <summary>Every trial of a search and the best one; <see cref="ToTable"/> formats them (ranked) for a console.</summary>
public sealed class SearchResult
{
    public SearchResult(IReadOnlyList<TrialResult> trials, string metric, bool higherIsBetter, SearchScoring scoring)
    {
        Trials = trials;
        Metric = metric;
        HigherIsBetter = higherIsBetter;
        Scoring = scoring;
    }

    public IReadOnlyList<TrialResult> Trials { get; }

    /// <summary>"accuracy" (higher is better) or "loss" (lower is better).</summary>
    public string Metric { get; }

    public bool HigherIsBetter { get; }

    public SearchScoring Scoring { get; }

    /// <summary>Trials from best to worst (failed ones last, in their original order); ties keep the earlier trial first.</summary>
    public IReadOnlyList<TrialResult> Ranked =>
        Trials.Where(t => !t.Failed).OrderBy(t => HigherIsBetter ? -t.Mean : t.Mean).ThenBy(t => t.Index)
            .Concat(Trials.Where(t => t.Failed)).ToList();

    /// <summary>The best trial.</summary>
    /// <exception cref="InvalidOperationException">every trial failed.</exception>
    public TrialResult Best => Ranked[0] is { Failed: false } best ? best
        : throw new InvalidOperationException(
            $"hyperparameter search: all {Trials.Count} trials failed (first: {Trials[0].Failure}).");

    public Hyperparameters BestHyperparameters => Best.Hyperparameters;

    /// <summary>A ranked table: rank, hyperparameters, mean ± std of the metric, per-fold scores, epochs, seconds.</summary>
    public string ToTable()
    {
        var c = CultureInfo.InvariantCulture;
        string Score(double v) => Metric == "accuracy" ? (100 * v).ToString("F2", c) + " %" : v.ToString("G5", c);
        var rows = Ranked.Select((t, rank) => new[]
        {
            (rank + 1).ToString(c), t.Hyperparameters.ToString(),
            t.Failed ? "failed" : Metric == "accuracy"
                ? $"{(100 * t.Mean).ToString("F2", c)} ± {(100 * t.StandardDeviation).ToString("F2", c)} %"
                : $"{t.Mean.ToString("G5", c)} ± {t.StandardDeviation.ToString("G3", c)}",
            t.Failed ? t.Failure! : string.Join(" ", t.FoldScores.Select(Score)),
            t.MeanEpochs?.ToString("0.#", c) ?? "-", t.Seconds.ToString("F1", c),
        }).ToList();
        var header = new[] { "rank", "hyperparameters", $"{Metric} (mean ± std)", Scoring.Folds == 1 ? "holdout" : "folds", "epochs", "s" };
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        var text = new StringBuilder();
        void Line(string[] cells) => text.AppendLine("│ " + string.Join(" │ ", cells.Select((v, i) => v.PadRight(widths[i]))) + " │");
        Line(header);
        foreach (var r in rows) Line(r);
        return text.ToString();
    }
}
