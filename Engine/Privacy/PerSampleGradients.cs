using Engine.Nn;

namespace Engine.Privacy;

/// <summary>How the training loss combines the per-sample losses lᵢ of a batch of B (Opacus' <c>loss_reduction</c>).</summary>
public enum LossReduction
{
    /// <summary>L = (1/B)·Σᵢ lᵢ (PyTorch's default): each layer's output gradient is multiplied by B to give ∂lᵢ.</summary>
    Mean,

    /// <summary>L = Σᵢ lᵢ: the output gradient is each sample's own.</summary>
    Sum,
}

/// <summary>
/// Per-sample gradients of a model, as Opacus' <c>GradSampleModule</c> computes them, without a batch-1 loop: a forward
/// hook on every <see cref="Linear"/>, <see cref="Conv2d"/>, <see cref="Embedding"/> and <see cref="LayerNorm"/> keeps the
/// layer's input x, and a hook on its output's gradient dy (during backward) turns (x, dy) into each sample's gradient of
/// each of the layer's parameters (the rules of <see cref="GradSamplers"/>). After a backward it holds, for a batch of B,
/// every sample's squared gradient norm over the whole model, ‖gᵢ‖² = Σ_θ ‖gᵢ(θ)‖² (<see cref="SquaredNorms"/>), and
/// writes clipped sums Σᵢ fᵢ·gᵢ(θ) into the parameters' gradients (<see cref="WriteWeightedSum"/>). Linear layers over
/// 2-D input never form their B·out·in per-sample weights (<see cref="OuterProductGradient"/>).
/// </summary>
/// <remarks>
/// While attached, the ordinary backward no longer forms the Linear and Conv2d weights' batch gradients (the clipped
/// sum replaces them; dispose this to train without privacy again). A model whose trainable parameters live in any
/// other layer type is refused at construction, naming the layer and its path (freeze it with <c>RequiresGrad = false</c>,
/// or replace it, e.g. BatchNorm, which mixes samples, by LayerNorm); so is a parameter shared by two layers, and, during
/// backward, a layer applied twice in one forward. The per-sample state
/// of a step lives until <see cref="Clear"/> (the DP optimizer's step and zero_grad call it); its tensors belong to the
/// <see cref="DisposeScope"/> the backward ran in.
/// </remarks>
public sealed class PerSampleGradients : IDisposable
{
    private readonly List<IDisposable> hooks = new();
    private readonly Dictionary<Tensor, PerSampleGradient> gradients = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Module> layersSeen = new(ReferenceEqualityComparer.Instance);
    private Tensor? squaredNorms;

