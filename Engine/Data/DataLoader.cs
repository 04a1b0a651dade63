using Engine.Data.Transforms;

namespace Engine.Data;

/// <summary>
/// One mini-batch on the device: features [n, ..sample shape] ([n, d] for a flat dataset, [n, C, H, W] for images;
/// the shape after the loader's transform, if it has one), and labels (host, for the loss's check) or targets.
/// </summary>
public sealed class Batch : IDisposable
{
    public Batch(Tensor features, int[]? labels, Tensor? targets, int[] indices, int? globalCount = null)
    {
        Features = features;
        Labels = labels;
        Targets = targets;
        Indices = indices;
        GlobalCount = globalCount ?? indices.Length;
    }

    public Tensor Features { get; }
    public int[]? Labels { get; }
    public Tensor? Targets { get; }

    /// <summary>The dataset rows in this batch, in order.</summary>
    public int[] Indices { get; }

    public int Count => Indices.Length;

    /// <summary>Rows of the whole batch across every rank (= <see cref="Count"/> unless the loader is sharded).</summary>
    public int GlobalCount { get; }

    public void Dispose()
    {
        Features.Dispose();
        Targets?.Dispose();
    }
}

/// <summary>
/// Iterates a <see cref="Dataset"/> in mini-batches: seeded shuffling (a new permutation each epoch), batch size,
/// drop-last. Each batch's rows are gathered on the host and uploaded with one copy per tensor (never one per
/// sample), features shaped [n, ..<see cref="Dataset.SampleShape"/>]. Batch size = dataset size is full-batch
/// training. An optional <see cref="Transforms.Transform"/> (augmentation, normalisation) is applied on the host to
/// each gathered sample, with randomness drawn from <see cref="SampleRandom"/>(<see cref="Seed"/>, epoch, dataset
/// row): the same seed and epoch give the same augmented batches, each epoch draws anew.
/// </summary>
public sealed class DataLoader
{
    private int epoch;

    /// <summary>
    /// A loader of <paramref name="batchSize"/>-row batches; <paramref name="seed"/> drives both the shuffle and the
    /// transform's randomness. <paramref name="transform"/> is applied to every sample as it is gathered (e.g. a
    /// <see cref="Compose"/> of <see cref="RandomCrop"/> and <see cref="Normalize"/>); null gives the rows as stored.
    /// An evaluation loader takes only the deterministic part (<see cref="Normalize"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The transform cannot take the dataset's samples (the built-in ones need
    /// image samples [C, H, W]); the message says why.</exception>
    public DataLoader(Device device, Dataset dataset, int batchSize, bool shuffle = true, bool dropLast = false,
        int seed = 0, Transform? transform = null)
    {
        Device = device ?? throw new ArgumentNullException(nameof(device));
        Dataset = dataset ?? throw new ArgumentNullException(nameof(dataset));
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batchSize must be ≥ 1, got {batchSize}.");
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Seed = seed;
        Transform = transform;
        sampleShape = transform?.OutputShape(dataset.SampleShape) ?? dataset.SampleShape;
    }

    private readonly int[] sampleShape;

    public Device Device { get; }
    public Dataset Dataset { get; }
    public int BatchSize { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }
    public int Seed { get; }

    /// <summary>The per-sample transform, or null.</summary>
    public Transform? Transform { get; }

    /// <summary>The shape of one sample of a batch (a copy): the dataset's, or the transform's output shape.</summary>
    public int[] SampleShape => (int[])sampleShape.Clone();

    /// <summary>
    /// Data-parallel sharding (PyTorch's <c>DistributedSampler</c>, applied per batch): every rank draws the same
    /// shuffled batches (same seed) and keeps its contiguous share of each, rows [n·r/N, n·(r+1)/N) of a batch of n
    /// for rank r of N, so the shards of a step are disjoint and together are exactly the one-process batch. A rank
    /// whose share of a last batch shorter than the world is empty still gets that batch, with <see cref="Batch.Count"/>
    /// 0 (so it takes part in the step's collectives); its tensors then hold one placeholder row. Null: no sharding.
    /// </summary>
    public (int Rank, int Size)? Shard
    {
        get => shard;
        init
        {
            if (value is { } v && !(v.Size >= 1 && v.Rank >= 0 && v.Rank < v.Size))
                throw new ArgumentOutOfRangeException(nameof(value), $"Shard: rank {v.Rank} of {v.Size} is not a rank of the world.");
            shard = value;
        }
    }

    private readonly (int Rank, int Size)? shard;

    /// <summary>
    /// Poisson sampling, as DP-SGD's privacy analysis assumes (Opacus' <c>DPDataLoader</c> with its
    /// <c>UniformWithReplacementSampler</c>): each of the <see cref="BatchCount"/> batches of an epoch takes every dataset
    /// row independently with probability q = <see cref="BatchSize"/>/N, so a batch has B ~ Binomial(N, q) rows (mean
    /// <see cref="BatchSize"/>; it may be empty: then <see cref="Batch.Count"/> is 0 and its tensors hold one placeholder
    /// row), a row may be in several batches of an epoch or in none, and rows come in dataset order. Seeded by
    /// (<see cref="Seed"/>, epoch, batch). <see cref="Shuffle"/> and <see cref="DropLast"/> do not apply; not with
    /// <see cref="Shard"/>.
    /// </summary>
    public bool PoissonSampling
    {
        get => poisson;
        init => poisson = value;
    }

    private readonly bool poisson;

