namespace Engine.Tests;

/// <summary>
/// Plain N-d references for the movement, reduction and batched ops: every result element computed from its
/// multi-index by the op's definition, in double.
/// </summary>
public static class NdReference
{
    public static int Numel(int[] shape) => shape.Aggregate(1, (p, d) => p * d);

    /// <summary>The multi-index of flat position <paramref name="i"/> in a row-major <paramref name="shape"/>.</summary>
    public static int[] Unravel(int i, int[] shape)
    {
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
        return idx;
    }

    public static int Ravel(int[] idx, int[] shape)
    {
        int i = 0;
        for (int d = 0; d < shape.Length; d++) i = i * shape[d] + idx[d];
        return i;
    }

    /// <summary>out[idx] = x[source(idx)] for every idx of <paramref name="result"/>.</summary>
    public static double[] Map(double[] x, int[] shape, int[] result, Func<int[], int[]> source)
    {
        var y = new double[Numel(result)];
        for (int i = 0; i < y.Length; i++) y[i] = x[Ravel(source(Unravel(i, result)), shape)];
        return y;
    }

    public static double[] Permute(double[] x, int[] shape, int[] perm) =>
        Map(x, shape, perm.Select(p => shape[p]).ToArray(), idx =>
        {
            var src = new int[shape.Length];
            for (int d = 0; d < perm.Length; d++) src[perm[d]] = idx[d];
            return src;
        });

    /// <summary>Sum over <paramref name="axes"/> (kept as size 1).</summary>
    public static double[] SumAxes(double[] x, int[] shape, int[] axes, out int[] kept)
    {
        var keptShape = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var y = new double[Numel(keptShape)];
        for (int i = 0; i < x.Length; i++)
        {
            var idx = Unravel(i, shape);
            foreach (int a in axes) idx[a] = 0;
            y[Ravel(idx, keptShape)] += x[i];
        }
        kept = keptShape;
        return y;
    }

    /// <summary>A rank-<paramref name="rank"/> shape with dimensions 1–<paramref name="max"/> from <paramref name="rng"/>.</summary>
    public static int[] RandomShape(Random rng, int rank, int max = 4) =>
        Enumerable.Range(0, rank).Select(_ => rng.Next(1, max + 1)).ToArray();
}
