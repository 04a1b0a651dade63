using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Optim;

/// <summary>
/// Base of the optimizers. At construction it gathers every parameter into one flat device buffer (each
/// parameter becomes a view into it) and every gradient into another, so that a step is one fused kernel per
/// parameter group whatever the number of tensors, and <see cref="ZeroGrad"/> is one launch. State buffers
/// (moments, accumulators) are flat the same way and named as in torch.optim.
/// </summary>
public abstract class Optimizer : IDisposable
{
    private readonly List<ParamGroup> groups;
    private readonly List<Tensor> parameters;
    private readonly Dictionary<string, TensorStorage> state = new();
    private readonly Dictionary<string, float> stateInitialValues = new();
    private readonly TensorStorage flatParameters;
    private TensorStorage flatGradients;

    /// <summary>The first flat element <see cref="flatGradients"/> holds: 0, or the shard's start once the gradients are
    /// sharded (ZeRO stage 2: the buffer then holds the shard only).</summary>
    private long gradientStart;
    private readonly Dictionary<Tensor, int> indexOf = new(ReferenceEqualityComparer.Instance);
    private readonly ParamGroup[] groupOfParameter;
    private readonly bool[] steppedInBackward;
    private readonly long[] parameterSteps;
    private bool disposed;
    private bool stepInBackward;

    /// <summary>The elements of the flat buffers this optimizer updates and keeps state for: all of them unless sharded.</summary>
    private long shardStart, shardLength;

    /// <summary>The whole state gathered from every shard since the last change (see <see cref="SetConsolidatedState"/>).</summary>
    private OptimizerState? consolidated;

    protected Optimizer(string name, IEnumerable<ParamGroup> parameterGroups, float lr, float weightDecay, float l1)
    {
        ArgumentNullException.ThrowIfNull(parameterGroups);
        Name = name;
        Hyper.NonNegative("lr", lr);
        Hyper.NonNegative("weightDecay", weightDecay);
        Hyper.NonNegative("l1", l1);
        groups = parameterGroups.ToList();
        parameters = groups.SelectMany(g => g.Parameters).ToList();
        if (parameters.Count == 0)
            throw new ArgumentException($"{name}: got an empty parameter list.", nameof(parameterGroups));
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            ArgumentNullException.ThrowIfNull(p, $"parameter {i}");
            p.ThrowIfDisposed($"{name}: parameter {i}");
            if (!seen.Add(p))
                throw new ArgumentException($"{name}: parameter {i} (shape {Shapes.Format(p.Shape)}) appears twice.");
            if (!p.RequiresGrad)
                throw new ArgumentException(
                    $"{name}: parameter {i} (shape {Shapes.Format(p.Shape)}) does not require grad.");
            if (!p.IsLeaf)
                throw new ArgumentException(
                    $"{name}: parameter {i} (shape {Shapes.Format(p.Shape)}) is not a leaf; optimize leaves only.");
            if (!ReferenceEquals(p.Device, parameters[0].Device))
                throw new ArgumentException($"{name}: parameters are on different devices.");
        }
        Device = parameters[0].Device;

        long total = 0;
        foreach (var group in groups)
        {
            group.Lr = group.RequestedLr ?? lr;
            group.InitialLr = group.Lr;
            group.WeightDecay = Hyper.NonNegative("weightDecay", group.RequestedWeightDecay ?? weightDecay);
            group.L1 = Hyper.NonNegative("l1", group.RequestedL1 ?? l1);
            group.Start = total;
            group.Length = group.Parameters.Sum(p => p.Numel);
            total += group.Length;
        }
        TotalElements = total;
        shardLength = total;