    /// <summary>q = <see cref="BatchSize"/>/N, each row's chance to be in a Poisson-sampled batch (capped at 1).</summary>
    public double SampleRate => Math.Min(1.0, (double)BatchSize / Dataset.Count);

    /// <summary>
    /// Epochs started so far; the next <see cref="NextEpoch"/> shuffles with this epoch's permutation. Set it to
    /// resume a run (checkpoints do).
    /// </summary>
    public int Epoch
    {
        get => epoch;
        set => epoch = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"Epoch must be ≥ 0, got {value}.");
    }

    /// <summary>Batches per epoch.</summary>
    public int BatchCount => DropLast && !poisson ? Dataset.Count / BatchSize : (Dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>Rows of batch <paramref name="index"/> of an epoch over all shards (the last one may be short).</summary>
    public int GlobalRowsOf(int index) => DropLast ? BatchSize : Math.Min(BatchSize, Dataset.Count - index * BatchSize);

    /// <summary>
    /// The batches of the next epoch (dispose each, or iterate inside a <see cref="DisposeScope"/>), leaving out
    /// the first <paramref name="skipBatches"/> without gathering them (to resume mid-epoch).
    /// </summary>
    public IEnumerable<Batch> NextEpoch(int skipBatches = 0)
    {
        if (poisson)
        {
            if (shard != null) throw new NotSupportedException("DataLoader: Poisson sampling cannot be sharded over ranks.");
            int poissonEpoch = epoch++;
            for (int b = skipBatches; b < BatchCount; b++)
            {
                var rows = PoissonRows(poissonEpoch, b);
                yield return Gather(rows, rows.Length, poissonEpoch);
            }
            yield break;
        }
        var order = Shuffle ? Dataset.Permutation(Dataset.Count, unchecked(Seed * 7919 + epoch)) : Enumerable.Range(0, Dataset.Count).ToArray();
        int thisEpoch = epoch++;
        for (int b = skipBatches; b < BatchCount; b++)
        {
            int start = b * BatchSize, n = Math.Min(BatchSize, Dataset.Count - start);
            var indices = order[start..(start + n)];
            if (shard is var (rank, size)) indices = indices[(int)((long)n * rank / size)..(int)((long)n * (rank + 1) / size)];
            yield return Gather(indices, n, thisEpoch);
        }
    }

    /// <summary>
    /// The rows of Poisson batch <paramref name="batch"/> of <paramref name="epochNumber"/>: each row with probability q,
    /// drawn by geometric gaps (the gap to the next chosen row is ⌊log U / log(1 − q)⌋ + 1), O(B) not O(N).
    /// </summary>
    internal int[] PoissonRows(int epochNumber, int batch)
    {
        double q = SampleRate;
        if (q >= 1) return Enumerable.Range(0, Dataset.Count).ToArray();
        var random = new Random(unchecked(Seed * 486187739 + epochNumber * 7919 + batch * 104729 + 1));
        var rows = new List<int>((int)(Dataset.Count * q * 1.2) + 8);
        double logNot = Math.Log(1 - q);
        long at = -1;
        while (true)
        {
            double u = 1 - random.NextDouble(); // (0, 1]
            at += (long)Math.Floor(Math.Log(u) / logNot) + 1;
            if (at >= Dataset.Count) break;
            rows.Add((int)at);
        }
        return rows.ToArray();
    }

    private Batch Gather(int[] indices, int globalCount, int epochNumber)
    {
        var d = Dataset;
        if (indices.Length == 0) // this rank's share of a last batch shorter than the world: a placeholder row, Count 0
            return new Batch(Tensor.Zeros(Device, BatchShape(1)), d.Labels != null ? Array.Empty<int>() : null,
                d.Labels != null ? null : Tensor.Zeros(Device, new[] { 1, d.TargetCount }), indices, globalCount);
        var features = Tensor.FromArray(Device, GatherFeatures(indices, epochNumber), BatchShape(indices.Length));
        if (d.Labels != null) return new Batch(features, indices.Select(i => d.Labels[i]).ToArray(), null, indices, globalCount);
        var y = new float[indices.Length * d.TargetCount];
        for (int r = 0; r < indices.Length; r++) Array.Copy(d.Targets!, indices[r] * d.TargetCount, y, r * d.TargetCount, d.TargetCount);
        return new Batch(features, null, Tensor.FromArray(Device, y, new[] { indices.Length, d.TargetCount }), indices, globalCount);
    }

    private int[] BatchShape(int n) => sampleShape.Prepend(n).ToArray();

    /// <summary>The rows at <paramref name="indices"/>, each through the transform if there is one.</summary>
    private float[] GatherFeatures(int[] indices, int epochNumber)
    {
        var d = Dataset;
        int inCount = d.FeatureCount;
        if (Transform == null)
        {
            var rows = new float[indices.Length * inCount];
            for (int r = 0; r < indices.Length; r++) Array.Copy(d.Features, indices[r] * inCount, rows, r * inCount, inCount);
            return rows;
        }
        var transform = Transform;
        int[] inShape = d.SampleShape;
        int outCount = sampleShape.Aggregate(1, (p, s) => p * s);
        var x = new float[indices.Length * outCount];
        // Each sample's stream depends on (seed, epoch, row) only, so the samples may run on any threads in any order.
        Parallel.For(0, indices.Length, r =>
        {
            var random = new SampleRandom(Seed, epochNumber, indices[r]);
            transform.Apply(d.Features.AsSpan(indices[r] * inCount, inCount), inShape, x.AsSpan(r * outCount, outCount), ref random);
        });
        return x;
    }
}
