namespace Engine.Nn;

/// <summary>
/// Base of layers, as <c>torch.nn.Module</c>: parameters registered by name, child modules whose parameters are
/// named <c>child.name</c> (a <see cref="Sequential"/>'s children are "0", "1", …, so its parameters read
/// <c>0.weight</c>, <c>0.bias</c> as in PyTorch), and a training/evaluation mode.
/// </summary>
public abstract partial class Module : IDisposable
{
    private readonly List<(string Name, Tensor Parameter)> parameters = new();
    private readonly List<(string Name, Module Child)> children = new();
    private readonly List<(string Name, Tensor Buffer)> buffers = new();
    private readonly List<(string Name, Func<long> Get, Action<long> Set)> counters = new();

    /// <summary>True in training mode (the default); <see cref="Eval"/> turns it off (e.g. Dropout becomes identity).</summary>
    public bool Training { get; private set; } = true;

    /// <summary>The module's forward computation.</summary>
    public abstract Tensor Forward(Tensor input);

    /// <summary>
    /// Every parameter of this module and its children, depth first, in registration order; a tensor shared by two
    /// modules (tied weights) comes once, so an optimizer steps it once.
    /// </summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>
    /// Every parameter with its PyTorch-style dotted name. A tensor registered under several names (tied weights, e.g.
    /// a language model's <c>lm_head.weight</c> that is <c>wte.weight</c>) comes once, under its first name, unless
    /// <paramref name="removeDuplicate"/> is false (as PyTorch's <c>named_parameters(remove_duplicate=…)</c>);
    /// <see cref="StateDict"/> keeps every name, as PyTorch's does.
    /// </summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(bool removeDuplicate = true) =>
        removeDuplicate ? Distinct(AllNamedParameters()) : AllNamedParameters();

    private IEnumerable<(string Name, Tensor Parameter)> AllNamedParameters()
    {
        foreach (var p in parameters) yield return p;
        foreach (var (prefix, child) in children)
            foreach (var (name, p) in child.AllNamedParameters()) yield return ($"{prefix}.{name}", p);
    }

