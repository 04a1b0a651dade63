using Engine.Kernels;
using Engine.Optim;
using ILGPU;

namespace Engine.Distributed;

/// <summary>
/// ZeRO stage 2's gradient path (DeepSpeed's "reduce bucket", PyTorch DDP's gradient buckets): the parameters, in the
/// order backward completes them, are grouped into buckets of about <c>bucketElements</c> elements. The first backward
/// guesses that order (the flat layout's, last first); at its end rank 0's observed order is broadcast and the buckets are
/// rebuilt from it, as PyTorch DDP rebuilds its buckets after the first iteration (parameter groups and tied weights make
/// the flat layout a poor guess: a bucket holding a parameter that finishes last would hold back every bucket after it).
/// Within a bucket the parameters lie in flat order, so runs of neighbours move as one. When backward completes a parameter's
/// gradient (<see cref="IGradientReadyHook"/>) it is copied into its bucket's staging buffer, scaled by the rank's weight
/// w, and released; when a bucket is whole it is summed over the ranks (one all-reduce) and the part of it inside this
/// rank's shard [s, s + b) is added to the optimizer's shard of the gradients: Gshard += Σ_r w_r·g_r on [s, s + b). So a
/// rank holds its shard of the gradients, about one bucket being reduced and the parameters' gradients that backward has
/// not finished, never the whole gradient.
/// <para>
/// Every rank must run the same collectives in the same order, whatever its data: buckets are reduced strictly in order
/// (a bucket completed early waits for those before it), each exactly once per round, and <see cref="Flush"/>, which
/// every rank calls after its backward (or instead of one, when its share of the batch was empty), reduces what is left,
/// with zeros for parameters that got no gradient on this rank.
/// </para>
/// </summary>
internal sealed class GradientBuckets : IGradientReadyHook
{
    private readonly Optimizer optimizer;
    private readonly ICommunicator communicator;
    private readonly Dictionary<Tensor, int> indexOf = new(ReferenceEqualityComparer.Instance);
    private readonly long bucketElements;
    private Bucket[] buckets = [];
    private readonly int[] bucketOf;
    private readonly int[] offsetInBucket;
    private readonly bool[] staged;
    private int next; // the next bucket to reduce in this round
    private List<int>? readyOrder = new(); // the first round's order of completion, until the buckets are rebuilt from it

    /// <summary>A bucket: its parameters' gradients packed in flat order, and the runs [Flat, Flat + Length) of the flat
    /// layout that lie back to back in it from InBucket.</summary>
    private sealed class Bucket(int length, int parameters, List<(long Flat, int InBucket, int Length)> runs)
    {
        public int Length { get; } = length;
        public int Parameters { get; } = parameters;
        public List<(long Flat, int InBucket, int Length)> Runs { get; } = runs;
        public int Pending { get; set; } = parameters;
        public TensorStorage? Staging { get; set; }
    }

    /// <param name="optimizer">the optimizer, its state and gradients sharded (ZeRO stage 2).</param>
    /// <param name="communicator">the ranks.</param>
    /// <param name="bucketElements">the target size of a bucket in elements (a larger parameter gets a bucket of its own).</param>
    public GradientBuckets(Optimizer optimizer, ICommunicator communicator, long bucketElements)
    {
        this.optimizer = optimizer;
        this.communicator = communicator;
        // A bucket is one launch and one host-addressable run: at most FlatChunk.Elements (2³⁰), whatever the cap.
        this.bucketElements = Math.Clamp(bucketElements, 1, FlatChunk.Elements);
        var parameters = optimizer.Parameters;
        for (int i = 0; i < parameters.Count; i++) indexOf[parameters[i]] = i;
        bucketOf = new int[parameters.Count];
        offsetInBucket = new int[parameters.Count];
        staged = new bool[parameters.Count];
        Build(Enumerable.Range(0, parameters.Count).Reverse().ToArray());
        foreach (var p in parameters) p.GradientReadyHook = this;
    }

    /// <summary>Cuts <paramref name="order"/> (every parameter once) into buckets of about bucketElements elements.</summary>
    private void Build(int[] order)
    {
        var parameters = optimizer.Parameters;
        var list = new List<Bucket>();
        var members = new List<int>();
        long length = 0;
        void Close()
        {
            members.Sort((a, b) => parameters[a].Placement.Offset.CompareTo(parameters[b].Placement.Offset));
            var runs = new List<(long Flat, int InBucket, int Length)>();
            int at = 0;
            foreach (int i in members)
            {
                long flat = parameters[i].Placement.Offset;
                int numel = parameters[i].Numel;
                bucketOf[i] = list.Count;
                offsetInBucket[i] = at;
                if (runs.Count > 0 && runs[^1].Flat + runs[^1].Length == flat)
                    runs[^1] = (runs[^1].Flat, runs[^1].InBucket, runs[^1].Length + numel);
                else runs.Add((flat, at, numel));
                at += numel;
            }
            list.Add(new Bucket(at, members.Count, runs));
            members.Clear();
            length = 0;
        }
        foreach (int i in order)
        {
            if (members.Count > 0 && length + parameters[i].Numel > bucketElements) Close();
            members.Add(i);
            length += parameters[i].Numel;
        }
        if (members.Count > 0) Close();
        buckets = list.ToArray();
    }

