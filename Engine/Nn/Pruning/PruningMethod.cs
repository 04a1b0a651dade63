namespace Engine.Nn;

/// <summary>What a pruning method removes (PyTorch's <c>PRUNING_TYPE</c>): single entries, whole slices along a dimension, or a given mask.</summary>
public enum PruningType
{
    Unstructured,
    Structured,
    Global,
}

/// <summary>
/// A way of choosing which entries of a parameter to zero, as <c>torch.nn.utils.prune.BasePruningMethod</c>: given
/// importance scores t (by default the parameter's current values) and the mask already in place, it returns the new
/// mask (1 keeps an entry, 0 prunes it). <see cref="Prune"/> applies methods to layers; the static members here are the
/// factories <see cref="Prune.GlobalUnstructured"/> takes, as PyTorch's <c>pruning_method=prune.L1Unstructured</c>.
/// Masks are computed on the host in double precision: pruning runs between training phases, not per step.
/// </summary>
public abstract class PruningMethod
{
    /// <summary>Unstructured, structured or global: how <see cref="CombineMasks"/> picks the units still unpruned.</summary>
    public abstract PruningType PruningType { get; }

    /// <summary>
    /// The mask for importance scores <paramref name="t"/> of shape <paramref name="shape"/> (row-major) when
    /// <paramref name="defaultMask"/> (same shape) is the mask in place: PyTorch's <c>compute_mask(t, default_mask)</c>.
    /// </summary>
    public abstract float[] ComputeMask(float[] t, int[] shape, float[] defaultMask);

    /// <summary>The dimension a structured method prunes along (its <c>dim</c>); unused by the others.</summary>
    internal virtual int StructuredDim => -1;

    /// <summary>
    /// Iterative pruning (PyTorch's <c>PruningContainer._combine_masks</c>): this method is applied only to the units
    /// <paramref name="mask"/> still keeps, so an amount is a fraction or count of what remains, and the result is
    /// pruned wherever <paramref name="mask"/> was. Unstructured: the entries whose mask is 1. Structured along dim d:
    /// the slices along d that are not entirely pruned. Global: everything (the new mask is multiplied in).
    /// </summary>
    public float[] CombineMasks(float[] t, int[] shape, float[] mask)
    {
        var combined = (float[])mask.Clone();
        switch (PruningType)
        {
            case PruningType.Unstructured:
            {
                var kept = Enumerable.Range(0, mask.Length).Where(i => mask[i] == 1f).ToArray();
                var partial = ComputeMask(kept.Select(i => t[i]).ToArray(), new[] { kept.Length },
                    kept.Select(i => mask[i]).ToArray());
                for (int j = 0; j < kept.Length; j++) combined[kept[j]] = partial[j];
                return combined;
            }
            case PruningType.Structured:
            {
                int dim = PruningShapes.Axis(StructuredDim, shape, GetType().Name);
                var (outer, channels, inner) = PruningShapes.Split(shape, dim);
                var keptChannels = Enumerable.Range(0, channels).Where(c =>
                {
                    for (int o = 0; o < outer; o++)
                        for (int i = 0; i < inner; i++)
                            if (mask[(o * channels + c) * inner + i] != 0f) return true;
                    return false;
                }).ToArray();
                var subShape = (int[])shape.Clone();
                subShape[dim] = keptChannels.Length;
                int Full(int o, int j, int i) => (o * channels + keptChannels[j]) * inner + i;
                int Sub(int o, int j, int i) => (o * keptChannels.Length + j) * inner + i;
                int n = outer * keptChannels.Length * inner;
                float[] subT = new float[n], subMask = new float[n];
                for (int o = 0; o < outer; o++)
                    for (int j = 0; j < keptChannels.Length; j++)
                        for (int i = 0; i < inner; i++)
                            (subT[Sub(o, j, i)], subMask[Sub(o, j, i)]) = (t[Full(o, j, i)], mask[Full(o, j, i)]);
                var partial = ComputeMask(subT, subShape, subMask);
                for (int o = 0; o < outer; o++)
                    for (int j = 0; j < keptChannels.Length; j++)
                        for (int i = 0; i < inner; i++)
                            combined[Full(o, j, i)] = partial[Sub(o, j, i)];
                return combined;
            }
            default:
                return ComputeMask(t, shape, mask);
        }
    }

    /// <summary><see cref="Engine.Nn.L1Unstructured"/> of <paramref name="amount"/>: the factory for <see cref="Prune.GlobalUnstructured"/>.</summary>
    public static PruningMethod L1Unstructured(PruningAmount amount) => new L1Unstructured(amount);

    /// <summary><see cref="Engine.Nn.RandomUnstructured"/> of <paramref name="amount"/> (the next seed of <see cref="Generator"/>).</summary>
    public static PruningMethod RandomUnstructured(PruningAmount amount) => new RandomUnstructured(amount);
}

/// <summary>Index arithmetic shared by the structured methods: a dimension and the (outer, channels, inner) split around it.</summary>
internal static class PruningShapes
{
    /// <summary><paramref name="dim"/> made non-negative; out of range is an error naming it and the shape.</summary>
    public static int Axis(int dim, int[] shape, string method)
    {
        int axis = dim < 0 ? dim + shape.Length : dim;
        if (axis < 0 || axis >= shape.Length)
            throw new ArgumentOutOfRangeException(nameof(dim), dim,
                $"{method}: dim = {dim} is out of range for a parameter of shape {Shapes.Format(shape)} " +
                $"(rank {shape.Length}: dim must be in [{-shape.Length}, {shape.Length - 1}]).");
        return axis;
    }

    /// <summary>The products of the dimensions before <paramref name="dim"/>, its size, and those after.</summary>
    public static (int Outer, int Channels, int Inner) Split(int[] shape, int dim) =>
        (shape[..dim].Aggregate(1, (a, b) => a * b), shape[dim], shape[(dim + 1)..].Aggregate(1, (a, b) => a * b));
}
