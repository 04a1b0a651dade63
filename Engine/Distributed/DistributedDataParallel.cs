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
/// </summary>
public sealed class DistributedDataParallel
{
    private readonly Module model;
    private readonly Optimizer optimizer;
    private float[]? written; // which parameters got a gradient, per rank, reused every step

    /// <exception cref="DistributedMismatchException">the ranks' models or optimizers differ in shape (on every rank).</exception>
    public DistributedDataParallel(Module model, Optimizer optimizer, ICommunicator communicator)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        Communicator = communicator ?? throw new ArgumentNullException(nameof(communicator));
        CheckSameEverywhere();
        SyncFromRoot();
    }

    public ICommunicator Communicator { get; }

    /// <summary>Rank 0's parameters, buffers (e.g. BatchNorm statistics) and optimizer state on every rank.</summary>
    public void SyncFromRoot()
    {
        var device = optimizer.Device;
        if (Communicator.Size == 1) return;
        foreach (var (_, tensor) in model.NamedTensors()) Communicator.Broadcast(device, tensor.Elements);
        var state = optimizer.GetState();
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
        optimizer.LoadState(new Optim.OptimizerState(state.Optimizer, (long)values[0],
            buffers.ToDictionary(kv => kv.Key, kv => kv.Value), lrs, named) { ParameterSteps = steps });
    }

    /// <summary>
    /// All-reduces the gradients: each rank's gradient is scaled by <paramref name="weight"/> and the results summed,
    /// in one collective over the optimizer's flat gradient buffer. The default weight 1/N is the mean; a rank that
    /// holds n_r of the global batch's n rows passes n_r/n, so the sum is the gradient of the global batch's mean loss
    /// even when the shards differ in size. A parameter gets a gradient (and a step) when any rank wrote one.
    /// </summary>
    public void AverageGradients(double? weight = null)
    {
        if (Communicator.Size == 1) return;
        var device = optimizer.Device;
        float w = (float)(weight ?? 1.0 / Communicator.Size);
        var grads = optimizer.FlatGradients;
        if (w != 1f) device.Kernels.Unary<AffineOp>(grads, grads, w, 0f);
        Communicator.AllReduce(device, grads, ReduceOp.Sum);
        var written = this.written ??= new float[optimizer.Parameters.Count];
        for (int i = 0; i < written.Length; i++) written[i] = optimizer.Parameters[i].GradWritten ? 1f : 0f;
        Communicator.AllReduce(written, ReduceOp.Max);
        for (int i = 0; i < written.Length; i++) optimizer.Parameters[i].GradWritten = written[i] != 0f;
    }

    /// <summary><see cref="AverageGradients"/>, then the optimizer's step (Horovod's <c>DistributedOptimizer.step</c>).</summary>
    public void Step(double? weight = null)
    {
        AverageGradients(weight);
        optimizer.Step();
    }

    /// <summary>Every rank's parameters become the mean over the ranks (model averaging; one collective).</summary>
    public void AverageParameters()
    {
        if (Communicator.Size == 1) return;
        Communicator.AllReduce(optimizer.Device, optimizer.FlatParameters, ReduceOp.Mean);
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
