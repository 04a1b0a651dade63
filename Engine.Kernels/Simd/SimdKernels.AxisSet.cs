using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Reductions over a set of axes (logsumexp, variance, standard deviation, p-norm): the math of
/// <see cref="ReduceKernels.AxisSetReduce{TOp}"/>, the same scalar operator forms, walked on the host.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    public void AxisSetReduce<TOp>(ArrayView<float> x, StridedLayout outer, StridedLayout inner, ArrayView<float> y,
        float p) where TOp : struct, IAxisReduction
    {
        float* px = Ptr(x), py = Ptr(y);
        int n = inner.Count;
        for (int j = 0, end = outer.Count; j < end; j++)
        {
            float* at = px + outer.Map(j);
            float a = default(TOp).FirstInit;
            for (int r = 0; r < n; r++) a = default(TOp).First(a, at[inner.Map(r)], p);
            float b = 0f;
            if (default(TOp).TwoPass)
                for (int r = 0; r < n; r++) b += default(TOp).Second(at[inner.Map(r)], a, n, p);
            py[j] = default(TOp).Finish(a, b, n, p);
        }
    }

    public void AxisSetReduceGrad<TOp>(ArrayView<float> x, StridedLayout spread, ArrayView<float> y,
        ArrayView<float> first, ArrayView<float> dy, ArrayView<float> dx, int n, float p) where TOp : struct, IAxisReduction
    {
        float* px = Ptr(x), py = Ptr(y), pa = Ptr(first), pdy = Ptr(dy), pdx = Ptr(dx);
        for (int i = 0, end = x.IntLength; i < end; i++)
        {
            int j = spread.Map(i);
            float a = default(TOp).GradNeedsFirst ? pa[j] : 0f;
            pdx[i] += pdy[j] * default(TOp).Grad(px[i], py[j], a, n, p);
        }
    }
}
