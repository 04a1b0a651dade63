using Engine.Kernels;

namespace Engine;

/// <summary>
/// Integer and boolean tensors and indexing: dtype conversion, comparisons (→ bool), <c>Where</c>/<c>MaskedFill</c>,
/// triangles, arg-max and sorting (→ int64 indices), gather/scatter along an axis, <c>IndexSelect</c>, embedding
/// lookup, one-hot, and the bool and product reductions. Index tensors may be int32 or int64; an index out of range is
/// caught in the kernel and reported naming the op (<see cref="IndexChecks"/>).
/// </summary>
public sealed partial class Tensor
{
    // ---- dtype --------------------------------------------------------------------------------------------------

    /// <summary>
    /// This tensor as <paramref name="dtype"/> (PyTorch <c>to(dtype)</c>): float → integer truncates toward zero, → bool is
    /// x ≠ 0; integer ↔ integer keeps the value. Differentiable only float → float (which returns this tensor).
    /// </summary>
    public Tensor To(DType dtype)
    {
        CheckOperandsAnyType("to", this);
        if (dtype == DType) return this;
        var y = Uninitialized(Device, shape, dtype: dtype);
        if (dtype == DType.Float32) Kernels.ToFloat(IntElements, y.Elements);
        else if (DType == DType.Float32) Kernels.ToInt(Elements, y.IntElements, toBool: dtype == DType.Bool);
        else if (dtype == DType.Bool) Kernels.IntToBool(IntElements, y.IntElements);
        else Kernels.Copy(RawElements, y.RawElements);
        return y;
    }

    public Tensor Float() => To(DType.Float32);

    public Tensor Long() => To(DType.Int64);

    public Tensor Int() => To(DType.Int32);

    public Tensor Bool() => To(DType.Bool);

    // ---- comparisons ----------------------------------------------------------------------------------------------

    public Tensor Eq(Tensor other) => Compare("eq", other, 0);

    public Tensor Ne(Tensor other) => Compare("ne", other, 1);

    public Tensor Lt(Tensor other) => Compare("lt", other, 2);

    public Tensor Le(Tensor other) => Compare("le", other, 3);

    public Tensor Gt(Tensor other) => Compare("gt", other, 4);

    public Tensor Ge(Tensor other) => Compare("ge", other, 5);

    public Tensor Eq(float value) => Compare("eq", ScalarLike(value), 0);

    public Tensor Ne(float value) => Compare("ne", ScalarLike(value), 1);

    public Tensor Lt(float value) => Compare("lt", ScalarLike(value), 2);

    public Tensor Le(float value) => Compare("le", ScalarLike(value), 3);

    public Tensor Gt(float value) => Compare("gt", ScalarLike(value), 4);

    public Tensor Ge(float value) => Compare("ge", ScalarLike(value), 5);

    /// <summary>A scalar of this tensor's kind: float32 for a float tensor, else int64 (a fractional value goes float).</summary>
    private Tensor ScalarLike(float value) =>
        DType == DType.Float32 || value != MathF.Round(value) ? Scalar(Device, value)
            : FromArray(Device, new[] { (long)value }, Array.Empty<int>());

    /// <summary>
    /// Element-wise a ∘ b → bool, NumPy-broadcast. Mixed float and integer operands compare as float32 (PyTorch's
    /// promotion); NaN compares unequal to everything.
    /// </summary>
    private Tensor Compare(string op, Tensor other, int code)
    {
        CheckOperandsAnyType(op, this, other);
        var a = this;
        var b = other;
        if ((a.DType == DType.Float32) != (b.DType == DType.Float32))
        {
            a = a.To(DType.Float32);
            b = b.To(DType.Float32);
        }
        var (result, mapA, mapB) = Shapes.Broadcast(op, a.shape, b.shape);
        if (mapA is not { } ma || mapB is not { } mb)
            return (mapA is null ? a.Expand(result) : a).Compare(op, mapB is null ? b.Expand(result) : b, code);
        var y = Uninitialized(Device, result, dtype: DType.Bool);
        if (a.DType == DType.Float32) Kernels.Compare(a.Elements, ma, b.Elements, mb, y.IntElements, code);
        else Kernels.IntCompare(a.IntElements, ma, b.IntElements, mb, y.IntElements, code);
        return y;
    }

