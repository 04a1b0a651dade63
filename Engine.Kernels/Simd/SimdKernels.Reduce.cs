using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Reductions, softmax, the fused softmax-cross-entropy and the online score: the math of ReduceKernels.cs,
/// SoftmaxKernels.cs, LossKernels.cs and ScoreKernels.cs (each function's summary there), with the per-element terms
/// of <see cref="IPairTerm"/> in their vector form. Sums run in a fixed order, so a result repeats bit for bit.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    public void SumAll<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> result, float scale)
        where TTerm : struct, IPairTerm
    {
        int n = a.IntLength;
        float sum = n == 0 ? 0f : Lanes.Wide ? SumTerms<TTerm, F512>(Ptr(a), Ptr(b), n) : SumTerms<TTerm, F256>(Ptr(a), Ptr(b), n);
        *Ptr(result) = scale * sum;
    }

    /// <summary>Σ t(a[i], b[i]) with four accumulators; the tail's unused lanes are masked to 0.</summary>
    [MethodImpl(Lanes.Hot)]
    private static float SumTerms<TTerm, TV>(float* a, float* b, int n)
        where TTerm : struct, IPairTerm where TV : struct, IFloatVector<TV>
    {
        int i = 0, w = TV.Count;
        TV s0 = default, s1 = default, s2 = default, s3 = default;
        for (; i + 4 * w <= n; i += 4 * w)
        {
            s0 += default(TTerm).Term(TV.Load(a + i), TV.Load(b + i));
            s1 += default(TTerm).Term(TV.Load(a + i + w), TV.Load(b + i + w));
            s2 += default(TTerm).Term(TV.Load(a + i + 2 * w), TV.Load(b + i + 2 * w));
            s3 += default(TTerm).Term(TV.Load(a + i + 3 * w), TV.Load(b + i + 3 * w));
        }
        for (; i < n; i += w)
        {
            int r = Math.Min(w, n - i);
            var t = default(TTerm).Term(Lanes.LoadTail<TV>(a + i, r), Lanes.LoadTail<TV>(b + i, r));
            s0 += TV.Select(Lanes.FirstLanes<TV>(r), t, default);
        }
        return TV.Sum((s0 + s1) + (s2 + s3));
    }

    public void SumAllGrad<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> dresult,
        ArrayView<float> da, ArrayView<float> db, float scale, bool gradA, bool gradB) where TTerm : struct, IPairTerm
    {
        int n = a.IntLength;
        if (n == 0) return;
        float g = *Ptr(dresult) * scale;
        float* pa = Ptr(a), pb = Ptr(b), pda = gradA ? Ptr(da) : null, pdb = gradB ? Ptr(db) : null;
        if (Lanes.Wide) Lanes.For(n, new PairGradBody<TTerm, F512>(pa, pb, pda, pdb, g), Pool);
        else Lanes.For(n, new PairGradBody<TTerm, F256>(pa, pb, pda, pdb, g), Pool);
    }

    /// <summary>da += g·∂t/∂a and db += g·∂t/∂b (each only when its pointer is set).</summary>
    private readonly struct PairGradBody<TTerm, TV>(float* a, float* b, float* da, float* db, float g) : IRangeBody
        where TTerm : struct, IPairTerm where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            TV vg = TV.Broadcast(g);
            for (int i = from, w = TV.Count; i < to; i += w)
            {
                int r = Math.Min(w, to - i);
                var x = Lanes.LoadTail<TV>(a + i, r);
                var y = Lanes.LoadTail<TV>(b + i, r);
                if (da != null) Lanes.StoreTail(Lanes.LoadTail<TV>(da + i, r) + vg * default(TTerm).GradA(x, y), da + i, r);
                if (db != null) Lanes.StoreTail(Lanes.LoadTail<TV>(db + i, r) + vg * default(TTerm).GradB(x, y), db + i, r);
            }
        }
    }

    public void AxisSum(ArrayView<float> x, ArrayView<float> y, AxisView v, float scale)
    {
        if (v.Lines == 0) return;
        if (Lanes.Wide) AxisSum<F512>(Ptr(x), Ptr(y), v, scale, max: false);
        else AxisSum<F256>(Ptr(x), Ptr(y), v, scale, max: false);
    }

    public void AxisMax(ArrayView<float> x, ArrayView<float> y, AxisView v)
    {
        if (v.Lines == 0) return;
        if (Lanes.Wide) AxisSum<F512>(Ptr(x), Ptr(y), v, 1f, max: true);
        else AxisSum<F256>(Ptr(x), Ptr(y), v, 1f, max: true);
    }

    /// <summary>
    /// y[line] = scale·Σ_l x[line, l] (or max_l). Inner = 1: each line is contiguous, reduced in registers.
    /// Inner &gt; 1: the lines of one outer block are reduced side by side, a register of inner offsets at a time.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void AxisSum<TV>(float* x, float* y, AxisView v, float scale, bool max)
        where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        TV vs = TV.Broadcast(scale);
        if (v.Inner == 1)
        {
            for (int line = 0; line < v.Lines; line++)
            {
                float* row = x + (long)line * v.Len;
                y[line] = max ? RowMax<TV>(row, v.Len) : scale * RowSum<TV>(row, v.Len);
            }
            return;
        }
        for (int o = 0; o < v.Outer; o++)
        {
            float* block = x + (long)o * v.Len * v.Inner;
            for (int t = 0; t < v.Inner; t += w)
            {
                int r = Math.Min(w, v.Inner - t);
                var acc = Lanes.LoadTail<TV>(block + t, r);
                for (int l = 1; l < v.Len; l++)
                {
                    var next = Lanes.LoadTail<TV>(block + (long)l * v.Inner + t, r);
                    acc = max ? TV.Max(acc, next) : acc + next;
                }
                Lanes.StoreTail(max ? acc : acc * vs, y + (long)o * v.Inner + t, r);
            }
        }
    }

    [MethodImpl(Lanes.Hot)]
    private static float RowSum<TV>(float* row, int n) where TV : struct, IFloatVector<TV>
    {
        int i = 0, w = TV.Count;
        TV s = default;
        for (; i + w <= n; i += w) s += TV.Load(row + i);
        if (i < n) s += Lanes.LoadTail<TV>(row + i, n - i);
        return TV.Sum(s);
    }

    [MethodImpl(Lanes.Hot)]
    private static float RowMax<TV>(float* row, int n) where TV : struct, IFloatVector<TV>
    {
        int i = 0, w = TV.Count;
        TV m = TV.Broadcast(float.NegativeInfinity);
        for (; i + w <= n; i += w) m = TV.Max(m, TV.Load(row + i));
        if (i < n) m = TV.Max(m, Lanes.LoadTail<TV>(row + i, n - i, float.NegativeInfinity));
        return TV.MaxAcross(m);
    }

    /// <summary>Σ_l e^(row[l] − max); the tail's unused lanes are −∞, whose exponential is 0.</summary>
    [MethodImpl(Lanes.Hot)]
    private static float RowSumExp<TV>(float* row, int n, float max) where TV : struct, IFloatVector<TV>
    {
        int i = 0, w = TV.Count;
        TV s = default, vm = TV.Broadcast(max);
        for (; i + w <= n; i += w) s += TV.Exp(TV.Load(row + i) - vm);
        if (i < n) s += TV.Exp(Lanes.LoadTail<TV>(row + i, n - i, float.NegativeInfinity) - vm);
        return TV.Sum(s);
    }

    [MethodImpl(Lanes.Hot)]
    public void AxisSumGrad(ArrayView<float> dy, ArrayView<float> dx, AxisView v, float scale)
    {
        if (v.Lines == 0) return;
        float* pdy = Ptr(dy), pdx = Ptr(dx);
        if (v.Inner == 1)
        {
            for (int line = 0; line < v.Lines; line++)
            {
                float* row = pdx + (long)line * v.Len;
                if (Lanes.Wide) new AxpyConstantBody<F512>(row, scale * pdy[line]).Run(0, v.Len);
                else new AxpyConstantBody<F256>(row, scale * pdy[line]).Run(0, v.Len);
            }
            return;
        }
        for (int o = 0; o < v.Outer; o++)
        for (int l = 0; l < v.Len; l++)
        {
            float* target = pdx + ((long)o * v.Len + l) * v.Inner;
            if (Lanes.Wide) new AxpyBody<F512>(pdy + (long)o * v.Inner, target, scale).Run(0, v.Inner);
            else new AxpyBody<F256>(pdy + (long)o * v.Inner, target, scale).Run(0, v.Inner);
        }
    }

    /// <summary>y += value.</summary>
    private readonly struct AxpyConstantBody<TV>(float* y, float value) : IRangeBody where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            TV vv = TV.Broadcast(value);
            int i = from, w = TV.Count;
            for (; i + w <= to; i += w) TV.Store(TV.Load(y + i) + vv, y + i);
            if (i < to) Lanes.StoreTail(Lanes.LoadTail<TV>(y + i, to - i) + vv, y + i, to - i);
        }
    }

    /// <summary>The whole dy[line] goes to the first l where x[line, l] = y[line] (as <see cref="ReduceKernels.AxisMaxBackward"/>).</summary>
    [MethodImpl(Lanes.Hot)]
    public void AxisMaxGrad(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx,
        AxisView v)
    {
        if (v.Lines == 0) return;
        float* px = Ptr(x), py = Ptr(y), pdy = Ptr(dy), pdx = Ptr(dx);
        for (int line = 0; line < v.Lines; line++)
        {
            int arg = 0;
            for (int l = 0; l < v.Len; l++)
            {
                if (px[v.Index(line, l)] != py[line]) continue;
                arg = l;
                break;
            }
            pdx[v.Index(line, arg)] += pdy[line];
        }
    }

    public void Softmax(ArrayView<float> x, ArrayView<float> y, AxisView v, bool log)
    {
        if (v.Lines == 0) return;
        if (v.Inner == 1)
        {
            // Contiguous lines: a band of lines per worker, a large result streamed past the caches.
            bool stream = Lanes.Streams((long)v.Lines * v.Len, Ptr(x), Ptr(y));
            if (Lanes.Wide) Lanes.ForRows(v.Lines, v.Len, new SoftmaxLines<F512>(Ptr(x), Ptr(y), v.Len, log, stream), Pool);
            else Lanes.ForRows(v.Lines, v.Len, new SoftmaxLines<F256>(Ptr(x), Ptr(y), v.Len, log, stream), Pool);
            return;
        }
        ForEachLine(Ptr(x), Ptr(y), null, v, (xl, yl, _, n) =>
        {
            if (Lanes.Wide) SoftmaxLine<F512>(xl, yl, n, log, stream: false);
            else SoftmaxLine<F256>(xl, yl, n, log, stream: false);
        }, writesSecond: true);
    }

    /// <summary>Softmax over the contiguous lines [from, to) of <paramref name="n"/> elements.</summary>
    private readonly struct SoftmaxLines<TV>(float* x, float* y, int n, bool log, bool stream) : IRangeBody
        where TV : struct, IFloatVector<TV>
    {
        public void Run(int from, int to)
        {
            for (int line = from; line < to; line++) SoftmaxLine<TV>(x + (long)line * n, y + (long)line * n, n, log, stream);
        }
    }

    /// <summary>
    /// y = e^(x − m)/Σ e^(x − m), or x − m − ln Σ e^(x − m) (log), over one contiguous line. The softmax takes one
    /// exponential per element: e^(x − m) goes to y while it is summed, then y is scaled by 1/Σ in place (with
    /// non-temporal stores when <paramref name="stream"/>); the same floats as exponentiating twice.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void SoftmaxLine<TV>(float* x, float* y, int n, bool log, bool stream) where TV : struct, IFloatVector<TV>
    {
        float max = RowMax<TV>(x, n);
        TV vm = TV.Broadcast(max);
        int w = TV.Count;
        if (log)
        {
            float sum = RowSumExp<TV>(x, n, max);
            // (x − m) − ln Σ, never x − (m + ln Σ): folding m into the shift rounds away up to half an ulp of m, which is
            // all of a small log-probability beside a large logit (x = 100: −6.1e-6 would come out −7.6e-6).
            TV logSum = TV.Broadcast(MathF.Log(sum));
            for (int i = 0; i < n; i += w)
            {
                int r = Math.Min(w, n - i);
                Lanes.StoreTail((Lanes.LoadTail<TV>(x + i, r) - vm) - logSum, y + i, r);
            }
            return;
        }
        // Σ in RowSumExp's order (one register of partial sums, the tail's unused lanes e^−∞ = 0).
        TV s = default;
        int j = 0;
        for (; j + w <= n; j += w)
        {
            var e = TV.Exp(TV.Load(x + j) - vm);
            TV.Store(e, y + j);
            s += e;
        }
        if (j < n)
        {
            var e = TV.Exp(Lanes.LoadTail<TV>(x + j, n - j, float.NegativeInfinity) - vm);
            Lanes.StoreTail(e, y + j, n - j);
            s += e;
        }
        TV inv = TV.Broadcast(1f / TV.Sum(s));
        if (stream)
        {
            Lanes.StreamRange<TV, ScaledAt<TV>>(y, 0, n, new ScaledAt<TV>(y, inv));
            return;
        }
        for (int i = 0; i < n; i += w)
        {
            int r = Math.Min(w, n - i);
            Lanes.StoreTail(Lanes.LoadTail<TV>(y + i, r) * inv, y + i, r);
        }
    }

    /// <summary>y[i..] · c, the vectors a streamed rescale of y in place stores.</summary>
    private readonly struct ScaledAt<TV>(float* y, TV c) : IVectorAt<TV> where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV At(int i, int count) => (count == TV.Count ? TV.Load(y + i) : Lanes.LoadTail<TV>(y + i, count)) * c;
    }

    public void SoftmaxGrad(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, AxisView v, bool log)
    {
        if (v.Lines == 0) return;
        ForEachLine(Ptr(y), Ptr(dy), Ptr(dx), v, (yl, dyl, dxl, n) =>
        {
            if (Lanes.Wide) SoftmaxGradLine<F512>(yl, dyl, dxl, n, log);
            else SoftmaxGradLine<F256>(yl, dyl, dxl, n, log);
        }, writesSecond: false);
    }

    /// <summary>Softmax: dx += y·(dy − Σ dy·y); log-softmax: dx += dy − e^y·Σ dy; over one contiguous line.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void SoftmaxGradLine<TV>(float* y, float* dy, float* dx, int n, bool log)
        where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        TV acc = default;
        for (int i = 0; i < n; i += w)
        {
            int r = Math.Min(w, n - i);
            var d = Lanes.LoadTail<TV>(dy + i, r);
            acc += log ? d : d * Lanes.LoadTail<TV>(y + i, r);
        }
        TV s = TV.Broadcast(TV.Sum(acc));
        for (int i = 0; i < n; i += w)
        {
            int r = Math.Min(w, n - i);
            var yi = Lanes.LoadTail<TV>(y + i, r);
            var d = Lanes.LoadTail<TV>(dy + i, r);
            var g = log ? d - TV.Exp(yi) * s : yi * (d - s);
            Lanes.StoreTail(Lanes.LoadTail<TV>(dx + i, r) + g, dx + i, r);
        }
    }

    private delegate void LineOp(float* first, float* second, float* third, int n);

    /// <summary>
    /// Runs <paramref name="op"/> on every line of the axis: in place when lines are contiguous (Inner = 1), otherwise
    /// on gathered copies, scattering back what it wrote (the second buffer, or the third when there is one).
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void ForEachLine(float* first, float* second, float* third, AxisView v, LineOp op, bool writesSecond)
    {
        if (v.Inner == 1)
        {
            for (int line = 0; line < v.Lines; line++)
            {
                long at = (long)line * v.Len;
                op(first + at, second + at, third == null ? null : third + at, v.Len);
            }
            return;
        }
        var scratch = new float[3 * v.Len];
        fixed (float* s = scratch)
        {
            float* a = s, b = s + v.Len, c = s + 2 * v.Len;
            for (int line = 0; line < v.Lines; line++)
            {
                for (int l = 0; l < v.Len; l++)
                {
                    int i = v.Index(line, l);
                    a[l] = first[i];
                    b[l] = second[i];
                    if (third != null) c[l] = third[i];
                }
                op(a, b, third == null ? null : c, v.Len);
                for (int l = 0; l < v.Len; l++)
                {
                    int i = v.Index(line, l);
                    if (writesSecond) second[i] = b[l];
                    else third[i] = c[l];
                }
            }
        }
    }

    /// <summary>The math of <see cref="LossKernels.CrossEntropyRows"/>; max and Σ e^(x − m) run in registers.</summary>
    [MethodImpl(Lanes.Hot)]
    public void CrossEntropyRows(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> rowLoss, int classes,
        ArrayView<float> weights, CrossEntropyTerms t)
    {
        int rows = rowLoss.IntLength;
        float* x = Ptr(logits), loss = Ptr(rowLoss), w = t.Weighted != 0 ? Ptr(weights) : null;
        int* label = Ptr(labels);
        for (int r = 0; r < rows; r++)
        {
            float* row = x + (long)r * classes;
            float max = Lanes.Wide ? RowMax<F512>(row, classes) : RowMax<F256>(row, classes);
            float sum = Lanes.Wide ? RowSumExp<F512>(row, classes, max) : RowSumExp<F256>(row, classes, max);
            // −log p_c = (max − x_c) + ln Σ: max is never folded into ln Σ (that rounds away half an ulp of max).
            float logSum = MathF.Log(sum);
            int y = label[r];
            if (y == t.IgnoreIndex)
            {
                loss[r] = 0f;
                continue;
            }
            float value = (1f - t.Smoothing) * (w == null ? 1f : w[y]) * ((max - row[y]) + logSum);
            if (t.Smoothing != 0f)
            {
                float spread = 0f;
                for (int c = 0; c < classes; c++) spread += (w == null ? 1f : w[c]) * ((max - row[c]) + logSum);
                value += t.Smoothing / classes * spread;
            }
            loss[r] = value;
        }
    }

    public void CrossEntropyGrad(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> dloss,
        ArrayView<float> dlogits, int classes, float scale, ArrayView<float> weights, CrossEntropyTerms t)
    {
        int rows = labels.IntLength;
        if (rows == 0) return;
        float g = *Ptr(dloss) * scale;
        float* w = t.Weighted != 0 ? Ptr(weights) : null;
        if (Lanes.Wide) CrossEntropyGrad<F512>(Ptr(logits), Ptr(labels), Ptr(dlogits), rows, classes, g, w, t);
        else CrossEntropyGrad<F256>(Ptr(logits), Ptr(labels), Ptr(dlogits), rows, classes, g, w, t);
    }

    /// <summary>
    /// The math of <see cref="LossKernels.CrossEntropyBackward"/>: dlogits[r, k] += g·(p_k·T − (ε/C)·w_k − (1 − ε)·w_y·[k = y]),
    /// T = (1 − ε)·w_y + (ε/C)·W; the softmax part runs in registers.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void CrossEntropyGrad<TV>(float* x, int* label, float* dx, int rows, int classes, float g, float* w,
        CrossEntropyTerms t) where TV : struct, IFloatVector<TV>
    {
        int width = TV.Count;
        float spread = t.Smoothing / classes;
        for (int r = 0; r < rows; r++)
        {
            int y = label[r];
            if (y == t.IgnoreIndex) continue;
            float* row = x + (long)r * classes, drow = dx + (long)r * classes;
            float max = RowMax<TV>(row, classes);
            float sum = RowSumExp<TV>(row, classes, max);
            float wy = (1f - t.Smoothing) * (w == null ? 1f : w[y]);
            float total = wy + spread * (w == null ? classes : t.WeightSum);
            TV vm = TV.Broadcast(max), scale = TV.Broadcast(g * total / sum);
            for (int c = 0; c < classes; c += width)
            {
                int n = Math.Min(width, classes - c);
                var p = TV.Exp(Lanes.LoadTail<TV>(row + c, n) - vm) * scale;
                Lanes.StoreTail(Lanes.LoadTail<TV>(drow + c, n) + p, drow + c, n);
            }
            if (spread != 0f)
                for (int c = 0; c < classes; c++) drow[c] -= g * spread * (w == null ? 1f : w[c]);
            drow[y] -= g * wy;
        }
    }

    /// <summary>The math of <see cref="ScoreKernels.ScoreSample"/>: the loss and whether the first argmax is the label.</summary>
    [MethodImpl(Lanes.Hot)]
    public void ScoreSample(ArrayView<float> logits, int classes, int label, ArrayView<float> loss,
        ArrayView<float> scores, int slot)
    {
        float* x = Ptr(logits), s = Ptr(scores);
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (x[c] > x[best]) best = c;
        s[2 * slot] = *Ptr(loss);
        s[2 * slot + 1] = classes > 0 && best == label ? 1f : 0f;
    }
}
