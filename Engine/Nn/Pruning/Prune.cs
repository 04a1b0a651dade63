namespace Engine.Nn;

/// <summary>
/// Pruning as <c>torch.nn.utils.prune</c> (identity, random_unstructured, l1_unstructured, random_structured,
/// ln_structured, global_unstructured, custom_from_mask, remove, is_pruned). Pruning a parameter <c>name</c> of a layer reparametrizes it: the trained tensor
/// becomes the parameter <c>name_orig</c> (the same tensor object, so an optimizer that holds it keeps training it), a
/// 0/1 buffer <c>name_mask</c> is added, and the layer's forward uses w = w_orig ⊙ mask, recomputed at every forward
/// (PyTorch's forward pre-hook), so ∂L/∂w_orig = ∂L/∂w ⊙ mask: pruned entries get no gradient and stay pruned through
/// fine-tuning. The state dict carries <c>name_orig</c> and <c>name_mask</c> under PyTorch's names, so it loads into a
/// PyTorch module pruned the same way (e.g. by <c>prune.identity</c>) and back. Pruning a pruned parameter again
/// composes (PyTorch's <c>PruningContainer</c>): the new amount is taken from the units still unpruned, and what was
/// pruned stays pruned. <see cref="Remove"/> makes it permanent: w_orig ⊙ mask is written into the tensor, which becomes
/// the parameter <c>name</c> again, and the mask goes.
/// </summary>
/// <remarks>
/// <para>Optimizers: the engine's optimizers gather their parameters into flat buffers when they are created. Because
/// w_orig is the very tensor that was the parameter, an optimizer created before pruning still steps it, and one created
/// after finds it in <c>Parameters()</c> under its new name; both train w_orig with the masked gradient. As in PyTorch,
/// state an optimizer accumulated before pruning (momentum, Adam's moments) or weight decay still moves w_orig's pruned
/// entries; they are multiplied by 0 in the forward, so the model is unaffected, but the saved w_orig shows it. PyTorch's
/// advice holds: create the optimizer (anew) after pruning. After <see cref="Remove"/> the zeros are ordinary weights
/// that training moves again: keep the mask while fine-tuning, remove it to deploy.</para>
/// <para>Layers: the layers whose forward reads their parameters through the mask are <see cref="Linear"/> and the
/// convolutions (<see cref="Conv1d"/>, <see cref="Conv2d"/>, <see cref="ConvTranspose2d"/>), weight and bias; pruning
/// another layer's parameter is refused, naming it.</para>
/// <para>Speed: a pruned layer's forward multiplies weight by mask (one element-wise product per pruned parameter, as
/// PyTorch). After <see cref="Remove"/> the layer is an ordinary dense layer holding zeros: inference runs the same dense
/// kernels at the same speed as before pruning (no sparse kernels).</para>
/// </remarks>
public static class Prune
{
    /// <summary>Reparametrizes without pruning (PyTorch's <c>prune.identity</c>): the mask is all ones.</summary>
    public static Module Identity(Module module, string name) => Apply(module, name, new IdentityPruning());

    /// <summary>Prunes <paramref name="amount"/> entries chosen at random (<c>prune.random_unstructured</c>; see <see cref="Nn.RandomUnstructured"/>).</summary>
    public static Module RandomUnstructured(Module module, string name, PruningAmount amount, int? seed = null) =>
        Apply(module, name, new RandomUnstructured(amount, seed));

    /// <summary>
    /// Prunes the <paramref name="amount"/> entries of smallest |w| (<c>prune.l1_unstructured</c>; see
    /// <see cref="Nn.L1Unstructured"/>), or of smallest |s| for <paramref name="importanceScores"/> s of w's shape.
    /// </summary>
    public static Module L1Unstructured(Module module, string name, PruningAmount amount, Tensor? importanceScores = null) =>
        Apply(module, name, new L1Unstructured(amount), importanceScores);

    /// <summary>
    /// Prunes the <paramref name="amount"/> slices along <paramref name="dim"/> of smallest Lₙ norm
    /// (<c>prune.ln_structured</c>; see <see cref="Nn.LnStructured"/>): dim 0 of a Linear weight prunes output units,
    /// of a convolution weight output channels.
    /// </summary>
    public static Module LnStructured(Module module, string name, PruningAmount amount, double n, int dim,
        Tensor? importanceScores = null) =>
        Apply(module, name, new LnStructured(amount, n, dim), importanceScores);

