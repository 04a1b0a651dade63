namespace Engine.Kernels;

/// <summary>
/// Maps an index <c>i</c> of a broadcast result to the operand element it reads: <c>(i / Div) % Len</c>.
/// Same shape: (1, n). A row vector <c>[n]</c> over <c>[m, n]</c>: (1, n). A column <c>[m, 1]</c> over
/// <c>[m, n]</c>: (n, m). A scalar: (1, 1).
/// </summary>
public readonly struct BroadcastMap
{
    public BroadcastMap(int div, int len)
    {
        Div = div;
        Len = len;
    }

    public int Div { get; }
    public int Len { get; }

    public int Map(int i) => i / Div % Len;
}

/// <summary>
/// A tensor viewed as <c>[Outer, Len, Inner]</c> for an operation along its middle axis (row-major).
/// </summary>
public readonly struct AxisView
{
    public AxisView(int outer, int len, int inner)
    {
        Outer = outer;
        Len = len;
        Inner = inner;
    }

    public int Outer { get; }
    public int Len { get; }
    public int Inner { get; }

    /// <summary>Number of lines along the axis (= elements of the reduced result).</summary>
    public int Lines => Outer * Inner;

    /// <summary>Flat index of element <paramref name="l"/> of line <paramref name="line"/>.</summary>
    public int Index(int line, int l) => (line / Inner * Len + l) * Inner + line % Inner;

    /// <summary>The line that flat element <paramref name="i"/> belongs to.</summary>
    public int LineOf(int i) => i / (Len * Inner) * Inner + i % Inner;
}