    /// <summary>
    /// After the first round: rank 0's order of completion (the parameters it never saw complete after it, last first)
    /// goes to every rank (one broadcast), and every rank rebuilds the same buckets from it.
    /// </summary>
    private void RebuildFromRootsOrder()
    {
        int count = optimizer.Parameters.Count;
        var order = readyOrder!.Concat(Enumerable.Range(0, count).Reverse().Except(readyOrder!)).ToArray();
        var bytes = new byte[count * sizeof(int)];
        Buffer.BlockCopy(order, 0, bytes, 0, bytes.Length);
        communicator.Broadcast(bytes);
        Buffer.BlockCopy(bytes, 0, order, 0, bytes.Length);
        readyOrder = null;
        Build(order);
    }

    /// <summary>How many buckets the parameters form.</summary>
    public int Count => buckets.Length;

    /// <summary>The factor w this rank's gradients are scaled by before the sum (1/N: the mean over the ranks).</summary>
    public float Weight { get; set; } = 1f;

    public void GradientReady(Tensor leaf)
    {
        if (!ReferenceEquals(leaf.StepOwner, optimizer))
        {
            // The parameter went to a newer optimizer (or this one was disposed): its gradient is that one's now.
            leaf.GradientReadyHook = null;
            return;
        }
        int i = indexOf[leaf];
        if (bucketOf[i] < next)
            throw new InvalidOperationException(
                $"ZeRO stage 2: a second backward added to parameter {i} (shape {Shapes.Format(leaf.Shape)}) after its " +
                "bucket was reduced over the ranks; call DistributedDataParallel.AverageGradients() after every backward " +
                "(stage 2 reduces each backward's gradients; it has no no_sync).");
        readyOrder?.Add(i);
        Stage(i, leaf);
        while (next < buckets.Length && buckets[next].Pending == 0) Reduce(buckets[next++]);
    }

    /// <summary>
    /// Reduces every bucket not reduced yet in this round, in order (a parameter whose gradient backward wrote but never
    /// reported complete, e.g. used outside the traversal, is staged now; one that got none contributes zeros), and starts
    /// the next round.
    /// </summary>
    public void Flush()
    {
        var parameters = optimizer.Parameters;
        for (; next < buckets.Length; next++)
        {
            for (int i = 0; i < parameters.Count; i++)
                if (bucketOf[i] == next && !staged[i] && parameters[i].Grad != null) Stage(i, parameters[i]);
            Reduce(buckets[next]);
        }
        next = 0;
        Array.Clear(staged);
        if (readyOrder != null) RebuildFromRootsOrder();
        foreach (var b in buckets) b.Pending = b.Parameters;
    }

    /// <summary>Copies parameter <paramref name="i"/>'s gradient, times the weight, into its bucket and releases it.</summary>
    private void Stage(int i, Tensor p)
    {
        var bucket = buckets[bucketOf[i]];
        var staging = StagingOf(bucket);
        if (p.Grad is { } grad)
        {
            var target = staging.View.SubView(offsetInBucket[i], p.Numel);
            optimizer.Device.Kernels.Unary<AffineOp>(grad.Elements, target, Weight, 0f);
            p.ReleaseGradKeepWritten();
        }
        if (!staged[i])
        {
            staged[i] = true;
            bucket.Pending--;
        }
    }

    private TensorStorage StagingOf(Bucket bucket)
    {
        if (bucket.Staging != null) return bucket.Staging;
        bucket.Staging = new TensorStorage(optimizer.Device, bucket.Length);
        optimizer.Device.Kernels.Fill(bucket.Staging.View, 0f);
        return bucket.Staging;
    }

    /// <summary>Sums the bucket over the ranks and adds its part inside this rank's shard to the shard's gradients.</summary>
    private void Reduce(Bucket bucket)
    {
        var device = optimizer.Device;
        var staging = StagingOf(bucket);
        communicator.AllReduce(device, staging.View, ReduceOp.Sum);
        var (shardStart, shardLength) = optimizer.Shard;
        foreach (var (flat, inBucket, length) in bucket.Runs)
        {
            long from = Math.Max(flat, shardStart), to = Math.Min(flat + length, shardStart + shardLength);
            if (to > from)
                device.Kernels.Accumulate(staging.View.SubView(inBucket + from - flat, to - from),
                    optimizer.HeldGradients.SubView(from - shardStart, to - from));
        }
        staging.Release(); // back to the pool: a later user of it runs after these kernels on the device's stream
        bucket.Staging = null;
    }
}