    /// <summary>
    /// Prunes <paramref name="amount"/> slices along <paramref name="dim"/> chosen at random (<c>prune.random_structured</c>;
    /// see <see cref="Nn.RandomStructured"/>).
    /// </summary>
    public static Module RandomStructured(Module module, string name, PruningAmount amount, int dim, int? seed = null) =>
        Apply(module, name, new RandomStructured(amount, dim, seed));

    /// <summary>Prunes where <paramref name="mask"/> (the parameter's shape) is 0 (<c>prune.custom_from_mask</c>).</summary>
    public static Module CustomFromMask(Module module, string name, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var parameter = Resolve(module, name).Trained;
        if (!mask.Shape.SequenceEqual(parameter.Shape))
            throw new ArgumentException(
                $"prune.custom_from_mask: a mask of shape {Shapes.Format(mask.Shape)} for {module.GetType().Name}.{name} " +
                $"of shape {Shapes.Format(parameter.Shape)}.");
        return Apply(module, name, new CustomFromMask(mask.ToArray()));
    }

    /// <summary>
    /// Prunes the parameters listed together (<c>prune.global_unstructured</c>): their entries are ranked as one vector,
    /// so a layer with small weights loses more of them than one with large weights. <paramref name="pruningMethod"/> is
    /// an unstructured method's factory, e.g. <see cref="PruningMethod.L1Unstructured"/>; <paramref name="amount"/> counts
    /// (or is a fraction of) the entries still unpruned across all of them. Each parameter then gets its share of the
    /// global mask (as by <see cref="CustomFromMask(Module, string, Tensor)"/>).
    /// </summary>
    /// <param name="parameters">(module, parameter name) pairs, each listed once.</param>
    /// <param name="pruningMethod">an unstructured method's factory, e.g. <see cref="PruningMethod.L1Unstructured"/>.</param>
    /// <param name="amount">a fraction of the entries still unpruned across all the parameters, or a count.</param>
    /// <param name="importanceScores">scores to rank by in place of a parameter's current values, for the entries it has
    /// (PyTorch's <c>importance_scores</c>): each of its parameter's shape.</param>
    /// <exception cref="ArgumentException">an empty or repeated entry, a method that is not unstructured, too large a
    /// count, or importance scores of the wrong shape.</exception>
    public static void GlobalUnstructured(IEnumerable<(Module Module, string Name)> parameters,
        Func<PruningAmount, PruningMethod> pruningMethod, PruningAmount amount,
        IReadOnlyDictionary<(Module Module, string Name), Tensor>? importanceScores = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(pruningMethod);
        var list = parameters.ToList();
        if (list.Count == 0) throw new ArgumentException("prune.global_unstructured: the parameter list is empty.", nameof(parameters));
        var method = pruningMethod(amount);
        if (method.PruningType != PruningType.Unstructured)
            throw new ArgumentException(
                $"prune.global_unstructured: only unstructured methods can rank entries globally, got {method.GetType().Name} " +
                $"({method.PruningType}).", nameof(pruningMethod));
        var seen = new HashSet<(Module, string)>();
        var scores = new List<float>();
        var masks = new List<float>();
        foreach (var (module, name) in list)
        {
            if (!seen.Add((module, name)))
                throw new ArgumentException($"prune.global_unstructured: {module?.GetType().Name}.{name} is listed twice.",
                    nameof(parameters));
            var (values, mask) = Current(module!, name);
            if (importanceScores != null && importanceScores.TryGetValue((module!, name), out var given))
            {
                if (!given.Shape.SequenceEqual(Resolve(module!, name).Trained.Shape))
                    throw new ArgumentException(
                        $"prune.global_unstructured: importance scores of shape {Shapes.Format(given.Shape)} for " +
                        $"{module!.GetType().Name}.{name} of shape {Shapes.Format(Resolve(module, name).Trained.Shape)}.",
                        nameof(importanceScores));
                values = given.ToArray();
            }
            scores.AddRange(values);
            masks.AddRange(mask);
        }
        var final = method.CombineMasks(scores.ToArray(), new[] { scores.Count }, masks.ToArray());
        int at = 0;
        foreach (var (module, name) in list)
        {
            int numel = Resolve(module, name).Trained.Numel;
            Apply(module, name, new CustomFromMask(final[at..(at + numel)]));
            at += numel;
        }
    }

