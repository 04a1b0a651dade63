namespace Engine.Nn;

public abstract partial class Module
{
    /// <summary>The pruned parameters by name: the trained tensor (<c>name_orig</c>) and its mask buffer (<c>name_mask</c>).</summary>
    private readonly Dictionary<string, (Tensor Orig, Tensor Mask)> pruned = new();

    /// <summary>The parameters this layer reads through <see cref="Masked"/>, so that <see cref="Prune"/> may mask them.</summary>
    private readonly HashSet<string> prunable = new();

    /// <summary>
    /// Declares that the layer's forward reads these parameters through <see cref="Masked"/>, so <see cref="Prune"/> can
    /// reparametrize them as PyTorch's <c>torch.nn.utils.prune</c> does. A layer that reads a parameter directly must not
    /// declare it: pruning it would change the state dict and not the output.
    /// </summary>
    protected void AllowPruning(params string[] names)
    {
        foreach (var name in names)
        {
            if (!parameters.Any(p => p.Name == name))
                throw new ArgumentException($"{GetType().Name}: AllowPruning('{name}') names no registered parameter.");
            prunable.Add(name);
        }
    }

    /// <summary>
    /// What the forward uses for <paramref name="parameter"/>: the parameter itself, or, once it is pruned,
    /// w = w_orig ⊙ mask computed now (PyTorch's forward pre-hook recomputes <c>module.weight</c> the same way before
    /// every forward), so the gradient reaching w_orig is ∂L/∂w ⊙ mask and a pruned entry gets none.
    /// </summary>
    protected Tensor Masked(Tensor parameter)
    {
        if (pruned.Count == 0) return parameter;
        foreach (var (orig, mask) in pruned.Values)
            if (ReferenceEquals(orig, parameter)) return orig * mask;
        return parameter;
    }

    /// <summary>Whether a parameter of this module (not its children) is pruned.</summary>
    internal bool HasPrunedParameters => pruned.Count > 0;

    /// <summary>The pruned parameter <paramref name="name"/>'s trained tensor and mask, if it is pruned.</summary>
    internal bool TryGetPruned(string name, out Tensor orig, out Tensor mask)
    {
        bool found = pruned.TryGetValue(name, out var entry);
        (orig, mask) = entry;
        return found;
    }

    /// <summary>The parameter registered as <paramref name="name"/> on this module itself, or null.</summary>
    internal Tensor? OwnParameter(string name) => parameters.FirstOrDefault(p => p.Name == name).Parameter;

    /// <summary>This module's own parameter names (a pruned one under its <c>_orig</c> name).</summary>
    internal IEnumerable<string> OwnParameterNames => parameters.Select(p => p.Name);

    internal bool IsPrunable(string name) => prunable.Contains(name);

    /// <summary>
    /// Reparametrizes <paramref name="name"/> as PyTorch's first pruning does: the same tensor is re-registered as
    /// <c>name_orig</c> at the end of the parameters (so an optimizer that already holds it keeps training it) and
    /// <paramref name="mask"/> is registered as the buffer <c>name_mask</c>.
    /// </summary>
    internal void StartPruning(string name, Tensor mask)
    {
        int at = parameters.FindIndex(p => p.Name == name);
        var orig = parameters[at].Parameter;
        ThrowIfNameTaken(name + "_orig");
        ThrowIfNameTaken(name + "_mask");
        DisposeScope.Unregister(mask); // the module owns it now, whatever scope it was made in
        parameters.RemoveAt(at);
        parameters.Add((name + "_orig", orig));
        buffers.Add((name + "_mask", mask));
        pruned[name] = (orig, mask);
    }

    /// <summary>
    /// Undoes the reparametrization (PyTorch's <c>prune.remove</c>): the tensor, now holding w_orig ⊙ mask, is
    /// registered as <c>name</c> again at the end of the parameters, and the mask buffer is dropped and returned.
    /// </summary>
    internal Tensor EndPruning(string name)
    {
        var (orig, mask) = pruned[name];
        pruned.Remove(name);
        parameters.RemoveAt(parameters.FindIndex(p => p.Name == name + "_orig"));
        buffers.RemoveAt(buffers.FindIndex(b => b.Name == name + "_mask"));
        parameters.Add((name, orig));
        return mask;
    }
}
