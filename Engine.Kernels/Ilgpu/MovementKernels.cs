using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Movement and strided reduction: the two kernels every N-d op is built from. A <see cref="StridedLayout"/> names
/// where each element of an index space lives, so one copy kernel serves permute, slice (with a step), flip, expand,
/// repeat, cat, pad and their backward passes, and one reduction serves sums over any set of axes and the gradients of
/// broadcasting.
/// </summary>
public static class MovementKernels
{
    /// <summary>
    /// y[dst(i)] = x[src(i)] (or += when <paramref name="accumulate"/> ≠ 0) for every i of the shared index space
    /// (|src| = |dst|). dst must not map two indices to one element (no zero strides). Grid-stride, one thread per
    /// element.
    /// </summary>
    public static void StridedCopy(ArrayView<float> x, StridedLayout src, ArrayView<float> y, StridedLayout dst,
        int accumulate)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = src.Count; i < end; i += step)
        {
            int t = dst.Map(i);
            float v = x[src.Map(i)];
            y[t] = accumulate != 0 ? y[t] + v : v;
        }
    }

    /// <summary>
    /// y[j] = scale·Σ_r x[outer(j) + inner(r)] (or += when <paramref name="accumulate"/> ≠ 0) for j in [0, |outer|),
    /// r in [0, |inner|): a sum over the dimensions of <paramref name="inner"/> (whose offset is 0) for each
    /// position of <paramref name="outer"/>; y is contiguous. One thread per output element, summing in r order.
    /// </summary>
    public static void StridedSum(ArrayView<float> x, StridedLayout outer, StridedLayout inner, ArrayView<float> y,
        float scale, int accumulate)
    {
        int terms = inner.Count;
        for (int j = GridStride.Start, step = GridStride.Step, end = outer.Count; j < end; j += step)
        {
            int at = outer.Map(j);
            float sum = 0f;
            for (int r = 0; r < terms; r++) sum += x[at + inner.Map(r)];
            y[j] = accumulate != 0 ? y[j] + scale * sum : scale * sum;
        }
    }

    public static void StridedCopy(this KernelContext k, ArrayView<float> x, StridedLayout src, ArrayView<float> y,
        StridedLayout dst, bool accumulate) =>
        k.Load<ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, int>(StridedCopy)(
            k.ForItems(src.Count), x, src, y, dst, accumulate ? 1 : 0);

    public static void StridedSum(this KernelContext k, ArrayView<float> x, StridedLayout outer, StridedLayout inner,
        ArrayView<float> y, float scale, bool accumulate) =>
        k.Load<ArrayView<float>, StridedLayout, StridedLayout, ArrayView<float>, float, int>(StridedSum)(
            k.ForItems(outer.Count), x, outer, inner, y, scale, accumulate ? 1 : 0);
}