    /// <summary>
    /// Prunes <paramref name="name"/> of <paramref name="module"/> with <paramref name="method"/> (PyTorch's
    /// <c>BasePruningMethod.apply</c>): the first time, the mask is <c>method.ComputeMask(t, ones)</c>; after that the
    /// method is combined with the mask in place (<see cref="PruningMethod.CombineMasks"/>). t is
    /// <paramref name="importanceScores"/>, or the parameter's current (masked) values. Nothing changes if it throws.
    /// </summary>
    /// <returns>the module, as PyTorch's functions return it.</returns>
    public static Module Apply(Module module, string name, PruningMethod method, Tensor? importanceScores = null)
    {
        ArgumentNullException.ThrowIfNull(method);
        var target = Resolve(module, name);
        int[] shape = target.Trained.Shape;
        var (values, defaultMask) = Current(module, name);
        if (importanceScores != null)
        {
            if (!importanceScores.Shape.SequenceEqual(shape))
                throw new ArgumentException(
                    $"prune: importance scores of shape {Shapes.Format(importanceScores.Shape)} for " +
                    $"{module.GetType().Name}.{name} of shape {Shapes.Format(shape)}; they must have the parameter's shape.",
                    nameof(importanceScores));
            values = importanceScores.ToArray();
        }
        var mask = target.Mask == null ? method.ComputeMask(values, shape, defaultMask) : method.CombineMasks(values, shape, defaultMask);
        if (target.Mask != null)
            target.Mask.CopyFrom(mask);
        else
            module.StartPruning(name, Tensor.FromArray(target.Trained.Device, mask, shape));
        return module;
    }

    /// <summary>
    /// Makes the pruning of <paramref name="name"/> permanent (<c>prune.remove</c>): w_orig ⊙ mask is written into the
    /// trained tensor, which is the parameter <c>name</c> again (an optimizer holding it keeps it), and the mask buffer
    /// and the masking in the forward go. The state dict then has <c>name</c> and no <c>name_orig</c>/<c>name_mask</c>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not pruned, naming it.</exception>
    public static Module Remove(Module module, string name)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!module.TryGetPruned(name, out var orig, out var mask))
            throw new ArgumentException(
                $"prune.remove: parameter '{name}' of {module.GetType().Name} has to be pruned before pruning can be removed.",
                nameof(name));
        using (Autograd.NoGrad())
        using (var product = orig * mask)
            orig.CopyFrom(product.ToArray());
        module.EndPruning(name).Dispose();
        return module;
    }

    /// <summary>Whether any parameter of <paramref name="module"/> or of its descendants is pruned (<c>prune.is_pruned</c>).</summary>
    public static bool IsPruned(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return module.HasPrunedParameters || module.Children.Any(c => IsPruned(c.Child));
    }

    /// <summary>The parameter's tensor the forward uses (masked when pruned) and its mask (null when not pruned).</summary>
    private static (Tensor Trained, Tensor? Mask) Resolve(Module module, string name)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(name);
        string layer = module.GetType().Name;
        if (module.TryGetPruned(name, out var orig, out var mask)) return (orig, mask);
        var parameter = module.OwnParameter(name);
        if (parameter == null)
        {
            var names = module.OwnParameterNames.ToList();
            throw new ArgumentException(
                $"prune: {layer} has no parameter '{name}' (its parameters: " +
                (names.Count == 0 ? "none" : string.Join(", ", names)) + ").", nameof(name));
        }
        if (!module.IsPrunable(name))
            throw new NotSupportedException(
                $"prune: {layer}.{name} cannot be pruned: {layer}'s forward does not read it through a mask (prunable " +
                "layers: Linear, Conv1d, Conv2d, ConvTranspose2d: weight and bias).");
        return (parameter, null);
    }

    /// <summary>The parameter's values as the forward sees them (w_orig ⊙ mask when pruned) and its mask (ones when not).</summary>
    private static (float[] Values, float[] Mask) Current(Module module, string name)
    {
        var (tensor, mask) = Resolve(module, name);
        var values = tensor.ToArray();
        if (mask == null) return (values, Enumerable.Repeat(1f, values.Length).ToArray());
        var m = mask.ToArray();
        for (int i = 0; i < values.Length; i++) values[i] *= m[i];
        return (values, m);
    }
}