        flatParameters = new TensorStorage(Device, total);
        flatGradients = new TensorStorage(Device, total);
        FlatChunk.Fill(Device.Kernels, flatGradients.View, 0f);
        long at = 0;
        foreach (var p in parameters)
        {
            var oldGrad = p.Grad;
            p.MoveInto(flatParameters, at);
            var grad = Tensor.ViewInto(flatGradients, Device, p.Shape, at);
            if (oldGrad != null) Device.Kernels.Accumulate(oldGrad.Elements, grad.Elements);
            p.GradWritten = oldGrad != null;
            p.AttachGrad(grad);
            p.StepOwner = this;
            indexOf[p] = indexOf.Count;
            at += p.Numel;
        }
        groupOfParameter = groups.SelectMany(g => g.Parameters.Select(_ => g)).ToArray();
        steppedInBackward = new bool[parameters.Count];
        parameterSteps = new long[parameters.Count];
    }

    /// <summary>
    /// Fuses the update into backward where the rule allows it (the pattern PyTorch documents as "optimizer step in
    /// backward"): a parameter whose whole gradient one matrix product produces (a <c>Linear</c> weight used once in
    /// the graph) is updated by that product directly, θ ← θ − γ·(dyᵀx), and its gradient is never written; the other
    /// parameters are updated by <see cref="Step"/> as usual, and <see cref="ZeroGrad"/> only clears gradients that were
    /// written. It saves two passes over the largest tensors, which is what a per-sample (batch-1) step is made of.
    /// Only rules that are linear in the gradient with no state can fuse: <see cref="Sgd"/> without momentum, weight
    /// decay or l1 (other settings, and other optimizers, quietly take the ordinary path). Off by default; the
    /// <see cref="Training.OnlineTrainer"/> turns it on for its own steps. A second <c>Backward</c> through a retained
    /// graph applies the fused update again, as it would accumulate the gradient again.
    /// </summary>
    /// <exception cref="NotSupportedException">set on an optimizer whose state is sharded (ZeRO).</exception>
    public bool StepInBackward
    {
        get => stepInBackward;
        set
        {
            if (value && IsSharded)
                throw new NotSupportedException(
                    $"{Name}: step-in-backward fusion updates whole parameters during backward, before the gradients are " +
                    "summed over the ranks; it cannot run with ZeRO optimizer-state sharding.");
            stepInBackward = value;
        }
    }

    /// <summary>
    /// The factor γ' with which a backward may apply θ ← θ + γ'·(gradient) to <paramref name="p"/> now, in place of
    /// writing its gradient; false when this optimizer, its settings or the parameter's group do not allow it.
    /// </summary>
    internal bool TryStepInBackward(Tensor p, out float scale)
    {
        scale = 0f;
        if (!StepInBackward || disposed || !indexOf.TryGetValue(p, out int i)) return false;
        if (FusedStepScale(groupOfParameter[i]) is not float s) return false;
        scale = s;
        return true;
    }

    /// <summary>
    /// The scale s of a fusable update θ += s·g for <paramref name="p"/> (−lr for plain SGD), whatever
    /// <see cref="StepInBackward"/> says; null when <paramref name="p"/>'s rule is not a plain scaled gradient.
    /// </summary>
    internal float? FusedScaleFor(Tensor p) =>
        !disposed && !IsSharded && indexOf.TryGetValue(p, out int i) ? FusedStepScale(groupOfParameter[i]) : null;

    /// <summary>Counts a step whose every update a fused kernel applied (the per-sample dense step).</summary>
    internal void CountFusedStep()
    {
        ThrowIfDisposed();
        StepCount++;
        for (int i = 0; i < parameterSteps.Length; i++) parameterSteps[i]++;
    }

    /// <summary>Records that a backward applied <paramref name="p"/>'s update (see <see cref="StepInBackward"/>).</summary>
    internal void SteppedInBackward(Tensor p) => steppedInBackward[indexOf[p]] = true;

    /// <summary>
    /// γ' such that this rule's update of a group is θ ← θ + γ'·g for any gradient g and has no state, or null when it
    /// is not (the default: no fusion).
    /// </summary>
    protected virtual float? FusedStepScale(ParamGroup group) => null;

    /// <summary>A parameter's slice of the flat parameter buffer and of the flat gradient buffer.</summary>
    private ArrayView<float> GradientSlice(Tensor p) => flatGradients.View.SubView(p.Placement.Offset, p.Numel);

    /// <summary>The optimizer's name as in torch.optim (e.g. "Adam").</summary>
    public string Name { get; }

    public Device Device { get; }

    public IReadOnlyList<ParamGroup> ParamGroups => groups;

    /// <summary>Calls of <see cref="Step"/> (and fused steps). Each parameter's own count is <see cref="StepOf"/>.</summary>
    public long StepCount { get; private set; }

    /// <summary>
    /// The steps that updated <paramref name="p"/>: PyTorch's <c>state[p]['step']</c>, which a parameter that got no
    /// gradient in some steps lags behind <see cref="StepCount"/>. It is the t of the rule's bias corrections.
    /// </summary>
    public long StepOf(Tensor p)
    {
        ThrowIfDisposed();
        return indexOf.TryGetValue(p, out int i) ? parameterSteps[i]
            : throw new ArgumentException($"{Name}.StepOf: the tensor (shape {Shapes.Format(p.Shape)}) is not one of this optimizer's parameters.");
    }

    /// <summary>
    /// The step t of the parameters the current <see cref="Update"/> call covers (each parameter's own count, as
    /// PyTorch keeps it; one launch covers only parameters with the same count).
    /// </summary>
    protected long ParameterStep { get; private set; }

    /// <summary>The first group's learning rate; setting it sets every group's.</summary>
    public float Lr
    {
        get => groups[0].Lr;
        set
        {
            Hyper.NonNegative("lr", value);
            foreach (var g in groups) g.Lr = value;
        }
    }

    /// <summary>Elements over all parameters.</summary>
    public long TotalElements { get; }

    /// <summary>The parameters, in the order of the flat buffers.</summary>
    public IReadOnlyList<Tensor> Parameters => parameters;

    /// <summary>
    /// Applies one update to every parameter from its gradient. As in PyTorch, a parameter that got no gradient since
    /// the last <see cref="ZeroGrad"/> (not used by the loss, or its gradient set to null) is left alone: neither it nor
    /// its state moves, and its step count (<see cref="StepOf"/>) does not advance, so its bias corrections are
    /// PyTorch's. Rules with a view across parameters (<see cref="Lamb"/>'s per-tensor trust ratios share one launch,
    /// <see cref="AdaptiveSgd"/>'s global norm) update their whole group, read a missing gradient as zeros and count a
    /// step for every parameter of it.
    /// </summary>
    public void Step()
    {
        ThrowIfDisposed();
        ThrowIfTakenOver("Step");
        consolidated = null;
        StepCount++;
        foreach (var group in groups)
        {
            var scalars = new UpdateScalars
            {
                Lr = group.Lr,
                WeightDecay = group.WeightDecay,
                L1 = group.L1,
                Flags = (int)(Maximize ? UpdateFlags.Maximize : UpdateFlags.None),
            };
            bool all = true, any = false;
            foreach (var p in group.Parameters)
            {
                int i = indexOf[p];
                bool active = p.GradWritten && !steppedInBackward[i];
                all &= active;
                any |= active;
                if (steppedInBackward[i]) parameterSteps[i]++; // its update was applied during backward
            }
            if (!any) continue;
            if (!UpdatesPerParameter)
            {
                long t = 0;
                foreach (var p in group.Parameters) t = Math.Max(t, ++parameterSteps[indexOf[p]]);
                ParameterStep = t;
                UpdateShardOf(group, group.Start, group.Length, scalars);
                continue;
            }
            long first = -1;
            bool sameStep = true;
            foreach (var p in group.Parameters)
            {
                int i = indexOf[p];
                if (!p.GradWritten || steppedInBackward[i]) continue;
                parameterSteps[i]++;
                if (first < 0) first = parameterSteps[i];
                sameStep &= parameterSteps[i] == first;
            }
            if (all && sameStep)
            {
                ParameterStep = first;
                UpdateShardOf(group, group.Start, group.Length, scalars);
                continue;
            }
            foreach (var p in group.Parameters)
            {
                int i = indexOf[p];
                if (!p.GradWritten || steppedInBackward[i]) continue;
                ParameterStep = parameterSteps[i];
                UpdateShardOf(group, p.Placement.Offset, p.Numel, scalars);
            }
        }
        Array.Clear(steppedInBackward);
    }

    /// <summary>
    /// Runs <see cref="Update"/> over the elements [<paramref name="start"/>, <paramref name="start"/> +
    /// <paramref name="length"/>) of the flat buffers that lie in this optimizer's shard (all of them unless sharded);
    /// nothing when none do.
    /// </summary>
    private void UpdateShardOf(ParamGroup group, long start, long length, UpdateScalars scalars)
    {
        long from = Math.Max(start, shardStart), to = Math.Min(start + length, shardStart + shardLength);
        if (to <= from) return;
        if (to - from > FlatChunk.Elements && !UpdatesPerParameter)
            throw new NotSupportedException(
                $"{Name} updates a whole parameter group at once and the group has {to - from:N0} elements, more than one " +
                $"launch covers ({FlatChunk.Elements:N0}); split the parameters into several groups or use an element-wise rule.");
        // An element-wise rule runs in launches of at most FlatChunk.Elements (a large model's group passes 2³¹).
        long chunk = UpdatesPerParameter ? FlatChunk.Elements : to - from;
        for (long at = from; at < to; at += chunk)
        {
            long n = Math.Min(chunk, to - at);
            updateRange = (at, n);
            Update(group, flatParameters.View.SubView(at, n), flatGradients.View.SubView(at - gradientStart, n), scalars);
        }
    }

    /// <summary>Whether this optimizer keeps state for, and updates, only a shard of the flat buffers (ZeRO stage 1).</summary>
    internal bool IsSharded => shardLength != TotalElements || shardStart != 0;

    /// <summary>The elements [Start, Start + Length) of the flat buffers this optimizer updates (Length may run past
    /// <see cref="TotalElements"/> into padding).</summary>
    internal (long Start, long Length) Shard => (shardStart, shardLength);

    /// <summary>Bytes of the named state buffers (moments, accumulators) this optimizer holds on its device.</summary>
    public long StateBytes => state.Values.Sum(b => b.View.Length) * sizeof(float);

    /// <summary>
    /// ZeRO stage 1 (DeepSpeed's optimizer-state partitioning): from now on this optimizer keeps its state buffers for
    /// the elements [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>) of the flat
    /// buffers only, and <see cref="Step"/> updates only the parameters' elements in that range (the rest of the flat
    /// parameter buffer is left for a collective to fill in). The range may run past <see cref="TotalElements"/> (a
    /// padded last shard); state is still allocated for all of it, so every rank holds the same number of bytes. Each
    /// state buffer keeps its current values in the range. Step counts stay per parameter and replicated: every shard
    /// counts every parameter that got a gradient. <see cref="GetState"/> then needs a consolidation first
    /// (<see cref="SetConsolidatedState"/>); <see cref="LoadState"/> loads the shard's part of a whole state.
    /// </summary>
    /// <exception cref="NotSupportedException">a rule that needs a whole group at once (<see cref="Lamb"/>,
    /// <see cref="AdaptiveSgd"/>) or with <see cref="StepInBackward"/> on.</exception>
    internal void ShardState(long start, long length)
    {
        ThrowIfDisposed();
        if (!UpdatesPerParameter)
            throw new NotSupportedException(
                $"{Name} updates a whole parameter group at once (per-tensor or global norms), so its state cannot be " +
                "sharded (ZeRO stage 1); use an element-wise rule (SGD, Adam, AdamW, ...) or no sharding.");
        if (StepInBackward)
            throw new NotSupportedException(
                $"{Name}: StepInBackward (fused update during backward) cannot run with ZeRO optimizer-state sharding; turn it off.");
        if (IsSharded)
        {
            if ((shardStart, shardLength) == (start, length)) return; // a second run over the same ranks (Fit again)
            throw new InvalidOperationException(
                $"{Name}: its state is already sharded as [{shardStart}, {shardStart + shardLength}), not [{start}, {start + length}).");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long kept = Math.Max(0, Math.Min(length, TotalElements - start));
        foreach (var name in state.Keys.ToList())
        {
            var whole = state[name];
            var part = new TensorStorage(Device, length);
            FlatChunk.Fill(Kernels, part.View, stateInitialValues[name]);
            if (kept > 0) FlatChunk.Copy(Kernels, whole.View.SubView(start, kept), part.View.SubView(0, kept));
            Device.Synchronize();
            whole.Release();
            state[name] = part;
        }
        (shardStart, shardLength) = (start, length);
    }

    /// <summary>Whether the gradients are sharded too (ZeRO stage 2, see <see cref="ShardGradients"/>).</summary>
    internal bool GradientsSharded { get; private set; }

    /// <summary>
    /// ZeRO stage 2 (DeepSpeed's gradient partitioning), after <see cref="ShardState"/>: the flat gradient buffer of
    /// <see cref="TotalElements"/> floats is replaced by one of the shard's length, and the parameters' gradients are
    /// detached from it. Backward then writes each parameter's gradient into a buffer of its own, which the data-parallel
    /// wrapper reduces over the ranks in buckets as soon as it is complete, adds the shard's part of into this buffer and
    /// releases (a parameter's <see cref="Tensor.Grad"/> then reads null, as under DeepSpeed); <see cref="Step"/> updates
    /// the shard from it. Gradients already accumulated keep their shard's part.
    /// </summary>
    /// <exception cref="InvalidOperationException">the state is not sharded yet.</exception>
    internal void ShardGradients()
    {
        ThrowIfDisposed();
        if (GradientsSharded) return;
        if (!IsSharded)
            throw new InvalidOperationException($"{Name}: shard the optimizer state (ZeRO stage 1) before the gradients.");
        var shard = new TensorStorage(Device, shardLength);
        FlatChunk.Fill(Kernels, shard.View, 0f);
        long kept = Math.Max(0, Math.Min(shardLength, TotalElements - shardStart));
        if (kept > 0) FlatChunk.Copy(Kernels, flatGradients.View.SubView(shardStart, kept), shard.View.SubView(0, kept));
        foreach (var p in parameters) p.ReleaseGradKeepWritten();
        Device.Synchronize();
        flatGradients.Release();
        flatGradients = shard;
        gradientStart = shardStart;
        GradientsSharded = true;
    }

    /// <summary>Bytes of gradient buffer this optimizer holds (the shard's under ZeRO stage 2, padding included).</summary>
    public long GradientBytes => flatGradients.View.Length * sizeof(float);

    /// <summary>
    /// Whether <see cref="Update"/> may run on one parameter's slice at a time (its state slices follow: see
    /// <see cref="State"/>); false for rules that need the whole group at once.
    /// </summary>
    protected virtual bool UpdatesPerParameter => true;

    /// <summary>The elements of the flat buffers the current <see cref="Update"/> call covers.</summary>
    private (long Start, long Length) updateRange;

    /// <summary>
    /// Whether every gradient is finite (no NaN or ±∞): one flag kernel over the flat gradient buffer and one
    /// 4-byte read (synchronizes). Trainers use it to skip a bad step, as PyTorch's GradScaler does.
    /// </summary>
    public bool GradientsAreFinite()
    {
        ThrowIfDisposed();
        return FlatChunk.AllFinite(Device, HeldGradients);
    }

    /// <summary>
    /// Whether every parameter is finite: one flag kernel over the flat parameter buffer and one 4-byte read
    /// (synchronizes). A step that started from a finite loss can still overflow a weight (an input of 1e38 times a
    /// gradient); a server checks the step's result with this and rolls the step back.
    /// </summary>
    public bool ParametersAreFinite()
    {
        ThrowIfDisposed();
        return FlatChunk.AllFinite(Device, flatParameters.View.SubView(0, TotalElements));
    }

    /// <summary>The same check with one more device buffer (a loss) in the same flag and the same 4-byte read.</summary>
    internal bool GradientsAreFinite(ArrayView<float> alsoCheck)
    {
        ThrowIfDisposed();
        return FlatChunk.AllFinite(Device, HeldGradients, alsoCheck);
    }

    /// <summary>
    /// Sets every gradient to zero (one launch when every gradient was written since the last call; otherwise one per
    /// written gradient, since the others are still zero); buffers are kept.
    /// </summary>
    public void ZeroGrad()
    {
        ThrowIfDisposed();
        ThrowIfTakenOver("ZeroGrad");
        bool all = true;
        foreach (var p in parameters) all &= p.GradWritten;
        if (GradientsSharded)
        {
            FlatChunk.Fill(Kernels, flatGradients.View, 0f);
        }
        else if (all)
        {
            FlatChunk.Fill(Kernels, flatGradients.View.SubView(0, TotalElements), 0f);
        }
        else
        {
            foreach (var p in parameters)
                if (p.GradWritten) Device.Kernels.Fill(GradientSlice(p), 0f);
        }
        foreach (var p in parameters) p.GradWritten = false;
    }

    /// <summary>
    /// Forgets everything learned about the gradients: state buffers back to their initial values and the step
    /// count to 0 (one fill per buffer; e.g. a reaction to concept drift). Parameters and lrs are kept.
    /// </summary>
    public void ResetState()
    {
        ThrowIfDisposed();
        foreach (var (name, buffer) in state)
            FlatChunk.Fill(Kernels, buffer.View, stateInitialValues[name]);
        StepCount = 0;
        consolidated = null;
        Array.Clear(parameterSteps);
        LoadScalars(new Dictionary<string, double>());
    }

    /// <summary>
    /// Reads the optimizer's state back to the host (synchronizes). When the state is sharded (ZeRO stage 1) it is the
    /// whole state <see cref="Distributed.DistributedDataParallel.ConsolidateState"/> gathered since the last step.
    /// </summary>
    /// <exception cref="NotSupportedException">the state is sharded and was not consolidated since the last step.</exception>
    public OptimizerState GetState()
    {
        ThrowIfDisposed();
        if (IsSharded)
            return consolidated ?? throw new NotSupportedException(
                $"{Name}.GetState: this rank holds only its shard of the state (ZeRO stage 1); call " +
                "DistributedDataParallel.ConsolidateState() on every rank first (PyTorch's consolidate_state_dict).");
        var buffers = state.ToDictionary(kv => kv.Key, kv =>
        {
            var data = FlatChunk.HostArray(TotalElements, $"{Name}.GetState ('{kv.Key}')");
            Kernels.Download(kv.Value.View, data);
            return data;
        });
        return new OptimizerState(Name, StepCount, buffers, groups.Select(g => g.Lr).ToList(), SaveScalars())
        {
            ParameterSteps = parameterSteps.ToArray(),
        };
    }

    /// <summary>Restores a state from <see cref="GetState"/>; checks everything before changing anything.</summary>
    public void LoadState(OptimizerState saved)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(saved);
        var problems = CheckState(saved);
        if (problems.Count > 0)
            throw new ArgumentException($"{Name}.LoadState: " + string.Join("; ", problems) + ".");
        foreach (var (name, data) in saved.Buffers)
        {
            long kept = Math.Max(0, Math.Min(shardLength, TotalElements - shardStart));
            if (kept > 0) Kernels.Upload<float>(data.AsSpan((int)shardStart, (int)kept), state[name].View.SubView(0, kept)); // data is a host array: both fit an int
        }
        LoadCounts(saved);
    }

    /// <summary>
    /// The state without its buffers: step counts, learning rates and the rule's scalars (what every rank of a ZeRO job
    /// holds whole).
    /// </summary>
    internal OptimizerState GetCounts()
    {
        ThrowIfDisposed();
        return new OptimizerState(Name, StepCount, new Dictionary<string, float[]>(), groups.Select(g => g.Lr).ToList(), SaveScalars())
        {
            ParameterSteps = parameterSteps.ToArray(),
        };
    }

    /// <summary>
    /// The whole state, gathered from every rank's shard, that <see cref="GetState"/> returns until the next
    /// <see cref="Step"/>, load or reset.
    /// </summary>
    internal void SetConsolidatedState(OptimizerState whole)
    {
        var problems = CheckState(whole);
        if (problems.Count > 0) throw new ArgumentException($"{Name}: consolidated state: " + string.Join("; ", problems) + ".");
        consolidated = whole;
    }

    /// <summary>This rank's shard of each state buffer (<see cref="Shard"/>'s length, padding included), by name.</summary>
    internal IEnumerable<(string Name, ArrayView<float> Shard)> StateShards =>
        state.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value.View));

    /// <summary>Restores the step counts, learning rates and scalars of <paramref name="saved"/>, leaving the state buffers.</summary>
    internal void LoadCounts(OptimizerState saved)
    {
        consolidated = null;
        StepCount = saved.Step;
        // A state saved before the counts were per parameter had one count for all.
        for (int i = 0; i < parameterSteps.Length; i++) parameterSteps[i] = saved.ParameterSteps?[i] ?? saved.Step;
        for (int i = 0; i < groups.Count; i++) groups[i].Lr = saved.GroupLrs[i];
        LoadScalars(saved.Scalars);
    }

    /// <summary>Every reason <paramref name="saved"/> cannot be loaded into this optimizer (empty when it can).</summary>
    internal List<string> CheckState(OptimizerState saved)
    {
        var problems = new List<string>();
        if (saved.Optimizer != Name) problems.Add($"state is for {saved.Optimizer}, not {Name}");
        if (saved.GroupLrs.Count != groups.Count)
            problems.Add($"state has {saved.GroupLrs.Count} parameter groups, this optimizer {groups.Count}");
        if (saved.ParameterSteps != null && saved.ParameterSteps.Count != parameters.Count)
            problems.Add($"state has step counts for {saved.ParameterSteps.Count} parameters, this optimizer has {parameters.Count}");
        if (saved.ParameterSteps?.Any(t => t < 0) == true) problems.Add("a parameter's step count is negative");
        foreach (var name in state.Keys.Except(saved.Buffers.Keys)) problems.Add($"missing state buffer '{name}'");
        foreach (var name in saved.Buffers.Keys.Except(state.Keys)) problems.Add($"unexpected state buffer '{name}'");
        foreach (var (name, data) in saved.Buffers)
        {
            if (state.ContainsKey(name) && data.Length != TotalElements)
                problems.Add($"state buffer '{name}' has {data.Length} values, expected {TotalElements}");
        }
        return problems;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var buffer in state.Values) buffer.Release();
        state.Clear();
        flatParameters.Release();
        flatGradients.Release();
        foreach (var p in parameters)
            if (ReferenceEquals(p.StepOwner, this)) p.StepOwner = null;
        ReleaseResources();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees buffers a rule allocated beyond its named state.</summary>
    protected virtual void ReleaseResources()
    {
    }

    /// <summary>PyTorch's <c>maximize</c>: ascend instead of descend.</summary>
    protected bool Maximize { get; init; }

    /// <summary>Runs the fused update of one group over its slice of the flat buffers.</summary>
    protected abstract void Update(ParamGroup group, ArrayView<float> parameters, ArrayView<float> gradients,
        UpdateScalars scalars);

    protected virtual IReadOnlyDictionary<string, double> SaveScalars() => new Dictionary<string, double>();

    protected virtual void LoadScalars(IReadOnlyDictionary<string, double> scalars)
    {
    }

    protected IKernels Kernels => Device.Kernels;

    /// <summary>A flat state buffer named as in torch.optim, created filled with <paramref name="initial"/>.</summary>
    protected void AddState(string name, float initial = 0f)
    {
        var buffer = new TensorStorage(Device, shardLength);
        FlatChunk.Fill(Kernels, buffer.View, initial);
        state[name] = buffer;
        stateInitialValues[name] = initial;
    }

    /// <summary>
    /// The slice of state buffer <paramref name="name"/> that the current <see cref="Update"/> covers: all of
    /// <paramref name="group"/>, or one parameter of it when the others got no gradient.
    /// </summary>
    protected ArrayView<float> State(string name, ParamGroup group) =>
        state[name].View.SubView(updateRange.Start - shardStart, updateRange.Length);

    /// <summary>The whole flat parameter and gradient buffers (for rules that need a global view).</summary>
    protected ArrayView<float> AllParameters => flatParameters.View.SubView(0, TotalElements);

    protected ArrayView<float> AllGradients => GradientsSharded
        ? throw new InvalidOperationException($"{Name}: the gradients are sharded (ZeRO stage 2); this rank holds its shard only.")
        : flatGradients.View.SubView(0, TotalElements);

    /// <summary>
    /// The gradient elements this optimizer holds: the whole flat gradient buffer, or under ZeRO stage 2 this rank's shard
    /// of it (<see cref="Shard"/>'s length; the padding past <see cref="TotalElements"/> stays zero).
    /// </summary>
    internal ArrayView<float> HeldGradients => GradientsSharded ? flatGradients.View : AllGradients;

    internal bool IsDisposed => disposed;

    /// <summary>Every parameter's elements, back to back in construction order (what distributed training broadcasts).</summary>
    internal ArrayView<float> FlatParameters => AllParameters;

    /// <summary>Every parameter's gradient, in the same layout (what distributed training all-reduces once per step).</summary>
    internal ArrayView<float> FlatGradients => AllGradients;

    /// <summary>
    /// A parameter handed to a newer optimizer lives in that one's flat buffer; updating the stale copy here
    /// would silently do nothing, so this optimizer refuses to go on.
    /// </summary>
    private void ThrowIfTakenOver(string op)
    {
        for (int i = 0; i < parameters.Count; i++)
        {
            if (!ReferenceEquals(parameters[i].Placement.Storage, flatParameters))
                throw new InvalidOperationException(
                    $"{Name}.{op}(): parameter {i} (shape {Shapes.Format(parameters[i].Shape)}) was taken over by an " +
                    "optimizer created after this one; give each parameter to one optimizer (use ParamGroups for " +
                    "different settings).");
        }
    }

    private void ThrowIfDisposed()
    {
        if (disposed) throw new ObjectDisposedException(Name, $"This {Name} optimizer has been disposed.");
        if (Device.IsDisposed)
            throw new ObjectDisposedException(nameof(Device),
                $"{Name}: its parameters lived on the {Device.Kind} device, which has been disposed.");
    }
}
