namespace Engine.Nn;

/// <summary>
/// Prunes the <c>amount</c> entries of smallest |t| (PyTorch's <c>prune.L1Unstructured</c>): k = amount (a count) or
/// round(amount·numel) (a fraction); mask = default_mask with the k entries of least |t| set to 0 (<c>topk(|t|, k,
/// largest=False)</c>). Ties go to the lower flat index (PyTorch's topk leaves the order of ties unspecified).
/// </summary>
public sealed class L1Unstructured(PruningAmount amount) : PruningMethod
{
    public PruningAmount Amount { get; } = amount;

    public override PruningType PruningType => PruningType.Unstructured;

    public override float[] ComputeMask(float[] t, int[] shape, float[] defaultMask) =>
        UnstructuredPruning.ZeroLowest(Amount, t.Select(v => (double)Math.Abs(v)).ToArray(), defaultMask);
}

/// <summary>
/// Prunes <c>amount</c> entries chosen uniformly at random (PyTorch's <c>prune.RandomUnstructured</c>: the k entries of
/// largest score u ~ U(0, 1)). The scores come from <paramref name="seed"/>, or from <see cref="Generator"/>'s next seed
/// when it is null, so a program that seeds the generator prunes the same entries on every run (not PyTorch's entries:
/// its random stream is not reproduced).
/// </summary>
public sealed class RandomUnstructured(PruningAmount amount, int? seed = null) : PruningMethod
{
    public PruningAmount Amount { get; } = amount;

    public override PruningType PruningType => PruningType.Unstructured;

    public override float[] ComputeMask(float[] t, int[] shape, float[] defaultMask)
    {
        var random = new Random(Generator.SeedOrNext(seed));
        // Pruning the k largest of u is pruning the k smallest of −u.
        var scores = new double[t.Length];
        for (int i = 0; i < scores.Length; i++) scores[i] = -random.NextDouble();
        return UnstructuredPruning.ZeroLowest(Amount, scores, defaultMask);
    }
}

internal static class UnstructuredPruning
{
    /// <summary>default_mask with the amount entries of lowest score zeroed (a stable order: ties to the lower index).</summary>
    public static float[] ZeroLowest(PruningAmount amount, double[] scores, float[] defaultMask)
    {
        int k = amount.UnitsToPrune(scores.Length, "parameters");
        var mask = (float[])defaultMask.Clone();
        if (k == 0) return mask;
        var order = Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).ThenBy(i => i);
        foreach (int i in order.Take(k)) mask[i] = 0f;
        return mask;
    }
}
