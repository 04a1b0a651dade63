using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Reductions: over everything (one deterministic group) and along one axis.</summary>
public static class ReduceKernels
{
    /// <summary>
    /// result[0] = scale · Σᵢ t(a[i], b[i]) over i in [0, |a|). One group only: each thread sums a strided
    /// slice, then a shared-memory tree (group size is a power of two). The order of additions is fixed, so
    /// the result is bit-for-bit repeatable on a device.
    /// </summary>
    public static void SumAll<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> result, float scale)
        where TTerm : struct, IPairTerm
    {
        var scratch = SharedMemory.GetDynamic<float>();
        int t = Group.IdxX;
        float sum = 0f;
        for (int i = t, step = Group.DimX, end = a.IntLength; i < end; i += step)
            sum += default(TTerm).Term(a[i], b[i]);
        scratch[t] = sum;
        GroupReduce.TreeSum(scratch);
        if (t == 0) result[0] = scale * scratch[0];
    }

    /// <summary>
    /// Backward of <see cref="SumAll{TTerm}"/>: da[i] += g·scale·∂t/∂a and (when <paramref name="which"/> has
    /// bit 2) db[i] += g·scale·∂t/∂b, with g = dresult[0] read on the device. Bit 1 of
    /// <paramref name="which"/> enables da.
    /// </summary>
    public static void SumAllBackward<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> dresult,
        ArrayView<float> da, ArrayView<float> db, float scale, int which)
        where TTerm : struct, IPairTerm
    {
        float g = dresult[0] * scale;
        for (int i = GridStride.Start, step = GridStride.Step, end = a.IntLength; i < end; i += step)
        {
            if ((which & 1) != 0) da[i] += g * default(TTerm).GradA(a[i], b[i]);
            if ((which & 2) != 0) db[i] += g * default(TTerm).GradB(a[i], b[i]);
        }
    }

    /// <summary>y[line] = scale · Σ_l x[line, l] over the middle axis of x = [Outer, Len, Inner]. One thread per line.</summary>
    public static void AxisSum(ArrayView<float> x, ArrayView<float> y, AxisView v, float scale)
    {
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            float sum = 0f;
            for (int l = 0; l < v.Len; l++) sum += x[v.Index(line, l)];
            y[line] = scale * sum;
        }
    }

    /// <summary>Backward of <see cref="AxisSum"/>: dx[i] += scale · dy[line(i)]. One thread per element of x.</summary>
    public static void AxisSumBackward(ArrayView<float> dy, ArrayView<float> dx, AxisView v, float scale)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = dx.IntLength; i < end; i += step)
            dx[i] += scale * dy[v.LineOf(i)];
    }

    /// <summary>y[line] = max_l x[line, l], NaN if the line holds one (as PyTorch). One thread per line.</summary>
    public static void AxisMax(ArrayView<float> x, ArrayView<float> y, AxisView v)
    {
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            float best = x[v.Index(line, 0)];
            for (int l = 1; l < v.Len; l++)
            {
                float next = x[v.Index(line, l)];
                if (next > best || float.IsNaN(next)) best = next; // a GPU's max would drop a NaN
            }
            y[line] = best;
        }
    }

    /// <summary>
    /// Backward of <see cref="AxisMax"/>: the whole dy[line] goes to the first position l where
    /// x[line, l] = y[line] (PyTorch routes it to the index <c>max(dim)</c> returns). One thread per line.
    /// </summary>
    public static void AxisMaxBackward(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy,
        ArrayView<float> dx, AxisView v)
    {
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            int arg = 0;
            for (int l = v.Len - 1; l >= 0; l--)
                if (x[v.Index(line, l)] == y[line]) arg = l;
            dx[v.Index(line, arg)] += dy[line];
        }
    }

    public static void SumAll<TTerm>(this KernelContext k, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> result, float scale) where TTerm : struct, IPairTerm =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(SumAll<TTerm>)(
            k.SingleGroupWithScratch(), a, b, result, scale);

    public static void SumAllGrad<TTerm>(this KernelContext k, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> dresult, ArrayView<float> da, ArrayView<float> db, float scale, bool gradA, bool gradB)
        where TTerm : struct, IPairTerm =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int>(
            SumAllBackward<TTerm>)(k.ForItems(a.Length), a, b, dresult, da, db, scale,
            (gradA ? 1 : 0) | (gradB ? 2 : 0));

    public static void AxisSum(this KernelContext k, ArrayView<float> x, ArrayView<float> y, AxisView v,
        float scale) =>
        k.Load<ArrayView<float>, ArrayView<float>, AxisView, float>(AxisSum)(k.ForItems(v.Lines), x, y, v, scale);

    public static void AxisSumGrad(this KernelContext k, ArrayView<float> dy, ArrayView<float> dx, AxisView v,
        float scale) =>
        k.Load<ArrayView<float>, ArrayView<float>, AxisView, float>(AxisSumBackward)(
            k.ForItems(dx.Length), dy, dx, v, scale);

    public static void AxisMax(this KernelContext k, ArrayView<float> x, ArrayView<float> y, AxisView v) =>
        k.Load<ArrayView<float>, ArrayView<float>, AxisView>(AxisMax)(k.ForItems(v.Lines), x, y, v);

    public static void AxisMaxGrad(this KernelContext k, ArrayView<float> x, ArrayView<float> y,
        ArrayView<float> dy, ArrayView<float> dx, AxisView v) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AxisView>(AxisMaxBackward)(
            k.ForItems(v.Lines), x, y, dy, dx, v);

    /// <summary>
    /// y[j] = TOp over the n = |inner| elements x[outer(j) + inner(r)]: first pass a, optional second pass b, then
    /// Finish(a, b) (logsumexp, variance, standard deviation, p-norm over a set of axes). One thread per output.
    /// </summary>
    public static void AxisSetReduce<TOp>(ArrayView<float> x, StridedLayout outer, StridedLayout inner,
        ArrayView<float> y, float p) where TOp : struct, IAxisReduction
    {
        int n = inner.Count;
        for (int j = GridStride.Start, step = GridStride.Step, end = outer.Count; j < end; j += step)
        {
            int at = outer.Map(j);
            float a = default(TOp).FirstInit;
            for (int r = 0; r < n; r++) a = default(TOp).First(a, x[at + inner.Map(r)], p);
            float b = 0f;
            if (default(TOp).TwoPass)
                for (int r = 0; r < n; r++) b += default(TOp).Second(x[at + inner.Map(r)], a, n, p);
            y[j] = default(TOp).Finish(a, b, n, p);
        }
    }

    /// <summary>
    /// dx[i] += dy[j]·Grad(x[i], y[j], a[j]) for every element i of the contiguous x, j = spread.Map(i) its output
    /// (spread: x's shape with the output's strides, zero on the reduced axes); a holds the first pass where needed.
    /// </summary>
    public static void AxisSetReduceGrad<TOp>(ArrayView<float> x, StridedLayout spread, ArrayView<float> y,
        ArrayView<float> first, ArrayView<float> dy, ArrayView<float> dx, int n, float p) where TOp : struct, IAxisReduction
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
        {
            int j = spread.Map(i);
            float a = default(TOp).GradNeedsFirst ? first[j] : 0f;
            dx[i] += dy[j] * default(TOp).Grad(x[i], y[j], a, n, p);
        }
    }

    public static void AxisSetReduce<TOp>(this KernelContext k, ArrayView<float> x, StridedLayout outer,
        StridedLayout inner, ArrayView<float> y, float p) where TOp : struct, IAxisReduction =>
        k.Load<ArrayView<float>, StridedLayout, StridedLayout, ArrayView<float>, float>(AxisSetReduce<TOp>)(
            k.ForItems(outer.Count), x, outer, inner, y, p);

    public static void AxisSetReduceGrad<TOp>(this KernelContext k, ArrayView<float> x, StridedLayout spread,
        ArrayView<float> y, ArrayView<float> first, ArrayView<float> dy, ArrayView<float> dx, int n, float p)
        where TOp : struct, IAxisReduction =>
        k.Load<ArrayView<float>, StridedLayout, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(
            AxisSetReduceGrad<TOp>)(k.ForItems(x.Length), x, spread, y, first, dy, dx, n, p);
}
