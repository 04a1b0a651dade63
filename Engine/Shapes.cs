using Engine.Kernels;

namespace Engine;

/// <summary>Shape arithmetic and the checks that turn bad shapes into messages naming the op and the shapes.</summary>
internal static class Shapes
{
    public const int MaxRank = 4;

    public static string Format(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Throws unless rank ≤ 4 and every dimension ≥ 1; returns the element count.</summary>
    public static int Validate(string op, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length > MaxRank)
            throw new ArgumentException($"{op}: shape {Format(shape)} has rank {shape.Length}; at most {MaxRank} is supported.");
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 1)
                throw new ArgumentException($"{op}: shape {Format(shape)} has a dimension {d}; every dimension must be ≥ 1.");
            count *= d;
            if (count > int.MaxValue)
                throw new ArgumentException($"{op}: shape {Format(shape)} has more than {int.MaxValue} elements.");
        }
        return (int)count;
    }

    public static int Numel(IReadOnlyList<int> shape)
    {
        int n = 1;
        foreach (int d in shape) n *= d;
        return n;
    }

    /// <summary>An axis in [−rank, rank) made non-negative, or an error naming the op and shape.</summary>
    public static int NormalizeAxis(string op, int axis, int[] shape)
    {
        int rank = shape.Length;
        if (rank == 0 || axis < -rank || axis >= rank)
            throw new ArgumentOutOfRangeException(nameof(axis),
                $"{op}: axis {axis} is out of range for shape {Format(shape)} (rank {rank}).");
        return axis < 0 ? axis + rank : axis;
    }

    /// <summary>The shape viewed as [before axis, axis, after axis].</summary>
    public static AxisView Around(int[] shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        return new AxisView(outer, shape[axis], inner);
    }

    /// <summary>The shape with <paramref name="axis"/> removed, or set to 1 when <paramref name="keepDim"/>.</summary>
    public static int[] Reduced(int[] shape, int axis, bool keepDim) =>
        keepDim
            ? shape.Select((d, i) => i == axis ? 1 : d).ToArray()
            : shape.Where((_, i) => i != axis).ToArray();

    /// <summary>
    /// NumPy broadcasting of two shapes (aligned at the right; a dimension of 1 stretches). Each operand must
    /// vary along one contiguous block of the result's axes — same shape, a scalar, a trailing block such as a
    /// bias <c>[n]</c> over <c>[m, n]</c>, or a leading block such as <c>[m, 1]</c> over <c>[m, n]</c> — which is
    /// what its <see cref="BroadcastMap"/> can express.
    /// </summary>
    public static (int[] Result, BroadcastMap A, BroadcastMap B) Broadcast(string op, int[] a, int[] b)
    {
        if (a.SequenceEqual(b))
        {
            int n = Numel(a);
            return (a, new BroadcastMap(1, n), new BroadcastMap(1, n));
        }
        int rank = Math.Max(a.Length, b.Length);
        var pa = Pad(a, rank);
        var pb = Pad(b, rank);
        var result = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            if (pa[d] != pb[d] && pa[d] != 1 && pb[d] != 1)
                throw new ArgumentException(
                    $"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast (axis {d}: {pa[d]} vs {pb[d]}).");
            result[d] = Math.Max(pa[d], pb[d]);
        }
        return (result, MapOf(op, pa, result, a, b), MapOf(op, pb, result, a, b));
    }

    private static int[] Pad(int[] shape, int rank) =>
        Enumerable.Repeat(1, rank - shape.Length).Concat(shape).ToArray();

    private static BroadcastMap MapOf(string op, int[] padded, int[] result, int[] a, int[] b)
    {
        int first = -1, last = -1;
        for (int d = 0; d < result.Length; d++)
        {
            if (padded[d] != 1)
            {
                if (first < 0) first = d;
                last = d;
            }
        }
        if (first < 0) return new BroadcastMap(1, 1);
        int len = 1;
        for (int d = first; d <= last; d++)
        {
            if (padded[d] != result[d])
                throw new ArgumentException(
                    $"{op}: broadcasting {Format(a)} with {Format(b)} stretches an operand along axes on both " +
                    "sides of one it varies along; this engine broadcasts each operand along one contiguous " +
                    "block of axes (same shape, scalar, [n] over [m, n], [m, 1] over [m, n]).");
            len *= padded[d];
        }
        int div = 1;
        for (int d = last + 1; d < result.Length; d++) div *= result[d];
        return new BroadcastMap(div, len);
    }
}
