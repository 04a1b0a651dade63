using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Sum of all elements, a scalar (shape <c>[]</c>).</summary>
    public Tensor Sum() => SumAll("sum", 1f);

    /// <summary>Mean of all elements, a scalar (shape <c>[]</c>).</summary>
    public Tensor Mean() => SumAll("mean", 1f / Numel);

    /// <summary>Sum along <paramref name="axis"/> (negative counts from the end).</summary>
    public Tensor Sum(int axis, bool keepDim = false) => SumAxis("sum", axis, keepDim, mean: false);

    /// <summary>Mean along <paramref name="axis"/> (negative counts from the end).</summary>
    public Tensor Mean(int axis, bool keepDim = false) => SumAxis("mean", axis, keepDim, mean: true);

    /// <summary>
    /// Maximum along <paramref name="axis"/> (the values of PyTorch's <c>max(dim)</c>); the gradient goes to
    /// the first position holding the maximum.
    /// </summary>
    public Tensor Max(int axis, bool keepDim = false)
    {
        CheckOperands("max", this);
        int ax = Shapes.NormalizeAxis("max", axis, shape);
        var view = Shapes.Around(shape, ax);
        var x = this;
        var y = Uninitialized(Device, Shapes.Reduced(shape, ax, keepDim));
        Kernels.AxisMax(x.Elements, y.Elements, view);
        return Record(y, "max", new[] { x }, dy => Kernels.AxisMaxGrad(x.Elements, y.Elements, dy, x.GradTarget(), view));
    }

    private Tensor SumAll(string op, float scale)
    {
        CheckOperands(op, this);
        var x = this;
        var y = Uninitialized(Device, Array.Empty<int>());
        Kernels.SumAll<Identity>(x.Elements, x.Elements, y.Elements, scale);
        return Record(y, op, new[] { x },
            dy => Kernels.SumAllGrad<Identity>(x.Elements, x.Elements, dy, x.GradTarget(), x.GradTarget(), scale, true, false));
    }

    private Tensor SumAxis(string op, int axis, bool keepDim, bool mean)
    {
        CheckOperands(op, this);
        int ax = Shapes.NormalizeAxis(op, axis, shape);
        var view = Shapes.Around(shape, ax);
        float scale = mean ? 1f / view.Len : 1f;
        var x = this;
        var y = Uninitialized(Device, Shapes.Reduced(shape, ax, keepDim));
        Kernels.AxisSum(x.Elements, y.Elements, view, scale);
        return Record(y, op, new[] { x }, dy => Kernels.AxisSumGrad(dy, x.GradTarget(), view, scale));
    }

    // ---- over a set of axes ----------------------------------------------------------------------------------------

    /// <summary>Sum over every axis in <paramref name="dims"/> (PyTorch <c>sum(dim=(…), keepdim)</c>).</summary>
    public Tensor Sum(int[] dims, bool keepDim = false) => SumAxes("sum", dims, keepDim, mean: false);

    /// <summary>Mean over every axis in <paramref name="dims"/>.</summary>
    public Tensor Mean(int[] dims, bool keepDim = false) => SumAxes("mean", dims, keepDim, mean: true);

    /// <summary>
    /// y = s·Σ over the axes (s = 1, or 1/count for the mean) by one strided-sum kernel; backward broadcasts s·dy back
    /// over the reduced axes with the strided copy.
    /// </summary>
    private Tensor SumAxes(string op, int[] dims, bool keepDim, bool mean)
    {
        CheckOperands(op, this);
        var axes = ReducedAxes(op, dims);
        var kept = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var result = keepDim ? kept : shape.Where((_, i) => !axes.Contains(i)).ToArray();
        int count = axes.Aggregate(1, (p, d) => p * shape[d]);
        float scale = mean ? 1f / count : 1f;
        var x = this;
        var y = Uninitialized(Device, result);
        SumToShape(Kernels, x.Elements, shape, kept, y.Elements, accumulate: false, scale);
        var inShape = shape;
        return Record(y, op, new[] { x }, dy =>
        {
            // Each input element receives the gradient of the sum it went into: s·dy broadcast back over the axes.
            var strides = StridedLayout.ContiguousStrides(kept);
            for (int d = 0; d < kept.Length; d++)
                if (kept[d] == 1) strides[d] = 0;
            var spread = StridedLayout.Create(inShape, strides, 0);
            if (scale == 1f)
            {
                CopyCoalesced(Kernels, dy, spread, x.GradTarget(), StridedLayout.Contiguous(inShape), accumulate: true);
                return;
            }
            using var scaled = Uninitialized(Device, kept, register: false);
            Kernels.Unary<AffineOp>(dy, scaled.Elements, scale, 0f);
            CopyCoalesced(Kernels, scaled.Elements, spread, x.GradTarget(), StridedLayout.Contiguous(inShape), accumulate: true);
        });
    }

    /// <summary>
    /// Variance over <paramref name="dims"/> (all axes when null) with Bessel's <paramref name="correction"/>:
    /// Σ(x − x̄)² / (N − correction), as PyTorch's <c>var(dim, correction, keepdim)</c>; one two-pass kernel.
    /// </summary>
    /// <remarks>NOTE: with N ≤ correction the divisor is ≤ 0 and the result is ∞ or NaN, as PyTorch returns.</remarks>
    public Tensor Var(int[]? dims = null, int correction = 1, bool keepDim = false)
    {
        if (correction < 0)
            throw new ArgumentOutOfRangeException(nameof(correction), $"var: correction must be ≥ 0, got {correction}.");
        return ReduceAxisSet<VarianceReduction>("var", dims, keepDim, correction);
    }

    /// <summary>Standard deviation: √ of <see cref="Var"/>, in one kernel.</summary>
    public Tensor Std(int[]? dims = null, int correction = 1, bool keepDim = false)
    {
        if (correction < 0)
            throw new ArgumentOutOfRangeException(nameof(correction), $"std: correction must be ≥ 0, got {correction}.");
        return ReduceAxisSet<StandardDeviationReduction>("std", dims, keepDim, correction);
    }

    /// <summary>
    /// ln Σ eˣ over <paramref name="dims"/>, computed as m + ln Σ e^(x − m) with m the maximum, in one kernel; the
    /// gradient is the softmax.
    /// </summary>
    public Tensor LogSumExp(int[] dims, bool keepDim = false) =>
        ReduceAxisSet<LogSumExpReduction>("logsumexp", dims ?? throw new ArgumentNullException(nameof(dims)), keepDim, 0f);

    /// <summary>ln Σ eˣ along one axis.</summary>
    public Tensor LogSumExp(int dim, bool keepDim = false) => LogSumExp(new[] { dim }, keepDim);

    /// <summary>
    /// The p-norm over <paramref name="dims"/> (all axes when null): (Σ|x|ᵖ)^(1/p); p = 2 is √Σx², p = ∞ the largest |x|.
    /// </summary>
    public Tensor Norm(float p = 2f, int[]? dims = null, bool keepDim = false)
    {
        CheckOperands("norm", this);
        var axes = dims ?? Enumerable.Range(0, Rank).ToArray();
        if (!(p > 0f))
            throw new ArgumentOutOfRangeException(nameof(p), $"norm: p must be > 0 (or ∞), got {p}.");
        if (float.IsPositiveInfinity(p))
        {
            var abs = Abs();
            var normalized = ReducedAxes("norm", axes).OrderByDescending(d => d);
            foreach (int d in normalized) abs = abs.Max(d, keepDim);
            return abs;
        }
        return ReduceAxisSet<PNormReduction>("norm", axes, keepDim, p);
    }

    /// <summary>
    /// y = TOp over the axes in one kernel (one output element per thread); backward one kernel over x (plus, for the
    /// variance and standard deviation, the group sums recomputed into a temporary).
    /// </summary>
    private Tensor ReduceAxisSet<TOp>(string op, int[]? dims, bool keepDim, float p) where TOp : struct, IAxisReduction
    {
        CheckOperands(op, this);
        if (Rank == 0) return Reshape(1).ReduceAxisSet<TOp>(op, new[] { 0 }, false, p);
        var axes = ReducedAxes(op, dims ?? Enumerable.Range(0, Rank).ToArray());
        var kept = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var result = keepDim ? kept : shape.Where((_, i) => !axes.Contains(i)).ToArray();
        int n = axes.Aggregate(1, (c, d) => c * shape[d]);
        var strides = StridedLayout.ContiguousStrides(shape);
        var keptSizes = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var summedSizes = shape.Select((d, i) => axes.Contains(i) ? d : 1).ToArray();
        Span<StridedLayout> outer = stackalloc StridedLayout[] { StridedLayout.Create(keptSizes, strides, 0) };
        Span<StridedLayout> inner = stackalloc StridedLayout[] { StridedLayout.Create(summedSizes, strides, 0) };
        StridedLayout.Coalesce(outer);
        StridedLayout.Coalesce(inner);
        var x = this;
        var y = Uninitialized(Device, result);
        Kernels.AxisSetReduce<TOp>(x.Elements, outer[0], inner[0], y.Elements, p);
        var outStrides = StridedLayout.ContiguousStrides(kept);
        for (int d = 0; d < kept.Length; d++)
            if (kept[d] == 1) outStrides[d] = 0;
        var spread = StridedLayout.Create(shape, outStrides, 0);
        var (outerLayout, innerLayout) = (outer[0], inner[0]);
        return Record(y, op, new[] { x }, dy =>
        {
            if (!default(TOp).GradNeedsFirst)
            {
                Kernels.AxisSetReduceGrad<TOp>(x.Elements, spread, y.Elements, y.Elements, dy, x.GradTarget(), n, p);
                return;
            }
            using var sums = Uninitialized(Device, kept, register: false);
            Kernels.StridedSum(x.Elements, outerLayout, innerLayout, sums.Elements, 1f, accumulate: false);
            Kernels.AxisSetReduceGrad<TOp>(x.Elements, spread, y.Elements, sums.Elements, dy, x.GradTarget(), n, p);
        });
    }

    /// <summary>Minimum along <paramref name="axis"/> (the values of PyTorch's <c>min(dim)</c>).</summary>
    public Tensor Min(int axis, bool keepDim = false) => -(-this).Max(axis, keepDim);

    /// <summary>The axes of <paramref name="dims"/> made non-negative; an error names a repeated or out-of-range one.</summary>
    private int[] ReducedAxes(string op, int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        var axes = dims.Select(d => Shapes.NormalizeAxis(op, d, shape)).ToArray();
        if (axes.Distinct().Count() != axes.Length)
            throw new ArgumentException($"{op}: dims {Shapes.Format(dims)} repeat an axis of {Shapes.Format(shape)}.");
        return axes;
    }
}
