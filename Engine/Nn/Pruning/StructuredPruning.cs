using System.Globalization;

namespace Engine.Nn;

/// <summary>
/// Prunes whole slices along <c>dim</c> (a Linear weight's rows with dim 0: output units; a convolution's output
/// channels with dim 0) of smallest Lₙ norm, as PyTorch's <c>prune.LnStructured</c>. For C slices t_c (every entry whose
/// index along dim is c), ‖t_c‖ₙ = (Σ|x|ⁿ)^(1/n) (max |x| for n = ∞); k = amount (a count) or round(amount·C) (a
/// fraction) slices are pruned: the mask is 1 on the C − k slices of largest norm (<c>topk(norm, C − k)</c>), 0
/// elsewhere, times default_mask; with k = 0 it is default_mask. Ties go to the lower slice index.
/// </summary>
public sealed class LnStructured : PruningMethod
{
    /// <param name="amount">slices to prune: a fraction in [0, 1] or a count.</param>
    /// <param name="n">the norm's order: positive, or <see cref="double.PositiveInfinity"/> (PyTorch's <c>n</c>).</param>
    /// <param name="dim">the dimension whose slices are pruned (negative counts from the end); PyTorch's default is −1.</param>
    /// <exception cref="ArgumentOutOfRangeException">n ≤ 0 or NaN, naming it.</exception>
    public LnStructured(PruningAmount amount, double n, int dim = -1)
    {
        if (!(n > 0))
            throw new ArgumentOutOfRangeException(nameof(n), n,
                $"LnStructured: n = {n.ToString(CultureInfo.InvariantCulture)} is not a norm order: it must be positive " +
                "(1, 2, …, or double.PositiveInfinity).");
        Amount = amount;
        N = n;
        Dim = dim;
    }

    public PruningAmount Amount { get; }

    public double N { get; }

    public int Dim { get; }

    public override PruningType PruningType => PruningType.Structured;

    internal override int StructuredDim => Dim;

    public override float[] ComputeMask(float[] t, int[] shape, float[] defaultMask)
    {
        StructuredPruning.CheckMultidimensional(shape, "LnStructured");
        int dim = PruningShapes.Axis(Dim, shape, "LnStructured");
        var (outer, channels, inner) = PruningShapes.Split(shape, dim);
        int prune = Amount.UnitsToPrune(channels, $"slices along dim {Dim}");
        if (prune == 0) return (float[])defaultMask.Clone();
        var norms = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            double acc = 0;
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    double x = Math.Abs((double)t[(o * channels + c) * inner + i]);
                    acc = double.IsPositiveInfinity(N) ? Math.Max(acc, x) : acc + Math.Pow(x, N);
                }
            norms[c] = double.IsPositiveInfinity(N) ? acc : Math.Pow(acc, 1 / N);
        }
        var keep = Enumerable.Range(0, channels).OrderByDescending(c => norms[c]).ThenBy(c => c)
            .Take(channels - prune).ToHashSet();
        return StructuredPruning.KeepSlices(shape, dim, keep, defaultMask);
    }
}

/// <summary>
/// Prunes <c>amount</c> whole slices along <c>dim</c> chosen uniformly at random (PyTorch's
/// <c>prune.RandomStructured</c>): k = amount (a count) or round(amount·C) (a fraction) of the C slices get mask 0, the
/// others keep default_mask. The choice comes from <paramref name="seed"/>, or from <see cref="Generator"/>'s next seed
/// when it is null (not PyTorch's random stream).
/// </summary>
public sealed class RandomStructured(PruningAmount amount, int dim = -1, int? seed = null) : PruningMethod
{
    public PruningAmount Amount { get; } = amount;

    public int Dim { get; } = dim;

    public override PruningType PruningType => PruningType.Structured;

    internal override int StructuredDim => Dim;

    public override float[] ComputeMask(float[] t, int[] shape, float[] defaultMask)
    {
        StructuredPruning.CheckMultidimensional(shape, "RandomStructured");
        int axis = PruningShapes.Axis(Dim, shape, "RandomStructured");
        int channels = shape[axis];
        int prune = Amount.UnitsToPrune(channels, $"slices along dim {Dim}");
        if (prune == 0) return (float[])defaultMask.Clone();
        var random = new Random(Generator.SeedOrNext(seed));
        var scores = Enumerable.Range(0, channels).Select(_ => random.NextDouble()).ToArray();
        var keep = Enumerable.Range(0, channels).OrderByDescending(c => scores[c]).Take(channels - prune).ToHashSet();
        return StructuredPruning.KeepSlices(shape, axis, keep, defaultMask);
    }
}

internal static class StructuredPruning
{
    /// <exception cref="ArgumentException">a tensor of rank below 2, naming its shape.</exception>
    public static void CheckMultidimensional(int[] shape, string method)
    {
        if (shape.Length < 2)
            throw new ArgumentException(
                $"{method}: structured pruning can only be applied to multidimensional tensors; found a tensor of " +
                $"shape {Shapes.Format(shape)} with {shape.Length} dims.");
    }

    /// <summary>default_mask on the slices along <paramref name="dim"/> in <paramref name="keep"/>, 0 on the others.</summary>
    public static float[] KeepSlices(int[] shape, int dim, HashSet<int> keep, float[] defaultMask)
    {
        var (outer, channels, inner) = PruningShapes.Split(shape, dim);
        var mask = new float[defaultMask.Length];
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < inner; i++)
                {
                    int at = (o * channels + c) * inner + i;
                    mask[at] = keep.Contains(c) ? defaultMask[at] : 0f;
                }
        return mask;
    }
}