    /// <summary>The first name of each tensor, in order (PyTorch's <c>remove_duplicate</c> memo).</summary>
    private static IEnumerable<(string Name, Tensor Tensor)> Distinct(IEnumerable<(string Name, Tensor Tensor)> named)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var item in named)
            if (seen.Add(item.Tensor)) yield return item;
    }

    public IReadOnlyList<(string Name, Module Child)> Children => children;

    /// <summary>
    /// Every buffer (state that is not trained by gradients, e.g. BatchNorm's running statistics) with its dotted
    /// name, as <c>named_buffers()</c>; counters such as <c>num_batches_tracked</c> are in <see cref="StateDict"/> only.
    /// A shared buffer comes once unless <paramref name="removeDuplicate"/> is false.
    /// </summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(bool removeDuplicate = true) =>
        removeDuplicate ? Distinct(AllNamedBuffers()) : AllNamedBuffers();

    private IEnumerable<(string Name, Tensor Buffer)> AllNamedBuffers()
    {
        foreach (var b in buffers) yield return b;
        foreach (var (prefix, child) in children)
            foreach (var (name, b) in child.AllNamedBuffers()) yield return ($"{prefix}.{name}", b);
    }

    /// <summary>
    /// Parameters then buffers: every tensor of the model's state, by name; a shared tensor once unless
    /// <paramref name="removeDuplicate"/> is false (the state dict's view, where each name of it appears).
    /// </summary>
    internal IEnumerable<(string Name, Tensor Tensor)> NamedTensors(bool removeDuplicate = true)
    {
        var all = AllNamedParameters().Concat(AllNamedBuffers());
        return removeDuplicate ? Distinct(all) : all;
    }

    /// <summary>Every integer counter (an int64 scalar in the state dict) with its dotted name.</summary>
    internal IEnumerable<(string Name, Func<long> Get, Action<long> Set)> NamedCounters()
    {
        foreach (var c in counters) yield return c;
        foreach (var (prefix, child) in children)
            foreach (var (name, get, set) in child.NamedCounters()) yield return ($"{prefix}.{name}", get, set);
    }

    /// <summary>
    /// Moves every parameter and buffer (and any gradient) to <paramref name="device"/> in place, as PyTorch's
    /// <c>module.to(device)</c>; the tensors stay the same objects, so references to them stay valid. Returns this
    /// module. As in PyTorch, move the model before making its optimizer: a parameter an optimizer holds lives in that
    /// optimizer's flat buffer on the old device and is refused, naming it.
    /// </summary>
    public Module To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        device.ThrowIfDisposed();
        var tensors = NamedTensors().ToList();
        foreach (var (name, t) in tensors)
            if (t.StepOwner is { } owner && !ReferenceEquals(t.Device, device))
                throw new InvalidOperationException(
                    $"module.To({device}): parameter '{name}' is held by a {owner.Name} optimizer on {t.Device}; move the " +
                    "model before creating its optimizer (or create a new optimizer after moving it).");
        foreach (var (_, t) in tensors) t.MoveTo(device);
        return this;
    }

    /// <summary>Training mode for this module and its children (PyTorch <c>train()</c>).</summary>
    public Module Train(bool on = true)
    {
        Training = on;
        foreach (var (_, child) in children) child.Train(on);
        return this;
    }

    /// <summary>Evaluation mode (PyTorch <c>eval()</c>).</summary>
    public Module Eval() => Train(false);

    /// <summary>Disposes every parameter.</summary>
    public virtual void Dispose()
    {
        // A tied tensor is disposed by each module that holds it; Tensor.Dispose is idempotent.
        foreach (var p in parameters) p.Parameter.Dispose();
        foreach (var b in buffers) b.Buffer.Dispose();
        foreach (var (_, child) in children) child.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Registers a trained tensor under <paramref name="name"/> (<c>register_parameter</c>). It may already be another
    /// module's parameter: the two then share it (tied weights), and its gradient sums both uses.
    /// </summary>
    protected Tensor RegisterParameter(string name, Tensor parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ThrowIfNameTaken(name);
        CheckParameter(name, parameter);
        parameter.RequiresGrad = true;
        parameters.Add((name, parameter));
        return parameter;
    }

    /// <summary>
    /// Puts <paramref name="parameter"/> in place of the parameter registered as <paramref name="name"/>, keeping its
    /// place in the order of <see cref="NamedParameters"/> (PyTorch's <c>module.weight = other.weight</c>, how weights are
    /// tied). The shape must be the same; the replaced tensor is no longer this module's, so it is not disposed with
    /// it (dispose it when nothing else uses it). Refused while an optimizer holds the replaced tensor: tie weights
    /// before creating the optimizer.
    /// </summary>
    protected Tensor ReplaceParameter(string name, Tensor parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        int at = parameters.FindIndex(p => p.Name == name);
        if (at < 0) throw new ArgumentException($"{GetType().Name}: no parameter named '{name}' to replace.");
        var old = parameters[at].Parameter;
        if (ReferenceEquals(old, parameter)) return parameter;
        CheckParameter(name, parameter);
        if (!parameter.Shape.SequenceEqual(old.Shape))
            throw new ArgumentException(
                $"{GetType().Name}.{name}: the new tensor has shape {Shapes.Format(parameter.Shape)}, the parameter " +
                $"{Shapes.Format(old.Shape)}.");
        if (old.StepOwner is { } owner)
            throw new InvalidOperationException(
                $"{GetType().Name}.{name}: the parameter is held by a {owner.Name} optimizer; tie or replace weights " +
                "before creating the optimizer (or create a new optimizer after).");
        parameter.RequiresGrad = true;
        parameters[at] = (name, parameter);
        return parameter;
    }

    private void CheckParameter(string name, Tensor parameter)
    {
        parameter.ThrowIfDisposed($"{GetType().Name}.{name}");
        if (parameter.DType != DType.Float32)
            throw new ArgumentException(
                $"{GetType().Name}.{name}: a parameter must be float32, got {parameter.DType.Name()}.");
        if (!parameter.IsLeaf)
            throw new ArgumentException(
                $"{GetType().Name}.{name}: a parameter must be a leaf tensor (not the result of an op); detach it first.");
    }

    /// <summary>Registers state that is saved and loaded with the parameters but not trained (<c>register_buffer</c>).</summary>
    protected Tensor RegisterBuffer(string name, Tensor buffer)
    {
        ThrowIfNameTaken(name);
        buffers.Add((name, buffer));
        return buffer;
    }

    /// <summary>Registers an integer kept on the host and saved as an int64 scalar (e.g. <c>num_batches_tracked</c>).</summary>
    protected void RegisterCounter(string name, Func<long> get, Action<long> set)
    {
        ThrowIfNameTaken(name);
        counters.Add((name, get, set));
    }

    private void ThrowIfNameTaken(string name)
    {
        if (parameters.Any(p => p.Name == name) || buffers.Any(b => b.Name == name) || counters.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: '{name}' is already registered.");
    }

    protected TModule RegisterModule<TModule>(string name, TModule child) where TModule : Module
    {
        ArgumentNullException.ThrowIfNull(child);
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException(
                $"{GetType().Name}: a child module's name must be non-empty and without '.', got '{name}'.");
        if (children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: a child module named '{name}' is already registered.");
        children.Add((name, child));
        return child;
    }
}