    // ---- selection --------------------------------------------------------------------------------------------------

    /// <summary>
    /// cond ? a : b element by element, all three broadcast together (PyTorch <c>where</c>); cond is bool (or an integer
    /// tensor, nonzero = true); a and b of one dtype. The gradient goes to a where cond holds and to b elsewhere.
    /// </summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        CheckOperandsAnyType("where", condition, a, b);
        if (condition.DType == DType.Float32)
            throw new ArgumentException(
                $"where: the condition must be a bool tensor, got float32 of shape {Shapes.Format(condition.shape)}; " +
                "compare it first (e.g. x.Gt(0)).");
        if (a.DType != b.DType)
            throw new ArgumentException($"where: a is {a.DType.Name()} and b {b.DType.Name()}; convert them to one dtype.");
        var result = Shapes.BroadcastShape("where", Shapes.BroadcastShape("where", condition.shape, a.shape), b.shape);
        // Each operand is read through its broadcast map (no copy) where one expresses it, else expanded first.
        var c = Shapes.MapTo(condition.shape, result) is null ? condition.Expand(result) : condition;
        var ae = Shapes.MapTo(a.shape, result) is null ? a.Expand(result) : a;
        var be = Shapes.MapTo(b.shape, result) is null ? b.Expand(result) : b;
        var mc = Shapes.MapTo(c.shape, result)!.Value;
        var ma = Shapes.MapTo(ae.shape, result)!.Value;
        var mb = Shapes.MapTo(be.shape, result)!.Value;
        var y = Uninitialized(a.Device, result, dtype: a.DType);
        var k = a.Kernels;
        k.Where(c.IntElements, mc, ae.RawElements, ma, be.RawElements, mb, y.RawElements);
        if (a.DType != DType.Float32) return y;
        return Record(y, "where", new[] { ae, be }, dy =>
        {
            if (ae.requiresGrad) WhereGradInto(k, c.IntElements, mc, dy, ae, result, 0);
            if (be.requiresGrad) WhereGradInto(k, c.IntElements, mc, dy, be, result, 1);
        });
    }

    /// <summary>The gradient of one where operand: straight in when it has the result's shape, else summed back to it.</summary>
    private static void WhereGradInto(IKernels k, ILGPU.ArrayView<int> cond, BroadcastMap mc, ILGPU.ArrayView<float> dy,
        Tensor operand, int[] result, int side)
    {
        if (operand.shape.SequenceEqual(result))
        {
            k.WhereGrad(cond, mc, dy, operand.GradTarget(), side);
            return;
        }
        using var full = Uninitialized(operand.Device, result, register: false);
        k.Fill(full.Elements, 0f);
        k.WhereGrad(cond, mc, dy, full.Elements, side);
        SumToShape(k, full.Elements, result, operand.shape, operand.GradTarget());
    }

    /// <summary>cond ? a : value.</summary>
    public static Tensor Where(Tensor condition, Tensor a, float value) => Where(condition, a, a.ScalarLike(value).To(a.DType));

    /// <summary>This tensor with <paramref name="value"/> where <paramref name="mask"/> is true (broadcast; PyTorch <c>masked_fill</c>).</summary>
    public Tensor MaskedFill(Tensor mask, float value)
    {
        CheckOperandsAnyType("masked_fill", this, mask);
        var result = Shapes.BroadcastShape("masked_fill", shape, mask.shape);
        if (!result.SequenceEqual(shape))
            throw new ArgumentException(
                $"masked_fill: mask {Shapes.Format(mask.shape)} broadcasts to {Shapes.Format(result)}, not to the " +
                $"tensor's shape {Shapes.Format(shape)}.");
        return Where(mask, ScalarLike(value).To(DType), this);
    }

    /// <summary>The lower triangle of the last two axes (col − row ≤ diagonal), the rest 0 (PyTorch <c>tril</c>).</summary>
    public Tensor Tril(int diagonal = 0) => Triangle("tril", diagonal, upper: false);

    /// <summary>The upper triangle of the last two axes (col − row ≥ diagonal), the rest 0 (PyTorch <c>triu</c>).</summary>
    public Tensor Triu(int diagonal = 0) => Triangle("triu", diagonal, upper: true);

    private Tensor Triangle(string op, int diagonal, bool upper)
    {
        CheckOperandsAnyType(op, this);
        if (Rank < 2)
            throw new ArgumentException($"{op}: needs a tensor of rank ≥ 2, got shape {Shapes.Format(shape)}.");
        int rows = shape[^2], cols = shape[^1];
        var x = this;
        var y = Uninitialized(Device, shape, dtype: DType);
        Kernels.Triangle(x.RawElements, y.RawElements, rows, cols, diagonal, upper, accumulate: false);
        return Record(y, op, new[] { x }, dy => Kernels.Triangle(dy, x.GradTarget(), rows, cols, diagonal, upper, accumulate: true));
    }

    // ---- arg-max and sorting ------------------------------------------------------------------------------------------

    /// <summary>The position of the largest element along <paramref name="dim"/> (the first on a tie; NaN wins), int64.</summary>
    public Tensor ArgMax(int dim, bool keepDim = false) => ArgExtreme("argmax", dim, keepDim, min: false);

    /// <summary>The position of the largest element of the flattened tensor, a scalar int64.</summary>
    public Tensor ArgMax() => Reshape(Numel).ArgMax(0);

    /// <summary>The position of the smallest element along <paramref name="dim"/>, int64.</summary>
    public Tensor ArgMin(int dim, bool keepDim = false) => ArgExtreme("argmin", dim, keepDim, min: true);

    public Tensor ArgMin() => Reshape(Numel).ArgMin(0);

    /// <summary>PyTorch's <c>max(dim)</c>: the values (differentiable) and, in <paramref name="indices"/>, their positions.</summary>
    public Tensor Max(int dim, bool keepDim, out Tensor indices)
    {
        indices = ArgMax(dim, keepDim);
        return Max(dim, keepDim);
    }

    /// <summary>PyTorch's <c>min(dim)</c>: the values and their positions.</summary>
    public Tensor Min(int dim, bool keepDim, out Tensor indices)
    {
        indices = ArgMin(dim, keepDim);
        return Min(dim, keepDim);
    }

    private Tensor ArgExtreme(string op, int dim, bool keepDim, bool min)
    {
        CheckOperands(op, this);
        int d = Shapes.NormalizeAxis(op, dim, shape);
        var y = Uninitialized(Device, Shapes.Reduced(shape, d, keepDim), dtype: DType.Int64);
        Kernels.AxisArgMax(Elements, y.IntElements, Shapes.Around(shape, d), min);
        return y;
    }

    /// <summary>
    /// The elements along <paramref name="dim"/> in order (PyTorch <c>sort</c>): ascending, or descending; ties keep
    /// their order (stable); NaN sorts as the largest. Returns the values (differentiable) and their positions (int64).
    /// </summary>
    public (Tensor Values, Tensor Indices) Sort(int dim = -1, bool descending = false)
    {
        CheckOperands("sort", this);
        int d = Shapes.NormalizeAxis("sort", dim, shape);
        return SortedFirst("sort", d, shape[d], descending);
    }

    /// <summary>The positions that sort the elements along <paramref name="dim"/> (PyTorch <c>argsort</c>).</summary>
    public Tensor ArgSort(int dim = -1, bool descending = false) => Sort(dim, descending).Indices;

    /// <summary>
    /// The <paramref name="k"/> largest (or smallest) elements along <paramref name="dim"/> and their positions, in order
    /// (PyTorch <c>topk</c> with sorted = true).
    /// </summary>
    public (Tensor Values, Tensor Indices) TopK(int k, int dim = -1, bool largest = true)
    {
        CheckOperands("topk", this);
        int d = Shapes.NormalizeAxis("topk", dim, shape);
        if (k < 1 || k > shape[d])
            throw new ArgumentOutOfRangeException(nameof(k),
                $"topk: k = {k} is out of range for dim {dim} of size {shape[d]} (shape {Shapes.Format(shape)}).");
        return SortedFirst("topk", d, k, largest);
    }

    private (Tensor Values, Tensor Indices) SortedFirst(string op, int d, int k, bool descending)
    {
        var result = (int[])shape.Clone();
        result[d] = k;
        var x = this;
        var values = Uninitialized(Device, result);
        var indices = Uninitialized(Device, result, dtype: DType.Int64);
        Kernels.SortLines(x.Elements, values.Elements, indices.IntElements, Shapes.Around(shape, d), k, descending);
        var plan = GatherPlan(op, shape, d, result, perPosition: true);
        var errors = Device.IndexChecks.Record;
        var recorded = Record(values, op, new[] { x },
            dv => Kernels.Scatter(dv, indices.IntElements, x.GradTarget(), plan, errors, accumulate: true));
        return (recorded, indices);
    }

    // ---- gather and scatter ---------------------------------------------------------------------------------------------

    /// <summary>
    /// out[…, j, …] = x[…, index[…, j, …], …] along <paramref name="dim"/> (PyTorch <c>gather</c>): index has this tensor's
    /// rank and no larger size on any other axis; the result has index's shape. The gradient scatter-adds back.
    /// </summary>
    public Tensor Gather(int dim, Tensor index)
    {
        CheckOperandsAnyType("gather", this, index);
        CheckFloat("gather", this);
        int d = Shapes.NormalizeAxis("gather", dim, shape);
        var idx = IndexTensor("gather", index);
        if (idx.Rank != Rank || idx.shape.Where((v, i) => i != d && v > shape[i]).Any())
            throw new ArgumentException(
                $"gather: index of shape {Shapes.Format(idx.shape)} does not fit input {Shapes.Format(shape)} along dim " +
                $"{dim} (same rank, no larger size on the other axes).");
        var x = this;
        var plan = GatherPlan("gather", shape, d, idx.shape, perPosition: true);
        var y = Uninitialized(Device, idx.shape);
        var errors = Device.IndexChecks.Record;
        Kernels.Gather(x.Elements, idx.IntElements, y.Elements, plan, errors);
        Device.IndexChecks.Launched();
        return Record(y, "gather", new[] { x },
            dy => Kernels.Scatter(dy, idx.IntElements, x.GradTarget(), plan, errors, accumulate: true));
    }

    /// <summary>
    /// The slices of this tensor at <paramref name="index"/> (1-D) along <paramref name="dim"/> (PyTorch
    /// <c>index_select</c>); repeated indices repeat slices, and their gradients add (in index order: deterministic).
    /// </summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        CheckOperandsAnyType("index_select", this, index);
        CheckFloat("index_select", this);
        int d = Shapes.NormalizeAxis("index_select", dim, shape);
        var idx = IndexTensor("index_select", index);
        if (idx.Rank > 1)
            throw new ArgumentException($"index_select: the index must be 1-D, got shape {Shapes.Format(idx.shape)}.");
        var result = (int[])shape.Clone();
        result[d] = idx.Numel;
        var x = this;
        var plan = GatherPlan("index_select", shape, d, result, perPosition: false);
        var y = Uninitialized(Device, result);
        var errors = Device.IndexChecks.Record;
        Kernels.Gather(x.Elements, idx.IntElements, y.Elements, plan, errors);
        Device.IndexChecks.Launched();
        return Record(y, "index_select", new[] { x },
            dy => Kernels.Scatter(dy, idx.IntElements, x.GradTarget(), plan, errors, accumulate: true));
    }

    /// <summary>
    /// Rows of <paramref name="weight"/> [num, dim] at <paramref name="indices"/> (any shape) → [*indices, dim]
    /// (PyTorch <c>F.embedding</c>); the gradient adds each row's gradient into its weight row, in index order, except
    /// into row <paramref name="paddingIdx"/> when given (its positions read it but pass no gradient).
    /// </summary>
    public static Tensor Embedding(Tensor indices, Tensor weight, int? paddingIdx = null)
    {
        CheckOperandsAnyType("embedding", indices, weight);
        if (weight.Rank != 2)
            throw new ArgumentException($"embedding: weight must be [num_embeddings, dim], got {Shapes.Format(weight.shape)}.");
        var flat = indices.Rank == 1 ? indices : indices.Reshape(indices.Numel);
        var rows = weight.IndexSelect(0, flat);
        if (paddingIdx is { } pad)
        {
            // The padding row's value, with no gradient: positions holding it read the detached rows.
            var isPadding = flat.Eq(pad).Unsqueeze(1);
            rows = Where(isPadding, rows.Detach(), rows);
        }
        return rows.Reshape(indices.shape.Append(weight.shape[1]).ToArray());
    }

    /// <summary>
    /// In place and outside autograd, as PyTorch's <c>torch.embedding_renorm_</c> (what <c>nn.Embedding(max_norm=)</c>
    /// runs before each lookup): each row of <paramref name="weight"/> [num, dim] that <paramref name="indices"/> names
    /// and whose <paramref name="normType"/>-norm exceeds <paramref name="maxNorm"/> is scaled by
    /// maxNorm / (norm + 1e-7); other rows are untouched. Three device ops: gather the rows, their scale, scatter back.
    /// </summary>
    public static void EmbeddingRenorm(Tensor weight, Tensor indices, float maxNorm, float normType = 2f)
    {
        CheckOperandsAnyType("embedding_renorm", indices, weight);
        CheckFloat("embedding_renorm", weight);
        if (weight.Rank != 2)
            throw new ArgumentException($"embedding_renorm: weight must be [num_embeddings, dim], got {Shapes.Format(weight.shape)}.");
        if (!(maxNorm > 0f))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), $"embedding: max_norm must be > 0, got {maxNorm}.");
        if (!(normType > 0f))
            throw new ArgumentOutOfRangeException(nameof(normType), $"embedding: norm_type must be > 0, got {normType}.");
        using var noGrad = Autograd.NoGrad();
        using var scope = new DisposeScope();
        var flat = indices.Rank == 1 ? indices : indices.Reshape(indices.Numel);
        var rows = weight.IndexSelect(0, flat);                               // [n, dim]
        var norms = rows.Norm(normType, new[] { 1 }, keepDim: true);          // [n, 1]
        var scale = Where(norms.Gt(maxNorm), maxNorm / (norms + 1e-7f), Ones(weight.Device, norms.shape));
        var scaled = rows * scale;
        var at = flat.Reshape(flat.Numel, 1).Expand(flat.Numel, weight.shape[1]).Contiguous();
        var idx = IndexTensor("embedding_renorm", at);
        var plan = weight.GatherPlan("embedding_renorm", weight.shape, 0, idx.shape, perPosition: true);
        var errors = weight.Device.IndexChecks.Record;
        // A repeated index writes the same scaled row each time.
        weight.Kernels.Scatter(scaled.Elements, idx.IntElements, weight.Elements, plan, errors, accumulate: false);
        weight.Device.IndexChecks.Launched();
    }

    /// <summary>
    /// This tensor plus <paramref name="src"/> added at <paramref name="index"/> along <paramref name="dim"/> (PyTorch
    /// <c>scatter_add</c>, out of place): out[…, index[…, j, …], …] += src[…, j, …]; repeated indices add in order.
    /// </summary>
    public Tensor ScatterAdd(int dim, Tensor index, Tensor src) => ScatterInto("scatter_add", dim, index, src, accumulate: true);

    /// <summary>This tensor with <paramref name="src"/> written at <paramref name="index"/> along dim (PyTorch <c>scatter</c>; the last write of a repeated index wins).</summary>
    public Tensor Scatter(int dim, Tensor index, Tensor src) => ScatterInto("scatter", dim, index, src, accumulate: false);

    private Tensor ScatterInto(string op, int dim, Tensor index, Tensor src, bool accumulate)
    {
        CheckOperandsAnyType(op, this, index, src);
        CheckFloat(op, this);
        CheckFloat(op, src);
        int d = Shapes.NormalizeAxis(op, dim, shape);
        var idx = IndexTensor(op, index);
        if (idx.Rank != Rank || idx.shape.Where((v, i) => i != d && v > shape[i]).Any() ||
            src.Rank != Rank || idx.shape.Where((v, i) => v > src.shape[i]).Any())
            throw new ArgumentException(
                $"{op}: index of shape {Shapes.Format(idx.shape)} does not fit input {Shapes.Format(shape)} and src " +
                $"{Shapes.Format(src.shape)} along dim {dim} (same rank; no larger than src anywhere, nor than the input " +
                "off dim).");
        // Only src's leading index-shaped block is read (as PyTorch).
        var s = src;
        for (int i = 0; i < Rank; i++)
            if (s.shape[i] != idx.shape[i]) s = s.Narrow(i, 0, idx.shape[i]);
        var x = this;
        var plan = GatherPlan(op, shape, d, idx.shape, perPosition: true);
        var y = Uninitialized(Device, shape);
        Kernels.Copy(x.Elements, y.Elements);
        var errors = Device.IndexChecks.Record;
        Kernels.Scatter(s.Elements, idx.IntElements, y.Elements, plan, errors, accumulate);
        Device.IndexChecks.Launched();
        return Record(y, op, new[] { x, s }, dy =>
        {
            if (x.requiresGrad)
            {
                if (accumulate) Kernels.Accumulate(dy, x.GradTarget());
                else
                {
                    // The written positions took src's values: the input gets no gradient there.
                    using var masked = Uninitialized(Device, shape, register: false);
                    using var zeros = Zeros(Device, idx.shape);
                    Kernels.Copy(dy, masked.Elements);
                    Kernels.Scatter(zeros.Elements, idx.IntElements, masked.Elements, plan, errors, accumulate: false);
                    Kernels.Accumulate(masked.Elements, x.GradTarget());
                }
            }
            if (s.requiresGrad)
            {
                using var picked = Uninitialized(Device, idx.shape, register: false);
                Kernels.Gather(dy, idx.IntElements, picked.Elements, plan, errors);
                Kernels.Accumulate(picked.Elements, s.GradTarget());
            }
        });
    }

    /// <summary>
    /// One-hot rows (PyTorch <c>F.one_hot</c>): an int64 tensor of shape [*indices, numClasses] with 1 at each index;
    /// numClasses = −1 takes the largest index + 1 (which reads the indices back, as PyTorch does).
    /// </summary>
    public static Tensor OneHot(Tensor indices, int numClasses = -1)
    {
        CheckOperandsAnyType("one_hot", indices);
        var idx = IndexTensor("one_hot", indices);
        if (numClasses == -1) numClasses = (int)idx.To(DType.Int64).ToArray<long>().Max() + 1;
        if (numClasses < 1)
            throw new ArgumentOutOfRangeException(nameof(numClasses), $"one_hot: numClasses must be ≥ 1, got {numClasses}.");
        var y = Uninitialized(idx.Device, idx.shape.Append(numClasses).ToArray(), dtype: DType.Int64);
        var checks = idx.Device.IndexChecks;
        int id = checks.Id("one_hot", -1, numClasses);
        idx.Kernels.OneHot(idx.IntElements, y.IntElements, numClasses, checks.Record, id);
        checks.Launched();
        return y;
    }

    // ---- bool and product reductions -------------------------------------------------------------------------------------

    /// <summary>Whether any element is nonzero (true), over <paramref name="dims"/> or everything; bool.</summary>
    public Tensor Any(int[]? dims = null, bool keepDim = false) =>
        NonZeroCount("any", dims, keepDim).Gt(0f);

    /// <summary>Whether every element is nonzero (true), over <paramref name="dims"/> or everything; bool.</summary>
    public Tensor All(int[]? dims = null, bool keepDim = false)
    {
        var axes = dims ?? Enumerable.Range(0, Rank).ToArray();
        int count = axes.Select(a => shape[Shapes.NormalizeAxis("all", a, shape)]).Aggregate(1, (p, v) => p * v);
        return NonZeroCount("all", dims, keepDim).Ge(count);
    }

    /// <summary>
    /// How many elements are nonzero, as float32 (exact below 2²⁴ per reduction).
    /// </summary>
    private Tensor NonZeroCount(string op, int[]? dims, bool keepDim)
    {
        CheckOperandsAnyType(op, this);
        var ones = (DType == DType.Bool ? this : Ne(0f)).To(DType.Float32);
        if (Rank == 0) return ones;
        return dims == null && !keepDim ? ones.Sum() : ones.Sum(dims ?? Enumerable.Range(0, Rank).ToArray(), keepDim);
    }

    /// <summary>The product along <paramref name="dim"/>; the gradient of each element is the product of the others (exact with zeros).</summary>
    public Tensor Prod(int dim, bool keepDim = false)
    {
        CheckOperands("prod", this);
        int d = Shapes.NormalizeAxis("prod", dim, shape);
        var view = Shapes.Around(shape, d);
        var x = this;
        var y = Uninitialized(Device, Shapes.Reduced(shape, d, keepDim));
        Kernels.LineProduct(x.Elements, y.Elements, view);
        return Record(y, "prod", new[] { x }, dy => Kernels.LineProductGrad(x.Elements, dy, x.GradTarget(), view));
    }

    /// <summary>The product of all elements, a scalar.</summary>
    public Tensor Prod() => Rank == 0 ? Reshape(1).Prod(0) : Reshape(Numel).Prod(0);

    // ---- plumbing ----------------------------------------------------------------------------------------------------

    private static void CheckFloat(string op, Tensor t)
    {
        if (t.DType != DType.Float32)
            throw new ArgumentException(
                $"{op}: the input must be float32, got {t.DType.Name()} of shape {Shapes.Format(t.shape)}.");
    }

    /// <summary>An int32 or int64 index tensor (a bool or float one is refused, naming the op).</summary>
    private static Tensor IndexTensor(string op, Tensor index)
    {
        if (!index.DType.IsInteger())
            throw new ArgumentException(
                $"{op}: indices must be an int64 or int32 tensor, got {index.DType.Name()} of shape {Shapes.Format(index.shape)}.");
        return index;
    }

    /// <summary>The plan of a gather-like op over <paramref name="positions"/> along axis d of a tensor of <paramref name="source"/>.</summary>
    private IndexPlan GatherPlan(string op, int[] source, int d, int[] positions, bool perPosition)
    {
        var strides = StridedLayout.ContiguousStrides(source);
        int dimStride = strides[d];
        strides[d] = 0;
        var layout = StridedLayout.Create(positions, strides, 0);
        return new IndexPlan
        {
            Positions = layout,
            DimStride = dimStride,
            DimSize = source[d],
            Len = positions[d],
            Inner = positions.Skip(d + 1).Aggregate(1, (p, v) => p * v),
            PerPosition = perPosition ? 1 : 0,
            OpId = Device.IndexChecks.Id(op, d, source[d]),
        };
    }
}
