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

    /// <summary>True in training mode (the default); <see cref="Eval"/> turns it off (e.g. Dropout becomes identity).</summary>
    public bool Training { get; private set; } = true;

    /// <summary>The module's forward computation.</summary>
    public abstract Tensor Forward(Tensor input);

    /// <summary>Every parameter of this module and its children, depth first, in registration order.</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>Every parameter with its PyTorch-style dotted name.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters()
    {
        foreach (var p in parameters) yield return p;
        foreach (var (prefix, child) in children)
            foreach (var (name, p) in child.NamedParameters()) yield return ($"{prefix}.{name}", p);
    }

    public IReadOnlyList<(string Name, Module Child)> Children => children;

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
        foreach (var p in parameters) p.Parameter.Dispose();
        foreach (var (_, child) in children) child.Dispose();
        GC.SuppressFinalize(this);
    }

    protected Tensor RegisterParameter(string name, Tensor parameter)
    {
        if (parameters.Any(p => p.Name == name))
            throw new ArgumentException($"{GetType().Name}: a parameter named '{name}' is already registered.");
        parameter.RequiresGrad = true;
        parameters.Add((name, parameter));
        return parameter;
    }

    protected TModule RegisterModule<TModule>(string name, TModule child) where TModule : Module
    {
        if (children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: a child module named '{name}' is already registered.");
        children.Add((name, child));
        return child;
    }
}
