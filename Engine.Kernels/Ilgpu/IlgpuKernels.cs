using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Ilgpu;

/// <summary>
/// The ILGPU backend of the seam: each primitive is one (or two) launches of the kernels in this folder on the
/// accelerator's default stream, compiled once per accelerator by <see cref="KernelContext"/>. The same kernels run
/// on CUDA, OpenCL and ILGPU's CPU accelerator.
/// </summary>
public sealed class IlgpuKernels : IKernels
{
    public IlgpuKernels(Accelerator accelerator) => Context = new KernelContext(accelerator);

    /// <summary>The launch plumbing (compiled-kernel cache, launch sizes, matmul variant).</summary>
    public KernelContext Context { get; }

    private AcceleratorStream Stream => Context.Accelerator.DefaultStream;

    public string Description => $"ILGPU {Context.Accelerator.AcceleratorType}";

    public void Synchronize() => Context.Accelerator.Synchronize();

    public void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> target) where T : unmanaged =>
        target.SubView(0, source.Length).CopyFromCPU(Stream, source);

    public void Download<T>(ArrayView<T> source, Span<T> target) where T : unmanaged =>
        source.SubView(0, target.Length).CopyToCPU(Stream, target);

    public void Copy(ArrayView<float> source, ArrayView<float> target) => source.CopyTo(Stream, target);

    public void Unary<TOp>(ArrayView<float> x, ArrayView<float> y, float p = 0f, float q = 0f)
        where TOp : struct, IUnaryOp => Context.Unary<TOp>(x, y, p, q);

    public void UnaryGrad<TOp>(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx,
        float p = 0f, float q = 0f) where TOp : struct, IUnaryOp => Context.UnaryGrad<TOp>(x, y, dy, dx, p, q);

    public void Binary<TOp>(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb,
        ArrayView<float> c) where TOp : struct, IBinaryOp => Context.Binary<TOp>(a, ma, b, mb, c);

    public void BinaryGrad<TOp>(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb,
        ArrayView<float> c, ArrayView<float> dc, ArrayView<float> d, int side) where TOp : struct, IBinaryOp =>
        Context.BinaryGrad<TOp>(a, ma, b, mb, c, dc, d, side);

    public void Fill(ArrayView<float> y, float value) => Context.Fill(y, value);

    public void FlagNonFinite(ArrayView<float> x, ArrayView<int> flag, bool reset = true) =>
        Context.FlagNonFinite(x, flag, reset);

    public void Accumulate(ArrayView<float> x, ArrayView<float> y, float alpha = 1f) => Context.Accumulate(x, y, alpha);

    public void Dropout(ArrayView<float> x, ArrayView<float> y, uint seed, float p, bool accumulate) =>
        Context.Dropout(x, y, seed, p, accumulate);

    public void Random(ArrayView<float> y, uint seed, float low, float high, bool normal, uint offset = 0) =>
        Context.Random(y, seed, low, high, normal, offset);

    public void AddGaussianNoise(ArrayView<float> y, uint seed, float std) => Context.AddGaussianNoise(y, seed, std);

    public void StridedCopy(ArrayView<float> x, StridedLayout src, ArrayView<float> y, StridedLayout dst,
        bool accumulate) => Context.StridedCopy(x, src, y, dst, accumulate);

    public void StridedSum(ArrayView<float> x, StridedLayout outer, StridedLayout inner, ArrayView<float> y,
        float scale, bool accumulate) => Context.StridedSum(x, outer, inner, y, scale, accumulate);

    public bool CompletesOnReturn => false;

    public void ToFloat(ArrayView<int> x, ArrayView<float> y) => Context.ToFloat(x, y);

    public void ToInt(ArrayView<float> x, ArrayView<int> y, bool toBool) => Context.ToInt(x, y, toBool);

    public void IntToBool(ArrayView<int> x, ArrayView<int> y) => Context.IntToBool(x, y);

    public void Sequence(ArrayView<float> y, float start, float step) => Context.Sequence(y, start, step);

    public void IntSequence(ArrayView<int> y, int start, int step) => Context.IntSequence(y, start, step);

    public void Compare(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb, ArrayView<int> y,
        int op) => Context.Compare(a, ma, b, mb, y, op);

    public void IntCompare(ArrayView<int> a, BroadcastMap ma, ArrayView<int> b, BroadcastMap mb, ArrayView<int> y,
        int op) => Context.IntCompare(a, ma, b, mb, y, op);

    public void Where(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> a, BroadcastMap ma, ArrayView<float> b,
        BroadcastMap mb, ArrayView<float> y) => Context.Where(cond, mc, a, ma, b, mb, y);

    public void WhereGrad(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> dy, ArrayView<float> d, int side) =>
        Context.WhereGrad(cond, mc, dy, d, side);

    public void Triangle(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int diagonal, bool upper,
        bool accumulate) => Context.Triangle(x, y, rows, cols, diagonal, upper, accumulate);

    public void AxisArgMax(ArrayView<float> x, ArrayView<int> y, AxisView v, bool min) => Context.AxisArgMax(x, y, v, min);

    public void SortLines(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices, AxisView v, int k,
        bool descending) => Context.SortLines(x, values, indices, v, k, descending);

    public void Gather(ArrayView<float> x, ArrayView<int> index, ArrayView<float> y, IndexPlan plan,
        ArrayView<int> errors) => Context.Gather(x, index, y, plan, errors);

    public void Scatter(ArrayView<float> src, ArrayView<int> index, ArrayView<float> y, IndexPlan plan,
        ArrayView<int> errors, bool accumulate) => Context.Scatter(src, index, y, plan, errors, accumulate);

    public void OneHot(ArrayView<int> index, ArrayView<int> y, int classes, ArrayView<int> errors, int opId) =>
        Context.OneHot(index, y, classes, errors, opId);

    public void LineProduct(ArrayView<float> x, ArrayView<float> y, AxisView v) => Context.LineProduct(x, y, v);

    public void LineProductGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, AxisView v) =>
        Context.LineProductGrad(x, dy, dx, v);

    public void SumAll<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> result, float scale)
        where TTerm : struct, IPairTerm => Context.SumAll<TTerm>(a, b, result, scale);

    public void SumAllGrad<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> dresult,
        ArrayView<float> da, ArrayView<float> db, float scale, bool gradA, bool gradB)
        where TTerm : struct, IPairTerm => Context.SumAllGrad<TTerm>(a, b, dresult, da, db, scale, gradA, gradB);

    public void AxisSum(ArrayView<float> x, ArrayView<float> y, AxisView v, float scale) =>
        Context.AxisSum(x, y, v, scale);

    public void AxisSetReduce<TOp>(ArrayView<float> x, StridedLayout outer, StridedLayout inner, ArrayView<float> y,
        float p) where TOp : struct, IAxisReduction => Context.AxisSetReduce<TOp>(x, outer, inner, y, p);

    public void AxisSetReduceGrad<TOp>(ArrayView<float> x, StridedLayout spread, ArrayView<float> y,
        ArrayView<float> first, ArrayView<float> dy, ArrayView<float> dx, int n, float p)
        where TOp : struct, IAxisReduction => Context.AxisSetReduceGrad<TOp>(x, spread, y, first, dy, dx, n, p);

    public void AxisSumGrad(ArrayView<float> dy, ArrayView<float> dx, AxisView v, float scale) =>
        Context.AxisSumGrad(dy, dx, v, scale);

    public void AxisMax(ArrayView<float> x, ArrayView<float> y, AxisView v) => Context.AxisMax(x, y, v);

    public void AxisMaxGrad(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx,
        AxisView v) => Context.AxisMaxGrad(x, y, dy, dx, v);

    public void Softmax(ArrayView<float> x, ArrayView<float> y, AxisView v, bool log) => Context.Softmax(x, y, v, log);

    public void SoftmaxGrad(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, AxisView v, bool log) =>
        Context.SoftmaxGrad(y, dy, dx, v, log);

    public void LstmCellForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> c,
        ArrayView<float> state, ArrayView<float> saved, RecurrentCellShape s) =>
        Context.LstmCellForward(xGates, hGates, c, state, saved, s);

    public void LstmCellBackward(ArrayView<float> saved, ArrayView<float> c, ArrayView<float> dState,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dC, RecurrentCellShape s) =>
        Context.LstmCellBackward(saved, c, dState, dXGates, dHGates, dC, s);

    public void GruCellForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> h,
        ArrayView<float> hNext, ArrayView<float> saved, RecurrentCellShape s) =>
        Context.GruCellForward(xGates, hGates, h, hNext, saved, s);

    public void GruCellBackward(ArrayView<float> saved, ArrayView<float> h, ArrayView<float> dHNext,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dH, RecurrentCellShape s) =>
        Context.GruCellBackward(saved, h, dHNext, dXGates, dHGates, dH, s);

    public void AttentionForward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> stats, AttentionShape shape) => Context.AttentionForward(q, k, v, o, stats, shape);

    public void AttentionBackward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> dOut, ArrayView<float> stats, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        AttentionShape shape) => Context.AttentionBackward(q, k, v, o, dOut, stats, dq, dk, dv, shape);

    public void ChannelStatistics(ArrayView<float> x, ArrayView<float> stats, ArrayView<float> running,
        ChannelView v, NormScalars s) => Context.ChannelStatistics(x, stats, running, v, s);

    public void ChannelNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> bias, ChannelView v, NormScalars s) =>
        Context.ChannelNormalize(x, y, stats, weight, bias, v, s);

    public void ChannelNormalizeGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> dx, ArrayView<float> sums, ChannelView v, NormScalars s) =>
        Context.ChannelNormalizeGrad(x, dy, stats, weight, dx, sums, v, s);

    public void RowNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats, ArrayView<float> weight,
        ArrayView<float> bias, AxisView v, NormScalars s) => Context.RowNormalize(x, y, stats, weight, bias, v, s);

    public void RowNormalizeGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> dx, ArrayView<float> sums, AxisView v, NormScalars s) =>
        Context.RowNormalizeGrad(x, dy, stats, weight, dx, sums, v, s);

    public bool PrefersFusedOnlineStep => true;

    public void DenseForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        DenseStepShape s) => Context.DenseForward(x, w, b, y, s);

    public void DenseForwardCrossEntropy(ArrayView<float> h, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> logits, ArrayView<float> dz, ArrayView<float> scores, DenseStepShape s) =>
        Context.DenseForwardCrossEntropy(h, w, b, logits, dz, scores, s);

    public void DenseBackwardSgd(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> dy,
        ArrayView<float> dx, DenseStepShape s) => Context.DenseBackwardSgd(x, w, b, dy, dx, s);

    public void CrossEntropyRows(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> rowLoss,
        int classes, ArrayView<float> weights, CrossEntropyTerms t) =>
        Context.CrossEntropyRows(logits, labels, rowLoss, classes, weights, t);

    public void CrossEntropyGrad(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> dloss,
        ArrayView<float> dlogits, int classes, float scale, ArrayView<float> weights, CrossEntropyTerms t) =>
        Context.CrossEntropyGrad(logits, labels, dloss, dlogits, classes, scale, weights, t);

    public void ScoreSample(ArrayView<float> logits, int classes, int label, ArrayView<float> loss,
        ArrayView<float> scores, int slot) => Context.ScoreSample(logits, classes, label, loss, scores, slot);

    public void MatMul<TA, TB>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k,
        bool accumulate, float alpha = 1f) where TA : struct, IOperandLayout where TB : struct, IOperandLayout =>
        Context.MatMul<TA, TB>(a, b, c, m, n, k, accumulate, alpha);

    public void BatchedMatMul<TA, TB>(ArrayView<float> a, StridedLayout itemsA, ArrayView<float> b,
        StridedLayout itemsB, ArrayView<float> c, int m, int n, int k, bool accumulate)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout =>
        Context.BatchedMatMul<TA, TB>(a, b, c, m, n, k, accumulate, 1f,
            new MatMulBatch { Items = itemsA.Count, A = itemsA, B = itemsB });

    public void SgdStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, UpdateScalars s) =>
        Context.SgdStep(p, g, buf, s);

    public void AdaGradStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> sum, UpdateScalars s) =>
        Context.AdaGradStep(p, g, sum, s);

    public void RmsPropStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg,
        ArrayView<float> gradAvg, ArrayView<float> buf, UpdateScalars s) =>
        Context.RmsPropStep(p, g, squareAvg, gradAvg, buf, s);

    public void AdadeltaStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg,
        ArrayView<float> accDelta, UpdateScalars s) => Context.AdadeltaStep(p, g, squareAvg, accDelta, s);

    public void AdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> vMax, UpdateScalars s) => Context.AdamStep(p, g, m, v, vMax, s);

    public void AdamaxStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> u,
        UpdateScalars s) => Context.AdamaxStep(p, g, m, u, s);

    public void NAdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        UpdateScalars s) => Context.NAdamStep(p, g, m, v, s);

    public void RAdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        UpdateScalars s) => Context.RAdamStep(p, g, m, v, s);

    public void LionStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, UpdateScalars s) =>
        Context.LionStep(p, g, m, s);

    public void LambStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> scratch, ArrayView<int> starts, UpdateScalars s) =>
        Context.LambStep(p, g, m, v, scratch, starts, s);

    public void EffectiveGradientNormSquared(ArrayView<float> p, ArrayView<float> g, ArrayView<float> result,
        UpdateScalars s) => Context.EffectiveGradientNormSquared(p, g, result, s);

    public void AdaptiveSgdStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> normSq, UpdateScalars s) =>
        Context.AdaptiveSgdStep(p, g, normSq, s);

    public void ScaleToNorm(ArrayView<float> g, ArrayView<float> normSq, float maxNorm) =>
        Context.ScaleToNorm(g, normSq, maxNorm);

    private MemoryBuffer1D<float, Stride1D.Dense>? convolutionScratch;

    /// <summary>The weight gradient's scratch, grown (after the queued work that may read it) when too small.</summary>
    private ArrayView<float> ConvolutionScratch(ConvGeometry g)
    {
        long floats = ConvolutionKernels.ScratchFor(g);
        if (convolutionScratch == null || convolutionScratch.Length < floats)
        {
            Synchronize();
            convolutionScratch?.Dispose();
            convolutionScratch = Context.Accelerator.Allocate1D<float>(floats);
        }
        return convolutionScratch.View;
    }

    public void ConvForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        ConvGeometry g)
    {
        if ((long)g.N * g.OC * g.P == 0) return;
        Context.ConvForward(x, w, bias, y.SubView(0, (long)g.N * g.OC * g.P), g);
    }

    public void ConvBackwardInput(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, ConvGeometry g,
        bool accumulate)
    {
        if ((long)g.N * g.C * g.Plane == 0) return;
        Context.ConvBackwardInput(dy, w, dx, g, accumulate);
    }

    public void ConvBackwardWeight(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw, ConvGeometry g,
        bool accumulate)
    {
        if ((long)g.OC * g.K == 0) return;
        if ((long)g.N * g.P == 0)
        {
            if (!accumulate) Context.Fill(dw, 0f);
            return;
        }
        Context.ConvBackwardWeight(x, dy, dw, ConvolutionScratch(g), g, accumulate);
    }

    public void MaxPool(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolGeometry g) =>
        Context.MaxPool(x, y, indices, g);

    public void MaxPoolGrad(ArrayView<float> dy, ArrayView<int> indices, ArrayView<float> dx, PoolGeometry g) =>
        Context.MaxPoolGrad(dy, indices, dx, g);

    public void AvgPool(ArrayView<float> x, ArrayView<float> y, PoolGeometry g) => Context.AvgPool(x, y, g);

    public void AvgPoolGrad(ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g) => Context.AvgPoolGrad(dy, dx, g);
}
