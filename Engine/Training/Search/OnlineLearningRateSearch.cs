using Engine.Nn;
using Engine.Optim;

namespace Engine.Training.Search;

/// <summary>One learning rate's progressive-validation result on the stream's prefix.</summary>
public sealed record OnlineTrial(double Lr, double ProgressiveAccuracy, double MeanLoss, long Samples, string? Failure)
{
    public bool Failed => Failure != null;
}

/// <summary>The trials and the chosen learning rate.</summary>
public sealed record OnlineSearchResult(IReadOnlyList<OnlineTrial> Trials, bool ByAccuracy)
{
    /// <summary>The best trial: highest progressive accuracy (classification) or lowest mean loss; ties: the earlier.</summary>
    public OnlineTrial Best => Trials.Where(t => !t.Failed)
        .OrderBy(t => ByAccuracy ? -t.ProgressiveAccuracy : t.MeanLoss).FirstOrDefault()
        ?? throw new InvalidOperationException($"online learning-rate search: all {Trials.Count} learning rates diverged.");

    public double BestLr => Best.Lr;
}

/// <summary>
/// Chooses the online learning rate the way online learning scores itself: for each candidate a fresh model learns
/// the first samples of the stream one at a time through <see cref="OnlineTrainer"/>, predicting each sample before
/// learning from it, and the candidate with the best progressive accuracy (or, without labels, the lowest mean
/// progressive loss) wins. No sample is held out, and the prefix is replayed identically for every candidate.
/// </summary>
public static class OnlineLearningRateSearch
{
    /// <param name="prefix">the first samples of the stream (materialized once, replayed per candidate).</param>
    /// <param name="learningRates">the candidates, e.g. a log grid 1e-3 … 1e-1.</param>
    /// <param name="buildModel">a fresh model (called after <see cref="Generator.ManualSeed"/>(<paramref name="seed"/>)).</param>
    /// <param name="buildOptimizer">its optimizer at a learning rate, e.g. <c>(m, lr) => new Sgd(m.Parameters(), lr: (float)lr)</c>.</param>
    /// <param name="seed">the generator seed every candidate's model is built after, so all start from the same weights.</param>
    public static OnlineSearchResult Run(IReadOnlyList<Sample> prefix, IEnumerable<double> learningRates,
        Func<Module> buildModel, Func<Module, double, Optimizer> buildOptimizer, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(learningRates);
        ArgumentNullException.ThrowIfNull(buildModel);
        ArgumentNullException.ThrowIfNull(buildOptimizer);
        if (prefix.Count == 0) throw new ArgumentException("online learning-rate search: the prefix is empty.", nameof(prefix));
        var rates = learningRates.ToList();
        if (rates.Count == 0) throw new ArgumentException("online learning-rate search: no learning rates to try.", nameof(learningRates));
        bool byAccuracy = prefix[0].Label != null;
        var trials = new List<OnlineTrial>();
        foreach (double lr in rates)
        {
            if (!(lr > 0 && double.IsFinite(lr)))
                throw new ArgumentOutOfRangeException(nameof(learningRates), $"online learning-rate search: learning rate {lr} is not > 0.");
            Generator.ManualSeed(seed);
            using var model = buildModel();
            using var optimizer = buildOptimizer(model, lr);
            using var online = new OnlineTrainer(model, optimizer);
            try
            {
                online.Run(prefix);
                trials.Add(new OnlineTrial(lr, online.ProgressiveAccuracy, online.MeanLoss, online.Samples, null));
            }
            catch (TrainingDivergedException e)
            {
                trials.Add(new OnlineTrial(lr, double.NaN, double.NaN, online.Samples, e.Message.Split(" Lower")[0]));
            }
        }
        return new OnlineSearchResult(trials, byAccuracy);
    }
}
