namespace Engine.Data;

/// <summary>
/// An in-memory dataset on the host: row-major features [Count, FeatureCount] and either class labels
/// (<see cref="Labels"/>) or regression targets [Count, TargetCount] (<see cref="Targets"/>). Each row is one sample
/// of shape <see cref="SampleShape"/>: [FeatureCount] for a flat (tabular) set, e.g. [C, H, W] for images, whose row
/// then holds the sample's pixels row-major (channel, then row, then column), as a PyTorch image tensor.
/// </summary>
public sealed class Dataset
{
    private readonly int[] sampleShape;

    private Dataset(float[] features, int featureCount, int[]? labels, float[]? targets, int targetCount)
    {
        if (featureCount < 1) throw new ArgumentOutOfRangeException(nameof(featureCount), "featureCount must be ≥ 1.");
        if (features.Length % featureCount != 0)
            throw new ArgumentException($"dataset: {features.Length} feature values do not split into rows of {featureCount}.");
        Count = features.Length / featureCount;
        if (labels != null && labels.Length != Count)
            throw new ArgumentException($"dataset: {Count} rows of features but {labels.Length} labels.");
        if (targets != null && targets.Length != Count * targetCount)
            throw new ArgumentException($"dataset: {Count} rows of features but {targets.Length} target values " +
                                        $"({targetCount} per row expected).");
        RejectNonFinite(features, featureCount, "feature");
        if (targets != null) RejectNonFinite(targets, targetCount, "target");
        Features = features;
        FeatureCount = featureCount;
        Labels = labels;
        Targets = targets;
        TargetCount = targetCount;
        sampleShape = new[] { featureCount };
    }

    /// <summary>The same arrays seen with another sample shape (already validated: no copy, no rescan).</summary>
    private Dataset(Dataset source, int[] sampleShape)
    {
        Count = source.Count;
        Features = source.Features;
        FeatureCount = source.FeatureCount;
        Labels = source.Labels;
        Targets = source.Targets;
        TargetCount = source.TargetCount;
        this.sampleShape = sampleShape;
    }

