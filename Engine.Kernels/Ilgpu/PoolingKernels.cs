using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Max and average pooling over planes (<see cref="PoolGeometry"/> holds the windows and their math, shared with the
/// SIMD backend). Forward: one thread per output element. Backward: one thread per plane walking its outputs in order,
/// so the taps that windows share add up in one fixed order, with no atomics.
/// </summary>
public static class PoolingKernels
{
    /// <summary>y[j] = max over the window of output j (NaN wins), indices[j] = the winner's h·W + w in its plane.</summary>
    public static void MaxForward(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolGeometry g)
    {
        int perPlane = g.OH * g.OW;
        for (int j = GridStride.Start, step = GridStride.Step, n = g.Planes * perPlane; j < n; j += step)
        {
            int plane = j / perPlane, o = j % perPlane;
            y[j] = g.MaxAt(x, plane, o / g.OW, o % g.OW, out int index);
            indices[j] = index;
        }
    }

    /// <summary>y[j] = Σ window of output j / divisor.</summary>
    public static void AvgForward(ArrayView<float> x, ArrayView<float> y, PoolGeometry g)
    {
        int perPlane = g.OH * g.OW;
        for (int j = GridStride.Start, step = GridStride.Step, n = g.Planes * perPlane; j < n; j += step)
        {
            int plane = j / perPlane, o = j % perPlane;
            y[j] = g.AverageAt(x, plane, o / g.OW, o % g.OW);
        }
    }

    /// <summary>dx[plane, indices[j]] += dy[j]: thread = plane.</summary>
    public static void MaxBackward(ArrayView<float> dy, ArrayView<int> indices, ArrayView<float> dx, PoolGeometry g)
    {
        for (int plane = GridStride.Start, step = GridStride.Step; plane < g.Planes; plane += step)
            g.MaxGradPlane(dy, indices, dx, plane);
    }

    /// <summary>dx += dy/divisor at each tap of each window: thread = plane.</summary>
    public static void AvgBackward(ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g)
    {
        for (int plane = GridStride.Start, step = GridStride.Step; plane < g.Planes; plane += step)
            g.AverageGradPlane(dy, dx, plane);
    }

    public static void MaxPool(this KernelContext k, ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices,
        PoolGeometry g) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolGeometry>(MaxForward)(
            k.ForItems((long)g.Planes * g.OH * g.OW), x, y, indices, g);

    public static void AvgPool(this KernelContext k, ArrayView<float> x, ArrayView<float> y, PoolGeometry g) =>
        k.Load<ArrayView<float>, ArrayView<float>, PoolGeometry>(AvgForward)(
            k.ForItems((long)g.Planes * g.OH * g.OW), x, y, g);

    public static void MaxPoolGrad(this KernelContext k, ArrayView<float> dy, ArrayView<int> indices,
        ArrayView<float> dx, PoolGeometry g) =>
        k.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolGeometry>(MaxBackward)(
            k.ForItems(g.Planes), dy, indices, dx, g);

    public static void AvgPoolGrad(this KernelContext k, ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g) =>
        k.Load<ArrayView<float>, ArrayView<float>, PoolGeometry>(AvgBackward)(k.ForItems(g.Planes), dy, dx, g);
}
