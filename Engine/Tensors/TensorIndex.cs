namespace Engine;

/// <summary>
/// One entry of a tensor indexer, <c>x[2, 1..3, ^1]</c>: an integer (from the start, negative or <c>^k</c> from the
/// end) selects one position and removes the axis; a range keeps the axis, sliced.
/// </summary>
public readonly struct TensorIndex
{
    private TensorIndex(Index position, Range? range)
    {
        Position = position;
        Range = range;
    }

    /// <summary>The position an integer entry selects (unused for a range).</summary>
    public Index Position { get; }

    /// <summary>The range a slicing entry keeps, or null for an integer entry.</summary>
    public Range? Range { get; }

    public static implicit operator TensorIndex(int index) =>
        new(index < 0 ? new Index(-index, fromEnd: true) : new Index(index), null);

    public static implicit operator TensorIndex(Index index) => new(index, null);

    public static implicit operator TensorIndex(Range range) => new(default, range);

    public override string ToString() => Range?.ToString() ?? Position.ToString();
}
