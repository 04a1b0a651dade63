using ILGPU;

namespace Engine.Kernels;

/// <summary>Index arithmetic shared by the grid-stride kernels.</summary>
/// <remarks>
/// NOTE: kernels read <see cref="Step"/> and the loop bound once, into locals
/// (<c>for (int i = Start, step = Step, end = n; i &lt; end; i += step)</c>). On ILGPU's CPU accelerator every
/// read of <c>Grid</c>/<c>Group</c> is a thread-static lookup; re-reading them per iteration made element-wise
/// kernels 18× slower there.
/// </remarks>
public static class GridStride
{
    /// <summary>This thread's first item.</summary>
    public static int Start => Grid.IdxX * Group.DimX + Group.IdxX;

    /// <summary>Distance between this thread's consecutive items: all threads of the grid.</summary>
    public static int Step => Grid.DimX * Group.DimX;
}

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

/// <summary>Reductions inside one group through shared memory.</summary>
public static class GroupReduce
{
    /// <summary>
    /// Adds <paramref name="values"/>[0 .. Group.DimX) into <paramref name="values"/>[0] by a pairwise tree
    /// (fixed order, so repeatable); the group size must be a power of two and every thread must call it.
    /// </summary>
    public static void TreeSum(ArrayView<float> values)
    {
        int t = Group.IdxX;
        Group.Barrier();
        for (int half = Group.DimX / 2; half > 0; half /= 2)
        {
            if (t < half) values[t] += values[t + half];
            Group.Barrier();
        }
    }
}
