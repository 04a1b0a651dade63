using System.Text;
using Engine.Kernels;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Distributed;

/// <summary>The ranks of a job disagree about something that must be the same everywhere (e.g. the model's shape).</summary>
public sealed class DistributedMismatchException(string message) : InvalidOperationException(message);

/// <summary>
/// Data-parallel training in the spirit of PyTorch's <c>DistributedDataParallel</c> and Horovod's
/// <c>DistributedOptimizer</c>: every rank holds the same model; at construction (and on <see cref="SyncFromRoot"/>, e.g.
/// after a resume) rank 0's parameters, buffers and optimizer state are broadcast; after each backward
/// <see cref="AverageGradients"/> all-reduces the optimizer's flat gradient buffer once, so every rank takes the same
/// step on the gradient of the whole (global) batch. A hand-written loop calls <c>loss.Backward();
/// ddp.Step();</c>; <see cref="Training.Trainer.Fit"/> does it with <see cref="Training.TrainerOptions.Communicator"/>.
/// <para>
/// With <see cref="ZeroStage.OptimizerState"/> (ZeRO stage 1) the flat buffers of T elements are cut into N shards of
/// b = ⌈T/N⌉ (the last padded), rank r owning [r·b, (r + 1)·b): the optimizer keeps state for its shard only;
/// <see cref="AverageGradients"/> all-reduces the weighted gradient as without sharding (see SumGradients for why not a
/// reduce-scatter); <see cref="OptimizerStep"/> updates the shard and all-gathers the parameters. Every rank still counts every parameter's steps, so bias corrections match the replicated run.
/// </para>
/// <para>
/// With <see cref="ZeroStage.Gradients"/> (ZeRO stage 2) each rank also keeps only its shard of the gradients: backward
/// hands each parameter's finished gradient to a bucket (about <c>bucketCapMb</c> each, as PyTorch DDP's
/// <c>bucket_cap_mb</c>), each whole bucket is summed over the ranks during backward, the rank keeps the part inside its
/// shard and releases the rest (see GradientBuckets). The weight of a rank's gradient must then be known before backward
/// (<see cref="GradientWeight"/>), every backward is reduced (no <c>no_sync</c>: gradient accumulation adds the reduced
/// shards, as DeepSpeed does), and a parameter's <see cref="Tensor.Grad"/> reads null after backward: clip with
/// <see cref="ClipGradNorm"/>, which computes the global norm over the shards.
/// </para>
/// </summary>
public sealed class DistributedDataParallel
{
    private readonly Module model;
    private readonly Optimizer optimizer;
    private float[]? written; // which parameters got a gradient, per rank, reused every step
    private readonly long block; // ZeRO: elements per shard (⌈T/N⌉)
    private float[]? padded; // ZeRO: host staging of N·block floats when T is not a multiple of N
    private readonly GradientBuckets? buckets; // ZeRO stage 2

