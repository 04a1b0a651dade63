using Engine.Kernels;

namespace Engine;

/// <summary>Shape arithmetic and the checks that turn bad shapes into messages naming the op and the shapes.</summary>
internal static class Shapes
{
    public const int MaxRank = StridedLayout.MaxRank;

    public static string Format(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Throws unless rank ≤ 8 and every dimension ≥ 1; returns the element count.</summary>
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

    /// <summary>The element count of <paramref name="shape"/>, counted in 64 bits: a shape past a tensor's 2³¹ − 1
    /// elements is an error naming it, never a count that wrapped around.</summary>
    public static int Numel(IReadOnlyList<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            n *= d;
            if (n > int.MaxValue || n < 0)
                throw new ArgumentException(
                    $"shape {Format(shape)} has {shape.Aggregate(1.0, (a, x) => a * x):N0} elements; a tensor holds at most {int.MaxValue:N0}.");
        }
        return (int)n;
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
    /// NumPy broadcasting of two shapes (aligned at the right; a dimension of 1 stretches). Each operand's
    /// <see cref="BroadcastMap"/> is returned where one expresses it (same shape, a scalar, a trailing block such as a
    /// bias <c>[n]</c> over <c>[m, n]</c>, a leading block such as <c>[m, 1]</c> over <c>[m, n]</c>: the fast kernels);
    /// null where the operand stretches on both sides of an axis it varies along, and must be expanded first.
    /// </summary>
    public static (int[] Result, BroadcastMap? A, BroadcastMap? B) Broadcast(string op, int[] a, int[] b)
    {
        if (a.SequenceEqual(b))
        {
            int n = Numel(a);
            return (a, new BroadcastMap(1, n), new BroadcastMap(1, n));
        }
        var result = BroadcastShape(op, a, b);
        return (result, MapOf(Pad(a, result.Length), result), MapOf(Pad(b, result.Length), result));
    }

    /// <summary>The broadcast shape of two shapes, or an error naming both and the first axis that clashes.</summary>
    public static int[] BroadcastShape(string op, int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var pa = Pad(a, rank);
        var pb = Pad(b, rank);
        var result = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            if (pa[d] != pb[d] && pa[d] != 1 && pb[d] != 1)
                throw new ArgumentException(
                    $"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast (axis {d - rank}: {pa[d]} vs {pb[d]}).");
            result[d] = Math.Max(pa[d], pb[d]);
        }
        return result;
    }

    /// <summary><paramref name="shape"/> with leading 1s up to <paramref name="rank"/>.</summary>
    public static int[] Pad(int[] shape, int rank) =>
        Enumerable.Repeat(1, rank - shape.Length).Concat(shape).ToArray();

    /// <summary>The fast-kernel map of <paramref name="operand"/> broadcast to <paramref name="result"/>, or null (expand it).</summary>
    public static BroadcastMap? MapTo(int[] operand, int[] result) =>
        operand.SequenceEqual(result) ? new BroadcastMap(1, Numel(result)) : MapOf(Pad(operand, result.Length), result);

    private static BroadcastMap? MapOf(int[] padded, int[] result)
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
            if (padded[d] != result[d]) return null;
            len *= padded[d];
        }
        int div = 1;
        for (int d = last + 1; d < result.Length; d++) div *= result[d];
        return new BroadcastMap(div, len);
    }

    /// <summary>
    /// <paramref name="sizes"/> with at most one −1 replaced so that they hold <paramref name="total"/> elements, or an
    /// error naming the op, the sizes and <paramref name="what"/> they must fill.
    /// </summary>
    public static int[] ResolveInferred(string op, int[] sizes, int total, string what)
    {
        var resolved = (int[])sizes.Clone();
        int inferred = Array.IndexOf(resolved, -1);
        if (inferred >= 0 && Array.LastIndexOf(resolved, -1) == inferred)
        {
            long known = 1;
            for (int i = 0; i < resolved.Length; i++)
                if (i != inferred) known *= resolved[i];
            if (known > 0 && total % known == 0) resolved[inferred] = (int)(total / known);
        }
        long count = 1;
        foreach (int d in resolved) count *= d;
        if (resolved.Any(d => d < 1) || count != total)
            throw new ArgumentException($"{op}: shape {Format(sizes)} does not fit {what} ({total} elements).");
        return resolved;
    }

    /// <summary>Where a C# range starts on an axis of <paramref name="length"/> and how many it keeps (at least one).</summary>
    public static (int Start, int Length) RangeOffsetAndLength(string op, Range range, int length, int axis)
    {
        int start = range.Start.GetOffset(length), end = range.End.GetOffset(length);
        if (start < 0 || end > length || end <= start)
            throw new IndexOutOfRangeException(
                $"{op}: range {range} is empty or out of bounds for axis {axis} of size {length}.");
        return (start, end - start);
    }
}
