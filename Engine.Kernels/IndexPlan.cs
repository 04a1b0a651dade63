namespace Engine.Kernels;

/// <summary>
/// Where gather, index_select and their scatters read and write along axis <c>dim</c> of a tensor x. The positions
/// form an index space P laid out as [Outer, Len, Inner] around dim (the index tensor's shape for gather, x's shape
/// with dim resized to the index's length for index_select); <see cref="Positions"/> maps a position to x's offset with
/// its dim coordinate at 0, so element p of P is x[Positions.Map(p) + index·DimStride].
/// </summary>
public struct IndexPlan
{
    public StridedLayout Positions;

    /// <summary>x's stride along dim, and its size there (an index must lie in [0, DimSize)).</summary>
    public int DimStride, DimSize;

    /// <summary>P as [Outer, Len, Inner] around dim: Len = P's size along dim, Inner = P's elements after dim.</summary>
    public int Len, Inner;

    /// <summary>1: position p reads index[p] (gather, scatter); 0: index[(p / Inner) % Len] (index_select).</summary>
    public int PerPosition;

    /// <summary>Which op this is, written into the error record (the engine maps it back to the op's name).</summary>
    public int OpId;

    public readonly int Count => Positions.Count;

    /// <summary>The slot of the index tensor that position <paramref name="p"/> reads.</summary>
    public readonly int IndexSlot(int p) => PerPosition != 0 ? p : p / Inner % Len;

    /// <summary>Position <paramref name="j"/> along dim of line <paramref name="line"/> (lines: Outer·Inner of them).</summary>
    public readonly int PositionOf(int line, int j) => (line / Inner * Len + j) * Inner + line % Inner;
}

/// <summary>
/// The error record an index kernel leaves for the engine: [1, position, value, op id] from the first thread that found
/// an index out of range (later ones leave it alone); zeroed when the engine has reported it.
/// </summary>
public static class IndexErrors
{
    public const int Length = 4;
}
