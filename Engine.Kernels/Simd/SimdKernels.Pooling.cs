using ILGPU;

namespace Engine.Kernels.Simd;

// Pooling: the window math of PoolGeometry (shared with the ILGPU kernels), planes split over the pool.
public sealed unsafe partial class SimdKernels
{
    public void MaxPool(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolGeometry g) =>
        Planes(g, new PoolPlanes(x, y, indices, g, PoolPlanes.MaxForward));

    public void MaxPoolGrad(ArrayView<float> dy, ArrayView<int> indices, ArrayView<float> dx, PoolGeometry g) =>
        Planes(g, new PoolPlanes(dx, dy, indices, g, PoolPlanes.MaxBackward));

    public void AvgPool(ArrayView<float> x, ArrayView<float> y, PoolGeometry g) =>
        Planes(g, new PoolPlanes(x, y, default, g, PoolPlanes.AvgForward));

    public void AvgPoolGrad(ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g) =>
        Planes(g, new PoolPlanes(dx, dy, default, g, PoolPlanes.AvgBackward));

    private void Planes(PoolGeometry g, PoolPlanes work)
    {
        long taps = (long)g.Planes * g.OH * g.OW * Math.Max(1, g.KH * g.KW);
        if (g.Planes == 0) return;
        if (Pool.Threads > 1 && g.Planes > 1 && taps >= 1 << 15) Pool.Run(work, Math.Min(Pool.Threads, g.Planes));
        else work.Execute(0, 1);
    }

    /// <summary>A pooling pass over a contiguous run of planes per part; x is the input (or its gradient), y the output (or its gradient).</summary>
    private sealed class PoolPlanes(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices,
        PoolGeometry g, int kind) : IParallelWork
    {
        public const int MaxForward = 0, MaxBackward = 1, AvgForward = 2, AvgBackward = 3;

        public void Execute(int part, int parts)
        {
            int from = (int)((long)g.Planes * part / parts), to = (int)((long)g.Planes * (part + 1) / parts);
            for (int plane = from; plane < to; plane++)
            {
                switch (kind)
                {
                    case MaxBackward: g.MaxGradPlane(y, indices, x, plane); break;
                    case AvgBackward: g.AverageGradPlane(y, x, plane); break;
                    default:
                        for (int oh = 0, o = plane * g.OH * g.OW; oh < g.OH; oh++)
                        for (int ow = 0; ow < g.OW; ow++, o++)
                        {
                            if (kind == MaxForward)
                            {
                                y[o] = g.MaxAt(x, plane, oh, ow, out int index);
                                indices[o] = index;
                            }
                            else y[o] = g.AverageAt(x, plane, oh, ow);
                        }
                        break;
                }
            }
        }
    }
}
