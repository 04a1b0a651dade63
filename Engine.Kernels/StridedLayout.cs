namespace Engine.Kernels;

/// <summary>
/// An index space of up to <see cref="MaxRank"/> dimensions laid over a buffer with arbitrary (also zero or negative)
/// strides, PyTorch's (sizes, strides, storage offset) and tinygrad's ShapeTracker view: element (i₀, …, i₇) lives at
/// <c>Offset + Σ_d i_d·Stride_d</c>, and the space's flat index i is its row-major position. Unused leading
/// dimensions have size 1. A zero stride repeats an element (broadcast / expand), a negative one walks backwards (flip).
/// </summary>
/// <remarks>
/// Eight named fields rather than arrays, so the struct is a plain kernel argument on every ILGPU backend. Build one
/// with <see cref="Create"/>; <see cref="Coalesce"/> merges dimensions that are contiguous with each other in every
/// layout of an operation, so a contiguous copy becomes one run.
/// </remarks>
public struct StridedLayout
{
    public const int MaxRank = 8;

    public int Offset;
    public int Size0, Size1, Size2, Size3, Size4, Size5, Size6, Size7;
    public int Stride0, Stride1, Stride2, Stride3, Stride4, Stride5, Stride6, Stride7;

    /// <summary>Elements in the index space.</summary>
    public readonly int Count => Size0 * Size1 * Size2 * Size3 * Size4 * Size5 * Size6 * Size7;

    /// <summary>The buffer position of flat index <paramref name="i"/> (row-major over the sizes).</summary>
    public readonly int Map(int i)
    {
        int o = Offset;
        o += i % Size7 * Stride7; i /= Size7;
        o += i % Size6 * Stride6; i /= Size6;
        o += i % Size5 * Stride5; i /= Size5;
        o += i % Size4 * Stride4; i /= Size4;
        o += i % Size3 * Stride3; i /= Size3;
        o += i % Size2 * Stride2; i /= Size2;
        o += i % Size1 * Stride1; i /= Size1;
        return o + i * Stride0;
    }

    public readonly int Size(int d) => d switch
    {
        0 => Size0, 1 => Size1, 2 => Size2, 3 => Size3, 4 => Size4, 5 => Size5, 6 => Size6, _ => Size7,
    };

    public readonly int Stride(int d) => d switch
    {
        0 => Stride0, 1 => Stride1, 2 => Stride2, 3 => Stride3, 4 => Stride4, 5 => Stride5, 6 => Stride6, _ => Stride7,
    };

    /// <summary>A layout of <paramref name="sizes"/> (rank ≤ 8) with <paramref name="strides"/>, right-aligned.</summary>
    public static StridedLayout Create(ReadOnlySpan<int> sizes, ReadOnlySpan<int> strides, int offset)
    {
        if (sizes.Length > MaxRank || sizes.Length != strides.Length)
            throw new ArgumentException($"a strided layout takes at most {MaxRank} sizes with as many strides.");
        Span<int> s = stackalloc int[MaxRank];
        Span<int> t = stackalloc int[MaxRank];
        s.Fill(1);
        t.Clear();
        int pad = MaxRank - sizes.Length;
        sizes.CopyTo(s[pad..]);
        strides.CopyTo(t[pad..]);
        return new StridedLayout
        {
            Offset = offset,
            Size0 = s[0], Size1 = s[1], Size2 = s[2], Size3 = s[3], Size4 = s[4], Size5 = s[5], Size6 = s[6], Size7 = s[7],
            Stride0 = t[0], Stride1 = t[1], Stride2 = t[2], Stride3 = t[3],
            Stride4 = t[4], Stride5 = t[5], Stride6 = t[6], Stride7 = t[7],
        };
    }

    /// <summary>The row-major (contiguous) strides of <paramref name="sizes"/>.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> sizes)
    {
        var strides = new int[sizes.Length];
        int s = 1;
        for (int d = sizes.Length - 1; d >= 0; d--)
        {
            strides[d] = s;
            s *= sizes[d];
        }
        return strides;
    }

    /// <summary>A contiguous row-major layout of <paramref name="sizes"/> starting at <paramref name="offset"/>.</summary>
    public static StridedLayout Contiguous(ReadOnlySpan<int> sizes, int offset = 0) =>
        Create(sizes, ContiguousStrides(sizes), offset);

    /// <summary>
    /// The same index spaces with fewer dimensions: size-1 dimensions dropped and neighbours d, d+1 merged wherever
    /// Stride_d = Stride_{d+1}·Size_{d+1} holds in every layout (they must share one shape). Maps are unchanged.
    /// </summary>
    public static void Coalesce(Span<StridedLayout> layouts)
    {
        int count = layouts.Length;
        Span<int> sizes = stackalloc int[MaxRank];
        Span<int> strides = stackalloc int[MaxRank * 4];
        if (count > 4) throw new ArgumentException("coalesce takes at most four layouts.");
        int rank = 0;
        for (int d = 0; d < MaxRank; d++)
        {
            int size = layouts[0].Size(d);
            if (size == 1) continue;
            bool merge = rank > 0;
            for (int l = 0; l < count && merge; l++)
                merge = strides[l * MaxRank + rank - 1] == layouts[l].Stride(d) * size;
            if (merge)
            {
                sizes[rank - 1] *= size;
                for (int l = 0; l < count; l++) strides[l * MaxRank + rank - 1] = layouts[l].Stride(d);
                continue;
            }
            sizes[rank] = size;
            for (int l = 0; l < count; l++) strides[l * MaxRank + rank] = layouts[l].Stride(d);
            rank++;
        }
        for (int l = 0; l < count; l++)
            layouts[l] = Create(sizes[..rank], strides.Slice(l * MaxRank, rank), layouts[l].Offset);
    }
}
