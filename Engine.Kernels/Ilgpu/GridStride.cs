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
