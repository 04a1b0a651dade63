using Engine.Kernels;

namespace Engine;

/// <summary>
/// Movement: ops that rearrange elements without computing new values. Reshapes (<see cref="View"/>,
/// <see cref="Reshape"/>, <see cref="Flatten"/>, <see cref="Unflatten"/>, <see cref="Squeeze()"/>,
/// <see cref="Unsqueeze"/>) share this tensor's memory; every other op writes a new contiguous tensor with one
/// strided-copy kernel (<see cref="MovementKernels.StridedCopy"/>) and back-propagates with the same kernel run the
/// other way, or with a strided sum where elements were repeated (<see cref="Expand"/>, <see cref="Repeat"/>).
/// </summary>
/// <remarks>
/// Why copies and not strided views: every kernel of this engine reads contiguous operands, so a strided view would
/// cost a copy at its first use anyway, and tensors stay simple (no aliasing between a view and an in-place update).
/// The exception is the transpose that feeds a matrix product: <see cref="MT"/> and <see cref="Transpose(int, int)"/>
/// of the last two axes are materialised only if something other than a matrix product reads them; the product reads
/// the source transposed in place.
/// </remarks>
public sealed partial class Tensor
{
    // ---- reshapes: shared memory ---------------------------------------------------------------------------

    /// <summary>The same elements with another shape (one dimension may be −1); shares memory (PyTorch <c>view</c>).</summary>
    public Tensor View(params int[] newShape) => Reshape(newShape);