    /// <param name="model">the model, the same shape on every rank.</param>
    /// <param name="optimizer">the optimizer over the model's parameters, the same kind on every rank.</param>
    /// <param name="communicator">the ranks of the job.</param>
    /// <param name="shard">what to shard over the ranks (<see cref="ZeroStage.OptimizerState"/>: ZeRO stage 1;
    /// <see cref="ZeroStage.Gradients"/>: stage 2).</param>
    /// <param name="bucketCapMb">ZeRO stage 2: the size of a gradient bucket in MiB (PyTorch DDP's <c>bucket_cap_mb</c>,
    /// 25 by default); smaller buckets hold less memory and reduce more often.</param>
    /// <exception cref="DistributedMismatchException">the ranks' models or optimizers differ in shape, or the ranks
    /// ask for different <paramref name="shard"/> stages (on every rank, naming them).</exception>
    /// <exception cref="NotSupportedException">ZeRO with an optimizer whose rule needs a whole parameter group at once
    /// (<see cref="Lamb"/>, <see cref="AdaptiveSgd"/>) or with <see cref="Optimizer.StepInBackward"/> on.</exception>
    public DistributedDataParallel(Module model, Optimizer optimizer, ICommunicator communicator, ZeroStage shard = ZeroStage.None,
        double bucketCapMb = 25)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        Communicator = communicator ?? throw new ArgumentNullException(nameof(communicator));
        if (!Enum.IsDefined(shard)) throw new ArgumentOutOfRangeException(nameof(shard), $"no ZeRO stage {shard}.");
        if (!(bucketCapMb > 0) || double.IsInfinity(bucketCapMb))
            throw new ArgumentOutOfRangeException(nameof(bucketCapMb), $"bucketCapMb must be a positive size in MiB, got {bucketCapMb}.");
        CheckSameStageEverywhere(shard);
        CheckSameEverywhere();
        var had = optimizer.GradientsSharded ? ZeroStage.Gradients : optimizer.IsSharded ? ZeroStage.OptimizerState : ZeroStage.None;
        if (had != ZeroStage.None && had != shard)
            throw new InvalidOperationException(
                $"{optimizer.Name} was sharded by an earlier ZeRO run ({had}); it can only go on under the same stage with the same ranks, not {shard}.");
        Zero = shard;
        GradientWeight = 1.0 / Communicator.Size;
        SyncFromRoot(); // the whole state from rank 0, before each rank keeps its shard of it
        if (shard != ZeroStage.None && Communicator.Size > 1)
        {
            block = (optimizer.TotalElements + Communicator.Size - 1) / Communicator.Size;
            optimizer.ShardState(Communicator.Rank * block, block);
        }
        if (shard == ZeroStage.Gradients && Communicator.Size > 1)
        {
            optimizer.ShardGradients();
            buckets = new GradientBuckets(optimizer, Communicator, (long)(bucketCapMb * (1 << 20) / sizeof(float)))
            {
                Weight = (float)GradientWeight,
            };
        }
    }

    /// <summary>
    /// ZeRO stage 2: the factor this rank's gradient is scaled by before the sum over the ranks (1/N by default: the
    /// mean). The buckets are summed during backward, so set it before <c>Backward()</c> when it changes (a rank holding
    /// n_r of the global batch's n rows sets n_r/n). Without stage 2 the weight is <see cref="AverageGradients"/>'s
    /// argument instead.
    /// </summary>
    public double GradientWeight
    {
        get;
        set
        {
            if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), $"GradientWeight must be finite, got {value}.");
            field = value;
            if (buckets != null) buckets.Weight = (float)value;
        }
    }

    /// <summary>How many gradient buckets ZeRO stage 2 reduces per backward (0 without stage 2).</summary>
    public int GradientBucketCount => buckets?.Count ?? 0;

    public ICommunicator Communicator { get; }

    /// <summary>What this data-parallel run shards over the ranks.</summary>
    public ZeroStage Zero { get; }

    private bool Sharded => Zero != ZeroStage.None && Communicator.Size > 1;

    /// <summary>
    /// Rank 0's parameters, buffers (e.g. BatchNorm statistics) and optimizer state on every rank. Under ZeRO stage 1
    /// the step counts, learning rates and the rule's scalars come from rank 0, but each rank keeps its own shard of the
    /// state buffers (no rank holds another's): they are consistent because only their owner ever updates them.
    /// </summary>
    public void SyncFromRoot()
    {
        var device = optimizer.Device;
        if (Communicator.Size == 1) return;
        foreach (var (_, tensor) in model.NamedTensors()) Communicator.Broadcast(device, tensor.Elements);
        bool sharded = optimizer.IsSharded;
        var state = sharded ? optimizer.GetCounts() : optimizer.GetState();
        var scalars = new List<double> { state.Step };
        scalars.AddRange(state.ParameterSteps!.Select(t => (double)t));
        scalars.AddRange(state.GroupLrs.Select(l => (double)l));
        scalars.AddRange(state.Scalars.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value));
        var values = scalars.ToArray();
        BroadcastDoubles(values);
        var buffers = state.Buffers.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        foreach (var (_, data) in buffers) Communicator.Broadcast(data);
        if (Communicator.Rank == 0) return;
        int at = 1;
        var steps = state.ParameterSteps!.Select(_ => (long)values[at++]).ToArray();
        var lrs = state.GroupLrs.Select(_ => (float)values[at++]).ToList();
        var named = state.Scalars.Keys.Order(StringComparer.Ordinal).ToDictionary(k => k, _ => values[at++]);
        var received = new Optim.OptimizerState(state.Optimizer, (long)values[0],
            buffers.ToDictionary(kv => kv.Key, kv => kv.Value), lrs, named) { ParameterSteps = steps };
        if (sharded) optimizer.LoadCounts(received);
        else optimizer.LoadState(received);
    }

    /// <summary>
    /// All-reduces the gradients: each rank's gradient is scaled by <paramref name="weight"/> and the results summed,
    /// in one collective over the optimizer's flat gradient buffer. The default weight 1/N is the mean; a rank that
    /// holds n_r of the global batch's n rows passes n_r/n, so the sum is the gradient of the global batch's mean loss
    /// even when the shards differ in size. A parameter gets a gradient (and a step) when any rank wrote one. Under ZeRO
    /// stage 1 too every rank gets the whole summed gradient (clipping by the global norm works as without sharding).
    /// Under stage 2 backward has reduced most buckets already; this reduces the rest (every rank must call it after
    /// every backward, or in place of one when its share of the batch was empty), and the weight is
    /// <see cref="GradientWeight"/>, set before backward (a different <paramref name="weight"/> here is an error).
    /// </summary>
    /// <exception cref="InvalidOperationException">stage 2 and <paramref name="weight"/> differs from <see cref="GradientWeight"/>.</exception>
    public void AverageGradients(double? weight = null)
    {
        if (Communicator.Size == 1) return;
        var device = optimizer.Device;
        if (buckets != null)
        {
            if (weight is double given && Math.Abs(given - GradientWeight) > 1e-12 * Math.Max(1, Math.Abs(given)))
                throw new InvalidOperationException(
                    $"AverageGradients(weight: {given}): under ZeRO stage 2 the gradients were summed during backward with " +
                    $"GradientWeight {GradientWeight}; set ddp.GradientWeight = {given} before Backward().");
            buckets.Flush();
        }
        else
        {
            float w = (float)(weight ?? 1.0 / Communicator.Size);
            var grads = optimizer.FlatGradients;
            if (w != 1f) device.Kernels.Unary<AffineOp>(grads, grads, w, 0f);
            SumGradients();
        }
        var written = this.written ??= new float[optimizer.Parameters.Count];
        for (int i = 0; i < written.Length; i++) written[i] = optimizer.Parameters[i].GradWritten ? 1f : 0f;
        Communicator.AllReduce(written, ReduceOp.Max);
        for (int i = 0; i < written.Length; i++) optimizer.Parameters[i].GradWritten = written[i] != 0f;
    }

    /// <summary><see cref="AverageGradients"/>, then <see cref="OptimizerStep"/> (Horovod's <c>DistributedOptimizer.step</c>).</summary>
    public void Step(double? weight = null)
    {
        AverageGradients(weight);
        OptimizerStep();
    }

    /// <summary>
    /// The optimizer's step on the averaged gradients; under ZeRO stage 1 each rank updates its shard and the
    /// parameters are all-gathered, so every rank ends with the whole updated model. Every rank must call it.
    /// </summary>
    public void OptimizerStep()
    {
        optimizer.Step();
        if (Sharded) GatherParameters();
    }

    /// <summary>
    /// Whether the averaged gradients are all finite: the same answer on every rank. Without gradient sharding every rank
    /// holds the whole summed gradient and no collective is needed; under ZeRO stage 2 each rank checks its shard and one
    /// all-reduce of a flag combines them (every rank must call it then).
    /// </summary>
    public bool GradientsAreFinite()
    {
        bool mine = optimizer.GradientsAreFinite();
        if (buckets == null) return mine;
        var flag = new[] { mine ? 0.0 : 1.0 };
        Communicator.AllReduce(flag, ReduceOp.Max);
        return flag[0] == 0;
    }

    /// <summary>
    /// <c>torch.nn.utils.clip_grad_norm_</c> over the averaged gradients: ‖g‖ = √Σ g², and when c = maxNorm / (‖g‖ + 1e−6)
    /// &lt; 1 every gradient is scaled by c. Returns ‖g‖ before clipping as a scalar tensor, as <see cref="GradClip.ClipGradNorm"/>
    /// does (no host read unless you call <c>Item()</c>). Under ZeRO stage 2, where no rank holds the whole gradient, each
    /// rank sums the squares of its shard and one all-reduce of that host scalar adds them (DeepSpeed's gradient clipping);
    /// every rank must call it then.
    /// </summary>
    public Tensor ClipGradNorm(float maxNorm)
    {
        Hyper.NonNegative("maxNorm", maxNorm);
        if (buckets == null) return GradClip.ClipGradNorm(optimizer.Parameters, maxNorm);
        var device = optimizer.Device;
        var held = optimizer.HeldGradients;
        var norm = Tensor.Zeros(device, Array.Empty<int>());
        if (held.Length > 0) device.Kernels.SumAll<Square>(held, held, norm.Elements, 1f);
        var total = new[] { (double)norm.Item() };
        Communicator.AllReduce(total, ReduceOp.Sum);
        device.Kernels.Fill(norm.Elements, (float)Math.Sqrt(total[0]));
        double c = maxNorm / (Math.Sqrt(total[0]) + 1e-6);
        if (c < 1 && held.Length > 0) device.Kernels.Unary<AffineOp>(held, held, (float)c, 0f);
        return norm;
    }

    /// <summary>
    /// ZeRO stage 1: gathers every rank's shard of the optimizer state (one all-gather per state buffer, through a host
    /// copy of N·b floats), so that <see cref="Optimizer.GetState"/>, and a checkpoint, return the whole state until the
    /// next step (PyTorch's <c>ZeroRedundancyOptimizer.consolidate_state_dict</c>). Every rank must call it, and every
    /// rank gets the whole state for a moment (host memory); without sharding it does nothing.
    /// </summary>
    public void ConsolidateState()
    {
        if (!Sharded) return;
        var device = optimizer.Device;
        long total = optimizer.TotalElements;
        var buffers = new Dictionary<string, float[]>();
        foreach (var (name, shard) in optimizer.StateShards)
        {
            var all = FlatChunk.HostArray(block * Communicator.Size, $"ConsolidateState ('{name}')");
            device.Kernels.Download(shard, all.AsSpan((int)(Communicator.Rank * block), (int)block)); // all is a host array
            Communicator.AllGather(all);
            buffers[name] = all[..(int)total];
        }
        var counts = optimizer.GetCounts();
        optimizer.SetConsolidatedState(new Optim.OptimizerState(counts.Optimizer, counts.Step, buffers, counts.GroupLrs.ToList(),
            counts.Scalars) { ParameterSteps = counts.ParameterSteps });
    }

    /// <summary>Bytes of optimizer state this rank holds (1/N of the replicated amount under ZeRO stages 1 and 2, padded).</summary>
    public long OptimizerStateBytes => optimizer.StateBytes;

    /// <summary>Bytes of gradient buffer this rank keeps between steps (1/N of the replicated amount under ZeRO stage 2, padded).</summary>
    public long GradientBytes => optimizer.GradientBytes;

    /// <summary>
    /// Each rank's shard of the gradient buffer becomes the sum over the ranks. It is an all-reduce of the whole
    /// buffer, as PyTorch's ZeroRedundancyOptimizer under DDP does, not a reduce-scatter: on Open MPI's shared-memory
    /// transport here MPI_Reduce_scatter_block measured 20–30× slower than MPI_Allreduce for 1–64 MB
    /// (<c>Engine.Benchmarks distributed</c>), so the all-reduce's extra half of the traffic costs far less. Stage 1 keeps
    /// the whole gradient buffer on every rank anyway; sharding the gradients (stage 2) will need the reduce-scatter.
    /// </summary>
    private void SumGradients() => Communicator.AllReduce(optimizer.Device, optimizer.FlatGradients, ReduceOp.Sum);

    /// <summary>Every rank's updated shard of the parameters onto every rank (the padded path as for the gradients).</summary>
    private void GatherParameters()
    {
        var device = optimizer.Device;
        var parameters = optimizer.FlatParameters;
        if (parameters.Length == (long)block * Communicator.Size)
        {
            Communicator.AllGather(device, parameters);
            return;
        }
        var staging = padded ??= FlatChunk.HostArray(block * Communicator.Size, "ZeRO's padded parameter all-gather");
        var (from, kept) = MineInFlat();
        if (kept > 0) device.Kernels.Download(parameters.SubView(from, kept), staging.AsSpan((int)from, (int)kept)); // a host array
        Communicator.AllGather(staging);
        device.Kernels.Upload<float>(staging.AsSpan(0, (int)parameters.Length), parameters);
    }

    /// <summary>This rank's shard clipped to the flat buffers (the padding is in no buffer).</summary>
    private (long From, long Count) MineInFlat()
    {
        long from = Communicator.Rank * block;
        return (from, Math.Clamp(optimizer.TotalElements - from, 0, block));
    }

    /// <summary>Every rank's parameters become the mean over the ranks (model averaging; one collective).</summary>
    public void AverageParameters()
    {
        if (Communicator.Size == 1) return;
        Communicator.AllReduce(optimizer.Device, optimizer.FlatParameters, ReduceOp.Mean);
    }

    /// <summary>
    /// Every rank learns every rank's ZeRO stage (one all-reduce of N values); when they differ, every rank throws the
    /// same error naming which ranks asked for which stage (instead of the job hanging in mismatched collectives).
    /// </summary>
    private void CheckSameStageEverywhere(ZeroStage stage)
    {
        if (Communicator.Size == 1) return;
        var stages = new double[Communicator.Size];
        stages[Communicator.Rank] = (int)stage + 1;
        Communicator.AllReduce(stages, ReduceOp.Sum);
        if (stages.All(s => s == stages[0])) return;
        var groups = Enumerable.Range(0, stages.Length).GroupBy(r => stages[r])
            .Select(g => $"rank{(g.Count() > 1 ? "s" : "")} {string.Join(", ", g)}: {(ZeroStage)((int)g.Key - 1)}");
        throw new DistributedMismatchException(
            $"the ranks ask for different ZeRO stages ({string.Join("; ", groups)}); pass the same ZeroStage on every rank.");
    }

    private void BroadcastDoubles(double[] values)
    {
        var bytes = new byte[values.Length * sizeof(double)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        Communicator.Broadcast(bytes);
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
    }

    /// <summary>
    /// Compares, across ranks, the model's tensor count, element count and a digest of its names and shapes, and the
    /// optimizer's kind and size (two small all-reduces: min and max); every rank throws the same error on a mismatch.
    /// </summary>
    private void CheckSameEverywhere()
    {
        var tensors = model.NamedTensors().ToList();
        string layout = string.Join(";", tensors.Select(t => $"{t.Name}:{string.Join("x", t.Tensor.Shape)}")) + "|" + optimizer.Name;
        ulong digest = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(layout)) digest = (digest ^ b) * 1099511628211UL;
        var mine = new double[] { tensors.Count, tensors.Sum(t => (double)t.Tensor.Numel), digest >> 32, digest & 0xFFFFFFFF, optimizer.TotalElements };
        var low = (double[])mine.Clone();
        var high = (double[])mine.Clone();
        Communicator.AllReduce(low, ReduceOp.Min);
        Communicator.AllReduce(high, ReduceOp.Max);
        if (low.SequenceEqual(high)) return;
        throw new DistributedMismatchException(
            $"the ranks' models differ: rank {Communicator.Rank} has {mine[0]} tensors with {mine[1]:N0} elements " +
            $"({optimizer.Name} over {mine[4]:N0}), while across the {Communicator.Size} ranks they range over " +
            $"{low[0]}–{high[0]} tensors and {low[1]:N0}–{high[1]:N0} elements" +
            (low[0] == high[0] && low[1] == high[1] ? " (same sizes, different names, shapes or optimizer)" : "") +
            ". Build the same model and optimizer on every rank.");
    }
}