    /// <summary>
    /// Throws on the first NaN or ±∞, naming its row and column: one bad value would otherwise turn gradients NaN
    /// (or, behind a ReLU, leave a finite loss while weights go NaN).
    /// </summary>
    private static void RejectNonFinite(float[] values, int perRow, string what)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsFinite(values[i])) continue;
            throw new ArgumentException(
                $"dataset: {what} at row {i / perRow}, column {i % perRow} is {values[i]}; every value must be finite.");
        }
    }

    /// <summary>A classification set: labels are class indices.</summary>
    public static Dataset WithLabels(float[] features, int featureCount, int[] labels) =>
        new(features, featureCount, labels ?? throw new ArgumentNullException(nameof(labels)), null, 0);

    /// <summary>A regression set: targetCount values per row.</summary>
    public static Dataset WithTargets(float[] features, int featureCount, float[] targets, int targetCount = 1) =>
        new(features, featureCount, null, targets ?? throw new ArgumentNullException(nameof(targets)), targetCount);

    public int Count { get; }
    public int FeatureCount { get; }

    /// <summary>
    /// The shape of one sample (a copy): [FeatureCount] unless set by <see cref="WithSampleShape"/>; its product is
    /// always <see cref="FeatureCount"/>. A <see cref="DataLoader"/> yields features shaped [n, ..SampleShape].
    /// </summary>
    public int[] SampleShape => (int[])sampleShape.Clone();

    /// <summary>
    /// This dataset with each row seen as a sample of <paramref name="sampleShape"/> (e.g. 1, 28, 28 for MNIST digits:
    /// [C, H, W], row-major), sharing the feature, label and target arrays (no copy). The product of the shape must be
    /// <see cref="FeatureCount"/>; <c>WithSampleShape(FeatureCount)</c> is the flat view again.
    /// </summary>
    /// <exception cref="ArgumentException">The shape is empty, has a dimension below 1, or does not multiply to
    /// <see cref="FeatureCount"/>.</exception>
    public Dataset WithSampleShape(params int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        string shown = $"[{string.Join(", ", sampleShape)}]";
        if (sampleShape.Length == 0)
            throw new ArgumentException("dataset: a sample shape needs at least one dimension.", nameof(sampleShape));
        if (sampleShape.Any(s => s < 1))
            throw new ArgumentException($"dataset: sample shape {shown} has a dimension below 1.", nameof(sampleShape));
        long product = sampleShape.Aggregate(1L, (p, s) => p * s);
        if (product != FeatureCount)
            throw new ArgumentException(
                $"dataset: sample shape {shown} holds {product} values but each row has {FeatureCount} features.",
                nameof(sampleShape));
        return new Dataset(this, (int[])sampleShape.Clone());
    }
    public float[] Features { get; }
    public int[]? Labels { get; }
    public float[]? Targets { get; }
    public int TargetCount { get; }

    /// <summary>Number of classes (max label + 1) of a classification set.</summary>
    public int ClassCount => Labels == null ? 0
        : Labels.Length == 0 ? throw new InvalidOperationException("dataset: ClassCount of an empty dataset (0 rows).")
        : Labels.Max() + 1;

    /// <summary>The rows at <paramref name="indices"/>, in that order, with this set's <see cref="SampleShape"/>.</summary>
    public Dataset Subset(IReadOnlyList<int> indices)
    {
        var features = new float[indices.Count * FeatureCount];
        int[]? labels = Labels == null ? null : new int[indices.Count];
        float[]? targets = Targets == null ? null : new float[indices.Count * TargetCount];
        for (int r = 0; r < indices.Count; r++)
        {
            int i = indices[r];
            if ((uint)i >= Count) throw new ArgumentOutOfRangeException(nameof(indices), $"subset: row {i} outside [0, {Count}).");
            Array.Copy(Features, i * FeatureCount, features, r * FeatureCount, FeatureCount);
            if (labels != null) labels[r] = Labels![i];
            if (targets != null) Array.Copy(Targets!, i * TargetCount, targets, r * TargetCount, TargetCount);
        }
        return new Dataset(new Dataset(features, FeatureCount, labels, targets, TargetCount), sampleShape);
    }

    /// <summary>
    /// Shuffles the rows with <paramref name="seed"/> and cuts them by the given fractions (e.g. 0.8, 0.2); every part
    /// keeps this set's <see cref="SampleShape"/>.
    /// </summary>
    public Dataset[] Split(int seed, params double[] fractions)
    {
        if (fractions.Length == 0 || fractions.Any(f => f < 0) || Math.Abs(fractions.Sum() - 1) > 1e-9)
            throw new ArgumentException($"split: fractions must be ≥ 0 and sum to 1, got {string.Join(", ", fractions)}.");
        var order = Permutation(Count, seed);
        var parts = new Dataset[fractions.Length];
        int start = 0;
        for (int k = 0; k < fractions.Length; k++)
        {
            int end = k == fractions.Length - 1 ? Count : start + (int)Math.Round(fractions[k] * Count);
            parts[k] = Subset(order[start..end]);
            start = end;
        }
        return parts;
    }

    /// <summary>A seeded Fisher–Yates permutation of 0..n−1.</summary>
    public static int[] Permutation(int n, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        var rng = new Random(seed);
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}

/// <summary>
/// Per-feature standardisation x' = (x − μ)/σ with μ, σ fitted on one set (the training set) and applied to
/// others; a constant feature (σ = 0) is only centred. The result keeps the set's <see cref="Dataset.SampleShape"/>.
/// </summary>
public sealed class Standardizer
{
    private Standardizer(float[] mean, float[] std)
    {
        Mean = mean;
        Std = std;
    }

    public float[] Mean { get; }
    public float[] Std { get; }

    public static Standardizer Fit(Dataset data)
    {
        int d = data.FeatureCount;
        var mean = new double[d];
        var sq = new double[d];
        for (int r = 0; r < data.Count; r++)
            for (int j = 0; j < d; j++) mean[j] += data.Features[r * d + j];
        for (int j = 0; j < d; j++) mean[j] /= Math.Max(1, data.Count);
        for (int r = 0; r < data.Count; r++)
            for (int j = 0; j < d; j++) sq[j] += Math.Pow(data.Features[r * d + j] - mean[j], 2);
        return new Standardizer(mean.Select(v => (float)v).ToArray(),
            sq.Select(v => (float)Math.Sqrt(v / Math.Max(1, data.Count))).ToArray());
    }

    public Dataset Transform(Dataset data)
    {
        if (data.FeatureCount != Mean.Length)
            throw new ArgumentException($"standardize: fitted on {Mean.Length} features, got {data.FeatureCount}.");
        var x = new float[data.Features.Length];
        for (int i = 0; i < x.Length; i++)
        {
            int j = i % Mean.Length;
            x[i] = Std[j] > 0 ? (data.Features[i] - Mean[j]) / Std[j] : data.Features[i] - Mean[j];
        }
        var result = data.Labels != null
            ? Dataset.WithLabels(x, data.FeatureCount, data.Labels)
            : Dataset.WithTargets(x, data.FeatureCount, data.Targets!, data.TargetCount);
        return result.WithSampleShape(data.SampleShape);
    }
}
