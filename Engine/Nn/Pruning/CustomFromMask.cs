namespace Engine.Nn;

/// <summary>
/// A given mask (PyTorch's <c>prune.CustomFromMask</c>): new mask = default_mask ⊙ mask. <see cref="Prune.GlobalUnstructured"/>
/// applies each parameter's share of the global mask with it.
/// </summary>
public sealed class CustomFromMask : PruningMethod
{
    private readonly float[] mask;

    /// <param name="mask">0/1 values, row-major, as many as the parameter has entries.</param>
    public CustomFromMask(float[] mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        this.mask = (float[])mask.Clone();
    }

    public override PruningType PruningType => PruningType.Global;

    public override float[] ComputeMask(float[] t, int[] shape, float[] defaultMask)
    {
        if (defaultMask.Length != mask.Length)
            throw new ArgumentException(
                $"CustomFromMask: a mask of {mask.Length} values for a parameter of shape {Shapes.Format(shape)} " +
                $"({defaultMask.Length} values).");
        var combined = new float[mask.Length];
        for (int i = 0; i < combined.Length; i++) combined[i] = defaultMask[i] * mask[i];
        return combined;
    }
}

/// <summary>
/// Prunes nothing (PyTorch's <c>prune.Identity</c>): the mask stays default_mask (all ones at first). It reparametrizes a
/// parameter as <c>name_orig</c> and <c>name_mask</c>, e.g. to load a pruned model's state dict into a fresh one.
/// </summary>
public sealed class IdentityPruning : PruningMethod
{
    public override PruningType PruningType => PruningType.Unstructured;

    public override float[] ComputeMask(float[] t, int[] shape, float[] defaultMask) => (float[])defaultMask.Clone();
}