    /// <summary>Axes <paramref name="startDim"/> … <paramref name="endDim"/> merged into one (PyTorch <c>flatten</c>).</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        CheckOperandsAnyType("flatten", this);
        if (Rank == 0) return Reshape(1);
        int s = Shapes.NormalizeAxis("flatten", startDim, shape), e = Shapes.NormalizeAxis("flatten", endDim, shape);
        if (s > e)
            throw new ArgumentException(
                $"flatten: startDim {startDim} comes after endDim {endDim} for shape {Shapes.Format(shape)}.");
        var merged = shape.Take(s).Append(shape[s..(e + 1)].Aggregate(1, (p, d) => p * d)).Concat(shape.Skip(e + 1));
        return Reshape(merged.ToArray());
    }

    /// <summary>Axis <paramref name="dim"/> split into <paramref name="sizes"/> (one may be −1; PyTorch <c>unflatten</c>).</summary>
    public Tensor Unflatten(int dim, params int[] sizes)
    {
        CheckOperandsAnyType("unflatten", this);
        ArgumentNullException.ThrowIfNull(sizes);
        int d = Shapes.NormalizeAxis("unflatten", dim, shape);
        var resolved = Shapes.ResolveInferred("unflatten", sizes, shape[d], $"axis {dim} of {Shapes.Format(shape)}");
        return Reshape(shape.Take(d).Concat(resolved).Concat(shape.Skip(d + 1)).ToArray());
    }

    /// <summary>Every axis of size 1 removed.</summary>
    public Tensor Squeeze()
    {
        CheckOperandsAnyType("squeeze", this);
        return Reshape(shape.Where(d => d != 1).ToArray());
    }

    /// <summary>Axis <paramref name="dim"/> removed if its size is 1 (otherwise the tensor is returned as it is, as PyTorch).</summary>
    public Tensor Squeeze(int dim)
    {
        CheckOperandsAnyType("squeeze", this);
        if (Rank == 0) return Reshape();
        int d = Shapes.NormalizeAxis("squeeze", dim, shape);
        return shape[d] != 1 ? Reshape(shape) : Reshape(shape.Where((_, i) => i != d).ToArray());
    }

    /// <summary>A new axis of size 1 at <paramref name="dim"/> ∈ [−rank − 1, rank].</summary>
    public Tensor Unsqueeze(int dim)
    {
        CheckOperandsAnyType("unsqueeze", this);
        if (dim < -Rank - 1 || dim > Rank)
            throw new ArgumentOutOfRangeException(nameof(dim),
                $"unsqueeze: dim {dim} is out of range for shape {Shapes.Format(shape)} (expected [{-Rank - 1}, {Rank}]).");
        int d = dim < 0 ? dim + Rank + 1 : dim;
        return Reshape(shape.Take(d).Append(1).Concat(shape.Skip(d)).ToArray());
    }

    /// <summary>This tensor: every tensor of this engine is contiguous (PyTorch <c>contiguous</c> of a contiguous tensor).</summary>
    public Tensor Contiguous()
    {
        CheckOperandsAnyType("contiguous", this);
        return this;
    }

    // ---- permutations ---------------------------------------------------------------------------------------

    /// <summary>The axes reordered: axis i of the result is axis <paramref name="dims"/>[i] of this tensor.</summary>
    public Tensor Permute(params int[] dims)
    {
        CheckOperandsAnyType("permute", this);
        ArgumentNullException.ThrowIfNull(dims);
        if (dims.Length != Rank)
            throw new ArgumentException(
                $"permute: {dims.Length} dims ({Shapes.Format(dims)}) for a tensor of rank {Rank} ({Shapes.Format(shape)}).");
        var perm = dims.Select(d => Shapes.NormalizeAxis("permute", d, shape)).ToArray();
        if (perm.Distinct().Count() != Rank)
            throw new ArgumentException($"permute: dims {Shapes.Format(dims)} repeat an axis of {Shapes.Format(shape)}.");
        var strides = StridedLayout.ContiguousStrides(shape);
        return Gather("permute", perm.Select(d => shape[d]).ToArray(), perm.Select(d => strides[d]).ToArray(), 0);
    }

    /// <summary>
    /// Axes <paramref name="dim0"/> and <paramref name="dim1"/> swapped. The transpose of the last two axes is lazy: a
    /// matrix product reads it in place; anything else materialises it on first use.
    /// </summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        CheckOperandsAnyType("transpose", this);
        int a = Shapes.NormalizeAxis("transpose", dim0, shape), b = Shapes.NormalizeAxis("transpose", dim1, shape);
        if (a == b) return Reshape(shape);
        if (Math.Min(a, b) == Rank - 2 && Math.Max(a, b) == Rank - 1) return LazyTranspose();
        var perm = Enumerable.Range(0, Rank).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(perm);
    }

    /// <summary>The axes reversed (PyTorch <c>.T</c>; for a matrix, its transpose).</summary>
    public Tensor T => Rank <= 1 ? Reshape(shape) : Rank == 2 ? Transpose(0, 1) : Permute(Enumerable.Range(0, Rank).Reverse().ToArray());

    /// <summary>The last two axes swapped (PyTorch <c>.mT</c>), read in place by a matrix product.</summary>
    public Tensor MT
    {
        get
        {
            if (Rank < 2)
                throw new InvalidOperationException($"mT: needs a tensor of rank ≥ 2, got shape {Shapes.Format(shape)}.");
            return Transpose(-2, -1);
        }
    }

    /// <summary>The elements in reverse order along each of <paramref name="dims"/>.</summary>
    public Tensor Flip(params int[] dims)
    {
        CheckOperandsAnyType("flip", this);
        ArgumentNullException.ThrowIfNull(dims);
        var axes = dims.Select(d => Shapes.NormalizeAxis("flip", d, shape)).ToArray();
        if (axes.Distinct().Count() != axes.Length)
            throw new ArgumentException($"flip: dims {Shapes.Format(dims)} repeat an axis of {Shapes.Format(shape)}.");
        var strides = StridedLayout.ContiguousStrides(shape);
        int offset = 0;
        foreach (int d in axes)
        {
            offset += (shape[d] - 1) * strides[d];
            strides[d] = -strides[d];
        }
        return Gather("flip", shape, strides, offset);
    }

    /// <summary>
    /// Elements shifted by <paramref name="shifts"/> along <paramref name="dim"/>, those pushed off the end coming back
    /// at the start (PyTorch <c>roll</c>).
    /// </summary>
    public Tensor Roll(int shifts, int dim)
    {
        CheckOperandsAnyType("roll", this);
        int d = Shapes.NormalizeAxis("roll", dim, shape), n = shape[d];
        int s = ((shifts % n) + n) % n;
        if (s == 0) return Reshape(shape);
        return Cat(new[] { Narrow(d, n - s, s), Narrow(d, 0, n - s) }, d);
    }

    /// <summary>Roll of the flattened tensor, reshaped back (PyTorch <c>roll</c> without a dim).</summary>
    public Tensor Roll(int shifts) => Rank == 0 ? Reshape(shape) : Flatten().Roll(shifts, 0).Reshape(shape);

    /// <summary>Rolls along several axes in turn.</summary>
    public Tensor Roll(int[] shifts, int[] dims)
    {
        ArgumentNullException.ThrowIfNull(shifts);
        ArgumentNullException.ThrowIfNull(dims);
        if (shifts.Length != dims.Length)
            throw new ArgumentException($"roll: {shifts.Length} shifts for {dims.Length} dims.");
        var y = this;
        for (int i = 0; i < dims.Length; i++) y = y.Roll(shifts[i], dims[i]);
        return y;
    }

    // ---- broadcasting copies ----------------------------------------------------------------------------------

    /// <summary>
    /// This tensor broadcast to <paramref name="sizes"/> (axes of size 1 stretch, new axes are added in front, −1 keeps an
    /// axis; PyTorch <c>expand</c>). A copy here; the gradient sums over the stretched axes.
    /// </summary>
    public Tensor Expand(params int[] sizes)
    {
        CheckOperandsAnyType("expand", this);
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Length < Rank)
            throw new ArgumentException(
                $"expand: {Shapes.Format(sizes)} has fewer axes than the tensor's shape {Shapes.Format(shape)}.");
        var padded = Shapes.Pad(shape, sizes.Length);
        var target = new int[sizes.Length];
        for (int d = 0; d < sizes.Length; d++)
        {
            int lead = sizes.Length - Rank;
            target[d] = sizes[d] == -1 && d >= lead ? padded[d] : sizes[d];
            if (target[d] != padded[d] && padded[d] != 1 || target[d] < 1)
                throw new ArgumentException(
                    $"expand: shape {Shapes.Format(shape)} cannot be expanded to {Shapes.Format(sizes)} (axis {d}: " +
                    $"{padded[d]} to {sizes[d]}; only axes of size 1 stretch).");
        }
        Shapes.Validate("expand", target);
        if (target.SequenceEqual(shape)) return Reshape(shape);
        var strides = StridedLayout.ContiguousStrides(padded);
        for (int d = 0; d < target.Length; d++)
            if (padded[d] == 1) strides[d] = 0;
        var x = this;
        var y = Uninitialized(Device, target, dtype: DType);
        var src = StridedLayout.Create(target, strides, 0);
        var dst = StridedLayout.Contiguous(target);
        CopyCoalesced(Kernels, x.RawElements, src, y.RawElements, dst, accumulate: false);
        return Record(y, "expand", new[] { x }, dy => SumToShape(Kernels, dy, target, padded, x.GradTarget()));
    }

    /// <summary>The tensor tiled <paramref name="repeats"/> times along each axis (PyTorch <c>repeat</c>).</summary>
    public Tensor Repeat(params int[] repeats)
    {
        CheckOperandsAnyType("repeat", this);
        ArgumentNullException.ThrowIfNull(repeats);
        if (repeats.Length < Rank)
            throw new ArgumentException(
                $"repeat: {repeats.Length} repeats ({Shapes.Format(repeats)}) for a tensor of rank {Rank} " +
                $"({Shapes.Format(shape)}); give at least one per axis.");
        if (repeats.Any(r => r < 1))
            throw new ArgumentException($"repeat: repeats {Shapes.Format(repeats)} must all be ≥ 1.");
        var padded = Shapes.Pad(shape, repeats.Length);
        // [a, b] repeated (r, s) is [1, a, 1, b] expanded to [r, a, s, b], then merged to [r·a, s·b].
        var interleaved = padded.SelectMany(d => new[] { 1, d }).ToArray();
        var expanded = padded.SelectMany((d, i) => new[] { repeats[i], d }).ToArray();
        var result = padded.Select((d, i) => d * repeats[i]).ToArray();
        Shapes.Validate("repeat", result);
        if (interleaved.Length > Shapes.MaxRank)
        {
            // Past four axes the interleaved view would exceed the rank limit: repeat one axis at a time.
            var y = this.Reshape(padded);
            for (int d = 0; d < padded.Length; d++)
                if (repeats[d] > 1)
                    y = y.Unsqueeze(d).Expand(y.Shape.Take(d).Append(repeats[d]).Concat(y.Shape.Skip(d)).ToArray())
                        .Flatten(d, d + 1);
            return y;
        }
        return Reshape(interleaved).Expand(expanded).Reshape(result);
    }

    // ---- slicing ------------------------------------------------------------------------------------------------

    /// <summary>Elements <paramref name="start"/> … <paramref name="start"/> + <paramref name="length"/> − 1 along <paramref name="dim"/>.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        CheckOperandsAnyType("narrow", this);
        int d = Shapes.NormalizeAxis("narrow", dim, shape);
        if (start < 0) start += shape[d];
        if (start < 0 || length < 1 || start + length > shape[d])
            throw new ArgumentOutOfRangeException(nameof(start),
                $"narrow: start {start} and length {length} do not fit axis {dim} of size {shape[d]} " +
                $"(shape {Shapes.Format(shape)}; need 0 ≤ start, 1 ≤ length, start + length ≤ {shape[d]}).");
        return SliceAxis("narrow", d, start, length, 1);
    }

    /// <summary>
    /// Python's <c>x[..., start:end:step]</c> along <paramref name="dim"/>: negative start/end count from the end, both
    /// are clamped to the axis, step ≥ 1. An empty selection is an error (this engine has no empty tensors).
    /// </summary>
    public Tensor Slice(int dim, int? start = null, int? end = null, int step = 1)
    {
        CheckOperandsAnyType("slice", this);
        int d = Shapes.NormalizeAxis("slice", dim, shape), n = shape[d];
        if (step < 1)
            throw new ArgumentOutOfRangeException(nameof(step), $"slice: step must be ≥ 1, got {step}.");
        int s = Math.Clamp(start is { } a ? (a < 0 ? a + n : a) : 0, 0, n);
        int e = Math.Clamp(end is { } b ? (b < 0 ? b + n : b) : n, 0, n);
        int count = e > s ? (e - s + step - 1) / step : 0;
        if (count == 0)
            throw new ArgumentException(
                $"slice: {start}:{end}:{step} selects nothing from axis {dim} of size {n} (shape {Shapes.Format(shape)}).");
        return SliceAxis("slice", d, s, count, step);
    }

    /// <summary>Index <paramref name="index"/> of axis <paramref name="dim"/>, the axis removed (PyTorch <c>select</c>, <c>x[i]</c>).</summary>
    public Tensor Select(int dim, int index)
    {
        CheckOperandsAnyType("select", this);
        int d = Shapes.NormalizeAxis("select", dim, shape);
        int i = index < 0 ? index + shape[d] : index;
        if (i < 0 || i >= shape[d])
            throw new IndexOutOfRangeException(
                $"select: index {index} is out of range for axis {dim} of size {shape[d]} (shape {Shapes.Format(shape)}).");
        return SliceAxis("select", d, i, 1, 1).Reshape(shape.Where((_, k) => k != d).ToArray());
    }

    /// <summary>
    /// <c>x[a, b.., .., ^1]</c>: one entry per leading axis, an integer selects (and removes the axis), a range slices;
    /// axes not named are kept whole.
    /// </summary>
    [System.Runtime.CompilerServices.IndexerName("Index")]
    public Tensor this[params TensorIndex[] indices]
    {
        get
        {
            CheckOperandsAnyType("index", this);
            ArgumentNullException.ThrowIfNull(indices);
            if (indices.Length > Rank)
                throw new IndexOutOfRangeException(
                    $"index: {indices.Length} indices for a tensor of rank {Rank} ({Shapes.Format(shape)}).");
            var y = this;
            int axis = 0;
            foreach (var index in indices)
            {
                if (index.Range is { } range)
                {
                    var (start, length) = Shapes.RangeOffsetAndLength("index", range, y.shape[axis], axis);
                    if (start != 0 || length != y.shape[axis]) y = y.Narrow(axis, start, length);
                    axis++;
                }
                else
                {
                    y = y.Select(axis, index.Position.IsFromEnd ? -index.Position.Value : index.Position.Value);
                }
            }
            return ReferenceEquals(y, this) ? Reshape(shape) : y;
        }
    }

    private Tensor SliceAxis(string op, int d, int start, int count, int step)
    {
        var strides = StridedLayout.ContiguousStrides(shape);
        int offset = start * strides[d];
        strides[d] *= step;
        var result = (int[])shape.Clone();
        result[d] = count;
        return Gather(op, result, strides, offset);
    }

    // ---- joining and splitting ----------------------------------------------------------------------------------

    /// <summary>The tensors joined along <paramref name="dim"/> (same shape elsewhere; PyTorch <c>cat</c>).</summary>
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("cat: needs at least one tensor.");
        var inputs = tensors.ToArray();
        CheckOperandsAnyType("cat", inputs);
        var first = inputs[0].shape;
        if (first.Length == 0) throw new ArgumentException("cat: zero-dimensional tensors cannot be joined; use Stack.");
        int d = Shapes.NormalizeAxis("cat", dim, first);
        for (int i = 1; i < inputs.Length; i++)
        {
            var s = inputs[i].shape;
            if (s.Length != first.Length || s.Where((v, k) => k != d && v != first[k]).Any())
                throw new ArgumentException(
                    $"cat: tensor {i} has shape {Shapes.Format(s)}, which does not match tensor 0's " +
                    $"{Shapes.Format(first)} outside axis {dim}.");
        }
        var result = (int[])first.Clone();
        result[d] = inputs.Sum(t => t.shape[d]);
        Shapes.Validate("cat", result);
        var dtype = inputs[0].DType;
        for (int i = 1; i < inputs.Length; i++)
            if (inputs[i].DType != dtype)
                throw new ArgumentException(
                    $"cat: tensor {i} is {inputs[i].DType.Name()}, tensor 0 {dtype.Name()}; convert them to one dtype first.");
        var y = Uninitialized(inputs[0].Device, result, dtype: dtype);
        var outStrides = StridedLayout.ContiguousStrides(result);
        var k = inputs[0].Kernels;
        var places = new StridedLayout[inputs.Length];
        int at = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            places[i] = StridedLayout.Create(inputs[i].shape, outStrides, at * outStrides[d]);
            CopyCoalesced(k, inputs[i].RawElements, StridedLayout.Contiguous(inputs[i].shape), y.RawElements, places[i], false);
            at += inputs[i].shape[d];
        }
        return Record(y, "cat", inputs, dy =>
        {
            for (int i = 0; i < inputs.Length; i++)
                if (inputs[i].requiresGrad)
                    CopyCoalesced(k, dy, places[i], inputs[i].GradTarget(), StridedLayout.Contiguous(inputs[i].shape), true);
        });
    }

    /// <summary>The tensors (all of one shape) stacked along a new axis <paramref name="dim"/> (PyTorch <c>stack</c>).</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("stack: needs at least one tensor.");
        CheckOperandsAnyType("stack", tensors.ToArray());
        var first = tensors[0].shape;
        for (int i = 1; i < tensors.Count; i++)
            if (!tensors[i].shape.SequenceEqual(first))
                throw new ArgumentException(
                    $"stack: tensor {i} has shape {Shapes.Format(tensors[i].shape)}, tensor 0 {Shapes.Format(first)}; " +
                    "stacked tensors must have one shape.");
        return Cat(tensors.Select(t => t.Unsqueeze(dim)).ToArray(), dim);
    }

    /// <summary>Pieces of <paramref name="splitSize"/> along <paramref name="dim"/> (the last may be smaller).</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        CheckOperandsAnyType("split", this);
        int d = Shapes.NormalizeAxis("split", dim, shape);
        if (splitSize < 1)
            throw new ArgumentOutOfRangeException(nameof(splitSize), $"split: splitSize must be ≥ 1, got {splitSize}.");
        var sizes = new List<int>();
        for (int s = 0; s < shape[d]; s += splitSize) sizes.Add(Math.Min(splitSize, shape[d] - s));
        return Split(sizes.ToArray(), d);
    }

    /// <summary>Pieces of the given sizes along <paramref name="dim"/> (they must add up to the axis).</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        CheckOperandsAnyType("split", this);
        ArgumentNullException.ThrowIfNull(sizes);
        int d = Shapes.NormalizeAxis("split", dim, shape);
        if (sizes.Any(s => s < 1) || sizes.Sum() != shape[d])
            throw new ArgumentException(
                $"split: sizes {Shapes.Format(sizes)} do not add up to axis {dim} of size {shape[d]} " +
                $"(shape {Shapes.Format(shape)}), or one is < 1.");
        var pieces = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            pieces[i] = Narrow(d, at, sizes[i]);
            at += sizes[i];
        }
        return pieces;
    }

    /// <summary>At most <paramref name="chunks"/> pieces of ⌈n / chunks⌉ along <paramref name="dim"/> (PyTorch <c>chunk</c>).</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        CheckOperandsAnyType("chunk", this);
        if (chunks < 1)
            throw new ArgumentOutOfRangeException(nameof(chunks), $"chunk: chunks must be ≥ 1, got {chunks}.");
        int d = Shapes.NormalizeAxis("chunk", dim, shape);
        return Split((shape[d] + chunks - 1) / chunks, d);
    }

    // ---- padding ------------------------------------------------------------------------------------------------

    /// <summary>
    /// PyTorch's <c>F.pad</c>: <paramref name="pad"/> = (left, right) for the last axis, then (left, right) for the one
    /// before, …; <paramref name="mode"/> "constant" (filled with <paramref name="value"/>), "reflect" (mirrored
    /// without repeating the edge; each pad &lt; the axis) or "replicate" (the edge element repeated).
    /// </summary>
    public Tensor Pad(int[] pad, string mode = "constant", float value = 0f)
    {
        CheckOperandsAnyType("pad", this);
        ArgumentNullException.ThrowIfNull(pad);
        if (pad.Length % 2 != 0 || pad.Length / 2 > Rank)
            throw new ArgumentException(
                $"pad: {pad.Length} values ({Shapes.Format(pad)}) for shape {Shapes.Format(shape)}; give (left, right) " +
                "pairs for at most every axis, last axis first.");
        if (pad.Any(p => p < 0))
            throw new ArgumentException($"pad: negative padding {Shapes.Format(pad)} is not supported; use Narrow to crop.");
        return mode switch
        {
            "constant" => PadConstant(pad, value),
            "reflect" or "replicate" => PadByEdges(pad, mode),
            _ => throw new ArgumentException(
                $"pad: mode must be \"constant\", \"reflect\" or \"replicate\", got \"{mode}\".", nameof(mode)),
        };
    }

    private Tensor PadConstant(int[] pad, float value)
    {
        var result = (int[])shape.Clone();
        var outStrides = StridedLayout.ContiguousStrides(AxisPadded(pad, result));
        int offset = 0;
        for (int p = 0; p < pad.Length / 2; p++) offset += pad[2 * p] * outStrides[Rank - 1 - p];
        Shapes.Validate("pad", result);
        var x = this;
        var y = Uninitialized(Device, result, dtype: DType);
        // An integer tensor is padded with the value's integer bits (the fill moves 32 bits, whatever they mean).
        Kernels.Fill(y.RawElements, DType == DType.Float32 ? value : BitConverter.Int32BitsToSingle(
            DType == DType.Bool ? (value != 0f ? 1 : 0) : checked((int)value)));
        var interior = StridedLayout.Create(shape, outStrides, offset);
        CopyCoalesced(Kernels, x.RawElements, StridedLayout.Contiguous(shape), y.RawElements, interior, false);
        return Record(y, "pad", new[] { x },
            dy => CopyCoalesced(Kernels, dy, interior, x.GradTarget(), StridedLayout.Contiguous(x.shape), true));
    }

    private int[] AxisPadded(int[] pad, int[] result)
    {
        for (int p = 0; p < pad.Length / 2; p++) result[Rank - 1 - p] += pad[2 * p] + pad[2 * p + 1];
        return result;
    }

    /// <summary>Reflect and replicate padding, one axis at a time, composed of narrow, flip, expand and cat.</summary>
    private Tensor PadByEdges(int[] pad, string mode)
    {
        var y = this;
        for (int p = 0; p < pad.Length / 2; p++)
        {
            int d = Rank - 1 - p, left = pad[2 * p], right = pad[2 * p + 1], n = shape[d];
            if (left == 0 && right == 0) continue;
            if (mode == "reflect" && (left >= n || right >= n))
                throw new ArgumentException(
                    $"pad: reflect padding ({left}, {right}) must be smaller than axis {d} of size {n} " +
                    $"(shape {Shapes.Format(shape)}).");
            var parts = new List<Tensor>();
            if (left > 0) parts.Add(mode == "reflect" ? y.Narrow(d, 1, left).Flip(d) : y.Narrow(d, 0, 1).ExpandAxis(d, left));
            parts.Add(y);
            if (right > 0)
                parts.Add(mode == "reflect" ? y.Narrow(d, n - 1 - right, right).Flip(d) : y.Narrow(d, n - 1, 1).ExpandAxis(d, right));
            y = Cat(parts, d);
        }
        return ReferenceEquals(y, this) ? Reshape(shape) : y;
    }

    private Tensor ExpandAxis(int d, int size)
    {
        var target = (int[])shape.Clone();
        target[d] = size;
        return Expand(target);
    }

    // ---- the two primitives -----------------------------------------------------------------------------------

    /// <summary>
    /// A new contiguous tensor of <paramref name="result"/> whose element i is this[offset + Σ i_d·strides_d] (a layout
    /// over this tensor's contiguous elements that maps no two indices to one element); backward scatters the gradient
    /// back through the same layout.
    /// </summary>
    private Tensor Gather(string op, int[] result, int[] strides, int offset)
    {
        Shapes.Validate(op, result);
        var x = this;
        var y = Uninitialized(Device, result, dtype: DType);
        var src = StridedLayout.Create(result, strides, offset);
        var dst = StridedLayout.Contiguous(result);
        CopyCoalesced(Kernels, x.RawElements, src, y.RawElements, dst, accumulate: false);
        return Record(y, op, new[] { x }, dy => CopyCoalesced(Kernels, dy, dst, x.GradTarget(), src, accumulate: true));
    }

    /// <summary>y[dst(i)] (+)= x[src(i)] with the two layouts' common contiguous runs merged first.</summary>
    internal static void CopyCoalesced(IKernels k, ILGPU.ArrayView<float> x, StridedLayout src,
        ILGPU.ArrayView<float> y, StridedLayout dst, bool accumulate)
    {
        Span<StridedLayout> pair = stackalloc StridedLayout[] { src, dst };
        StridedLayout.Coalesce(pair);
        k.StridedCopy(x, pair[0], y, pair[1], accumulate);
    }

    /// <summary>
    /// dx (+)= dy summed over the axes where <paramref name="target"/> (padded to dy's rank) is 1 and dy's
    /// <paramref name="shape"/> is not: the gradient of broadcasting <paramref name="target"/> to <paramref name="shape"/>.
    /// </summary>
    internal static void SumToShape(IKernels k, ILGPU.ArrayView<float> dy, int[] shape, int[] target,
        ILGPU.ArrayView<float> dx, bool accumulate = true, float scale = 1f)
    {
        var padded = Shapes.Pad(target, shape.Length);
        var strides = StridedLayout.ContiguousStrides(shape);
        var keptSizes = new int[shape.Length];
        var summedSizes = new int[shape.Length];
        for (int d = 0; d < shape.Length; d++)
        {
            bool summed = padded[d] == 1 && shape[d] != 1;
            keptSizes[d] = summed ? 1 : shape[d];
            summedSizes[d] = summed ? shape[d] : 1;
        }
        Span<StridedLayout> outer = stackalloc StridedLayout[] { StridedLayout.Create(keptSizes, strides, 0) };
        Span<StridedLayout> inner = stackalloc StridedLayout[] { StridedLayout.Create(summedSizes, strides, 0) };
        StridedLayout.Coalesce(outer);
        StridedLayout.Coalesce(inner);
        k.StridedSum(dy, outer[0], inner[0], dx, scale, accumulate);
    }
}