    /// <param name="model">The model; its trainable parameters must all belong to supported layers.</param>
    /// <param name="lossReduction">How the loss backpropagated combines the samples' losses.</param>
    /// <exception cref="NotSupportedException">a layer with trainable parameters and no per-sample rule (named), or tied
    /// parameters.</exception>
    public PerSampleGradients(Module model, LossReduction lossReduction = LossReduction.Mean)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        LossReduction = lossReduction;
        CheckSupported(model);
        foreach (var (_, layer) in Layers(model, ""))
            if (Array.IndexOf(GradSamplers.Supported, layer.GetType()) >= 0)
                hooks.Add(layer.RegisterForwardHook(OnForward));
        Parameters = model.Parameters().Where(p => p.RequiresGrad).ToArray();
        // Their batch gradients would be replaced unread: Linear and Conv2d skip the weight-gradient product.
        foreach (var (_, layer) in Layers(model, ""))
            if (layer is Linear { Weight.RequiresGrad: true } l) Skip(l.Weight);
            else if (layer is Conv2d { Weight.RequiresGrad: true } c) Skip(c.Weight);
    }

    private readonly List<Tensor> skipped = new();

    private void Skip(Tensor weight)
    {
        weight.GradByHooks = true;
        skipped.Add(weight);
    }

    public Module Model { get; }

    public LossReduction LossReduction { get; }

    /// <summary>The trainable parameters whose per-sample gradients this computes.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>Samples in the batch of the last backward; null when none was recorded since <see cref="Clear"/>.</summary>
    public int? BatchSize { get; private set; }

    /// <summary>‖gᵢ‖² over every parameter, for each sample of the last backward's batch: [B].</summary>
    /// <exception cref="InvalidOperationException">no backward recorded since <see cref="Clear"/>.</exception>
    public Tensor SquaredNorms => squaredNorms ?? throw NothingRecorded();

    /// <summary>‖gᵢ‖ for each sample: [B] (Opacus' per-sample norms before clipping).</summary>
    public Tensor Norms()
    {
        using var _ = Autograd.NoGrad();
        return SquaredNorms.Sqrt();
    }

    /// <summary>Sample i's gradient of <paramref name="parameter"/>, for every i: [B, ..shape] (Opacus' <c>p.grad_sample</c>).</summary>
    public Tensor GradSample(Tensor parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        if (BatchSize == null) throw NothingRecorded();
        using var _ = Autograd.NoGrad();
        if (gradients.TryGetValue(parameter, out var g)) return g.Materialize();
        if (Parameters.Contains(parameter, ReferenceEqualityComparer.Instance))
            return Tensor.Zeros(parameter.Device, parameter.Shape.Prepend(BatchSize.Value).ToArray());
        throw new ArgumentException($"GradSample: the tensor of shape {Shapes.Format(parameter.Shape)} is not a trainable parameter of the model.");
    }

    /// <summary>
    /// Writes Σᵢ fᵢ·gᵢ(θ) into every parameter θ's gradient (replacing what backward put there), for the per-sample factors
    /// <paramref name="factors"/> [B]; a parameter that took no part in the last forward gets zeros. With no backward
    /// recorded (an empty batch) every gradient becomes zero.
    /// </summary>
    public void WriteWeightedSum(Tensor? factors)
    {
        using var _ = Autograd.NoGrad();
        foreach (var p in Parameters)
        {
            var target = p.GradTarget();
            p.Device.Kernels.Fill(target, 0f);
            if (factors != null && gradients.TryGetValue(p, out var g)) g.AccumulateWeightedSum(factors, target);
        }
    }

    /// <summary>Forgets the last backward's per-sample gradients.</summary>
    public void Clear()
    {
        gradients.Clear();
        layersSeen.Clear();
        squaredNorms = null;
        BatchSize = null;
    }

    /// <summary>Removes the hooks (Opacus' <c>_close</c>): the model trains as before.</summary>
    public void Dispose()
    {
        foreach (var h in hooks) h.Dispose();
        hooks.Clear();
        foreach (var w in skipped) w.GradByHooks = false;
        skipped.Clear();
        Clear();
    }

    private void OnForward(Module layer, Tensor input, Tensor output)
    {
        if (!Autograd.IsEnabled || !output.RequiresGrad || output.IsLeaf) return;
        output.RegisterHook(gradient => OnGradient(layer, input, gradient));
    }

    private void OnGradient(Module layer, Tensor input, Tensor outputGrad)
    {
        if (!layersSeen.Add(layer))
            throw new NotSupportedException(
                $"per-sample gradients: a {layer.GetType().Name} ran twice in one forward (a layer applied twice, or a " +
                "backward without zero_grad between steps); its per-sample gradient would mix two uses and is not supported.");
        int minRank = layer switch
        {
            Conv2d => 4,
            LayerNorm n => n.NormalizedShape.Length + 1,
            Embedding => 1,
            _ => 2,
        };
        if (input.Rank < minRank)
            throw new NotSupportedException(
                $"per-sample gradients: {layer.GetType().Name} got an input of shape {Shapes.Format(input.Shape)} without a batch " +
                "axis; per-sample gradients need the samples on axis 0.");
        int batch = input.Shape[0];
        if (BatchSize is { } b && b != batch)
            throw new InvalidOperationException(
                $"per-sample gradients: {layer.GetType().Name} saw a batch of {batch} samples, another layer {b}; the batch " +
                "axis must be axis 0 of every layer's input.");
        BatchSize = batch;
        using var _ = Autograd.NoGrad();
        // Copy: the hook's gradient is released once its node has run.
        var dy = outputGrad * (LossReduction == LossReduction.Mean ? batch : 1f);
        foreach (var g in GradSamplers.For(layer, input, dy))
        {
            if (!gradients.TryAdd(g.Parameter, g))
                throw new NotSupportedException(
                    $"per-sample gradients: a parameter of shape {Shapes.Format(g.Parameter.Shape)} got gradients from two layers.");
            var norms = g.SquaredNorms();
            squaredNorms = squaredNorms == null ? norms : squaredNorms + norms;
        }
    }

    private static InvalidOperationException NothingRecorded() =>
        new("per-sample gradients: no backward was recorded since the last step; run forward and backward first.");

    /// <summary>Every module with its dotted path ("" for the root).</summary>
    private static IEnumerable<(string Path, Module Module)> Layers(Module module, string path)
    {
        yield return (path, module);
        foreach (var (name, child) in module.Children)
            foreach (var inner in Layers(child, path.Length == 0 ? name : $"{path}.{name}")) yield return inner;
    }

    /// <summary>Refuses a trainable parameter of an unsupported layer (naming it) and tied parameters.</summary>
    private static void CheckSupported(Module model)
    {
        foreach (var (path, layer) in Layers(model, ""))
        {
            var own = layer.NamedParameters().Where(p => !p.Name.Contains('.') && p.Parameter.RequiresGrad).ToList();
            if (own.Count == 0 || Array.IndexOf(GradSamplers.Supported, layer.GetType()) >= 0) continue;
            string where = path.Length == 0 ? "the model itself" : $"module '{path}'";
            throw new NotSupportedException(
                $"DP-SGD: {where} is a {layer.GetType().Name} with trainable parameters ({string.Join(", ", own.Select(p => p.Name))}), " +
                $"whose per-sample gradients are not supported; supported layers: {string.Join(", ", GradSamplers.Supported.Select(t => t.Name))}. " +
                "Freeze it (RequiresGrad = false) or replace it (e.g. BatchNorm, which mixes samples, by LayerNorm).");
        }
        var all = model.NamedParameters(removeDuplicate: false).Where(p => p.Parameter.RequiresGrad).ToList();
        var tied = all.GroupBy(p => p.Parameter, ReferenceEqualityComparer.Instance).FirstOrDefault(g => g.Count() > 1);
        if (tied != null)
            throw new NotSupportedException(
                $"DP-SGD: the parameters {string.Join(" and ", tied.Select(p => $"'{p.Name}'"))} are one tensor (tied weights); " +
                "per-sample gradients of tied weights are not supported.");
    }
}
