using Engine.Kernels;
using ILGPU.Runtime;
using ILGPU;

namespace Engine;

/// <summary>
/// A row-major tensor of rank 0 to 8 in device memory (float32, or int32/int64/bool: <see cref="DType"/>), with
/// reverse-mode autodiff on float32. Ops return new
/// tensors; when grad is enabled and an input requires grad, the output records how to back-propagate.
/// Dispose tensors (or use a <see cref="DisposeScope"/>) to give their memory back to the device's pool at
/// once; a tensor that is only garbage-collected gives it back later.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private readonly int[] shape;
    private TensorStorage? storage;

    /// <summary>
    /// For a lazy transpose (<see cref="MT"/>): the tensor whose last two axes this one swaps. Its storage is made
    /// only when something other than a matrix product reads it (<see cref="EnsureMaterialized"/>).
    /// </summary>
    private Tensor? transposeSource;
    private long offset; // 64-bit: a parameter may sit past element 2³¹ of an optimizer's flat buffer
    private bool requiresGrad;
    private bool disposed;
    private Tensor? pendingGrad;

    private Tensor(Device device, int[] shape, TensorStorage? storage, long offset, bool register,
        DType dtype = DType.Float32)
    {
        Device = device;
        DType = dtype;
        this.shape = shape;
        this.storage = storage;
        this.offset = offset;
        Numel = Shapes.Numel(shape);
        if (register) DisposeScope.Register(this);
    }

    ~Tensor()
    {
        if (!disposed) storage?.Release(fromFinalizer: true);
    }

    public Device Device { get; private set; }

    /// <summary>The element type (<see cref="Engine.DType"/>); only float32 tensors take part in autodiff.</summary>
    public DType DType { get; }

    /// <summary>The dimensions (a copy); <c>[]</c> for a scalar.</summary>
    public int[] Shape => (int[])shape.Clone();

    public int Rank => shape.Length;

    /// <summary>Number of elements (PyTorch <c>numel()</c>).</summary>
    public int Numel { get; }

    /// <summary>The accumulated gradient of a leaf after <see cref="Backward"/>; null before the first one.</summary>
    /// <remarks>
    /// Settable, as PyTorch's <c>p.grad = g</c>: a tensor of this one's shape on its device is copied into the gradient
    /// (into the optimizer's flat buffer when an optimizer holds this parameter), and <c>null</c> clears it: the
    /// gradient reads as zeros and the next optimizer step leaves the parameter alone, as a PyTorch parameter whose
    /// grad is None. Leaves only.
    /// </remarks>
    public Tensor? Grad
    {
        get => grad;
        set => SetGrad(value);
    }

    private Tensor? grad;

    private void SetGrad(Tensor? value)
    {
        ThrowIfDisposed("grad");
        if (!IsLeaf)
            throw new InvalidOperationException(
                $"grad: only a leaf tensor's gradient can be set; this one of shape {Shapes.Format(shape)} was made by " +
                $"'{GradFnName}'.");
        if (value == null)
        {
            if (grad != null) Kernels.Fill(grad.Elements, 0f);
            GradWritten = false;
            return;
        }
        CheckOperands("grad", this, value);
        if (!shape.SequenceEqual(value.shape))
            throw new ArgumentException(
                $"grad: a gradient of shape {Shapes.Format(value.shape)} for a tensor of shape {Shapes.Format(shape)}.");
        if (grad == null)
        {
            grad = Uninitialized(Device, shape, register: false);
            grad.gradOf = this;
        }
        Kernels.Copy(value.Elements, grad.Elements);
        GradWritten = true;
    }

    /// <summary>Whether gradients flow to this tensor. Settable on leaves only (tensors no op produced).</summary>
    public bool RequiresGrad
    {
        get => requiresGrad;
        set
        {
            if (GradFn != null && !value)
                throw new InvalidOperationException(
                    "RequiresGrad can only be turned off on a leaf tensor; use Detach() for a non-leaf.");
            if (value && DType != DType.Float32)
                throw new InvalidOperationException(
                    $"RequiresGrad: only float32 tensors can require gradients; this one is {DType.Name()}.");
            requiresGrad = value;
        }
    }

    /// <summary>True for tensors no recorded op produced (user-created data and parameters).</summary>
    public bool IsLeaf => GradFn == null;

    /// <summary>The op that produced this tensor, or null for a leaf.</summary>
    public string? GradFnName => GradFn?.Op;

    public bool IsDisposed => disposed;

    internal GradNode? GradFn { get; private set; }

    /// <summary>The tensor's float32 elements on the device. Throws if the tensor was disposed or is not float32.</summary>
    internal ArrayView<float> Elements
    {
        get
        {
            if (DType != DType.Float32)
                throw new InvalidOperationException(
                    $"a {DType.Name()} tensor of shape {Shapes.Format(shape)} was read as float32 (an engine bug: the op " +
                    "should have checked its operands' dtype).");
            return RawElements;
        }
    }

    /// <summary>The elements of an int32, int64 or bool tensor: 32-bit integers on the device.</summary>
    internal ArrayView<int> IntElements
    {
        get
        {
            if (DType == DType.Float32)
                throw new InvalidOperationException(
                    $"a float32 tensor of shape {Shapes.Format(shape)} was read as integers (an engine bug).");
            return RawElements.Cast<int>();
        }
    }

    /// <summary>The 32-bit elements whatever the dtype, viewed as floats: what movement ops copy bit for bit.</summary>
    internal ArrayView<float> RawElements
    {
        get
        {
            ThrowIfDisposed("access");
            EnsureMaterialized();
            return storage!.View.SubView(offset, Numel);
        }
    }

    internal IKernels Kernels => Device.Kernels;

    /// <summary>Back-propagates from this one-element tensor into every leaf's <see cref="Grad"/>.</summary>
    public void Backward(bool retainGraph = false) => Autograd.Backward(this, retainGraph);

    /// <summary>
    /// Back-propagates from this tensor of any shape, seeded with <paramref name="gradient"/> (d root, of this tensor's
    /// shape): PyTorch's <c>tensor.backward(gradient)</c>, the vector-Jacobian product gradientᵀ·∂this/∂leaf
    /// accumulated into every leaf's <see cref="Grad"/>, without forming Σ gradient ⊙ this first.
    /// </summary>
    public void Backward(Tensor gradient, bool retainGraph = false) => Autograd.Backward(this, retainGraph, gradient);

    /// <summary>Fills the gradient with zeros, keeping its buffer (PyTorch <c>zero_grad(set_to_none=False)</c>).</summary>
    public void ZeroGrad()
    {
        if (grad == null) return;
        Kernels.Fill(grad.Elements, 0f);
        GradWritten = false;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        GC.SuppressFinalize(this);
        GradFn?.Release();
        Grad?.Dispose();
        pendingGrad?.Dispose();
        storage?.Release();
        transposeSource = null;
    }

    public override string ToString()
    {
        if (disposed) return $"Tensor({Shapes.Format(shape)}, disposed)";
        ThrowIfDisposed("ToString");
        string[] values = DType switch
        {
            DType.Float32 => ToArray().Take(9).Select(v => v.ToString("G6")).ToArray(),
            DType.Bool => ToArray<bool>().Take(9).Select(v => v ? "true" : "false").ToArray(),
            _ => ToArray<long>().Take(9).Select(v => v.ToString()).ToArray(),
        };
        string shown = string.Join(", ", values.Take(8));
        if (values.Length > 8) shown += ", …";
        string type = DType == DType.Float32 ? "" : $", {DType.Name()}";
        return $"Tensor({Shapes.Format(shape)}, [{shown}]{type}{(requiresGrad ? ", requiresGrad" : "")})";
    }

    internal void ThrowIfDisposed(string op)
    {
        if (Device.IsDisposed)
            throw new ObjectDisposedException(nameof(Device),
                $"{op}: the tensor of shape {Shapes.Format(shape)} lived on the {Device.Kind} device, which has been disposed.");
        if (disposed || storage is { IsReleased: true })
            throw new ObjectDisposedException(nameof(Tensor),
                $"{op}: the tensor of shape {Shapes.Format(shape)} has been disposed.");
    }

    /// <summary>A new tensor with uninitialised contents, registered in the current dispose scope.</summary>
    internal static Tensor Uninitialized(Device device, int[] shape, bool register = true, DType dtype = DType.Float32)
    {
        device.ThrowIfDisposed();
        return new Tensor(device, shape, new TensorStorage(device, Math.Max(1, Shapes.Numel(shape))), 0, register, dtype);
    }

    /// <summary>A tensor of <paramref name="shape"/> viewing <paramref name="flat"/> from <paramref name="at"/> on.</summary>
    internal static Tensor ViewInto(TensorStorage flat, Device device, int[] shape, long at)
    {
        flat.Retain();
        return new Tensor(device, shape, flat, at, register: false);
    }

    /// <summary>
    /// Moves this tensor's elements into <paramref name="flat"/> at <paramref name="at"/> and makes it a view
    /// there (how optimizers gather parameters into one buffer). Views made earlier keep the old memory.
    /// </summary>
    internal void MoveInto(TensorStorage flat, long at)
    {
        var source = Elements;
        var target = flat.View.SubView(at, Numel);
        Kernels.Copy(source, target);
        flat.Retain();
        storage!.Release();
        storage = flat;
        offset = at;
    }

    /// <summary>
    /// Makes this leaf's gradient the buffer <paramref name="source"/>'s backward accumulates into (its
    /// <see cref="Grad"/>, or its pending gradient when it is computed): gradients reaching this leaf land there, in the
    /// order they arrive, as if they had reached <paramref name="source"/> (activation checkpointing's recomputation).
    /// </summary>
    internal void AccumulateGradInto(Tensor source)
    {
        source.GradTarget();
        var target = source.IsLeaf ? source.grad! : source.pendingGrad!;
        this.grad?.Dispose();
        this.grad = target.ShareStorage(shape);
    }

    /// <summary>Makes <paramref name="grad"/> (a view into a flat gradient buffer) this leaf's gradient.</summary>
    internal void AttachGrad(Tensor grad)
    {
        this.grad?.Dispose();
        this.grad = grad;
        grad.gradOf = this;
    }

    /// <summary>For a gradient tensor: the leaf it belongs to (writing into it counts as that leaf's gradient).</summary>
    private Tensor? gradOf;

    /// <summary>Records that this tensor's contents were written, for a gradient written by hand.</summary>
    private void MarkWritten()
    {
        if (gradOf != null) gradOf.GradWritten = true;
    }

    /// <summary>The buffer this tensor views and where in it the tensor starts.</summary>
    internal (TensorStorage Storage, long Offset) Placement
    {
        get
        {
            EnsureMaterialized();
            return (storage!, offset);
        }
    }

    /// <summary>Whether this leaf's gradient was written since its optimizer last zeroed it (cleared by the optimizer).</summary>
    internal bool GradWritten { get; set; }

    /// <summary>The optimizer that holds this parameter, which may fuse its step into backward.</summary>
    internal Optim.Optimizer? StepOwner { get; set; }

    /// <summary>How many inputs of the nodes of the current backward are this leaf (set by <see cref="Autograd"/>).</summary>
    internal int BackwardUses { get; set; }

    /// <summary>Those of <see cref="BackwardUses"/> whose node has not run its backward yet (counted down by
    /// <see cref="Autograd"/> for the leaves that have a <see cref="GradientReadyHook"/>).</summary>
    internal int PendingBackwardUses { get; set; }

    /// <summary>
    /// Told when this leaf's gradient is complete in the current backward: the last node that uses it has run (ZeRO stage
    /// 2 reduces it over the ranks then). Leaves the graph does not reach are not told.
    /// </summary>
    internal IGradientReadyHook? GradientReadyHook { get; set; }

    /// <summary>Drops this leaf's gradient buffer (its contents were handed on) but keeps the record that it was written.</summary>
    internal void ReleaseGradKeepWritten()
    {
        grad?.Dispose();
        grad = null;
    }

    /// <summary>
    /// Backward of a product into this tensor's gradient: G (+)= op(A)·op(B). When this is a parameter used once in the
    /// graph and its optimizer fuses its step into backward, the product updates the parameter itself instead,
    /// θ ← θ + γ'·op(A)·op(B), and the gradient is left untouched.
    /// </summary>
    internal void AccumulateProduct<TA, TB>(ArrayView<float> a, ArrayView<float> b, int m, int n, int k)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        if (IsLeaf && BackwardUses == 1 && StepOwner is { } owner && owner.TryStepInBackward(this, out float scale))
        {
            Kernels.MatMul<TA, TB>(a, b, Elements, m, n, k, accumulate: true, alpha: scale);
            owner.SteppedInBackward(this);
            return;
        }
        Kernels.MatMul<TA, TB>(a, b, GradTarget(), m, n, k, accumulate: true);
    }

    /// <summary>A tensor viewing this one's storage with another shape (same element count).</summary>
    internal Tensor ShareStorage(int[] newShape)
    {
        ThrowIfDisposed("view");
        EnsureMaterialized();
        storage!.Retain();
        return new Tensor(Device, newShape, storage, offset, register: true, DType);
    }

    /// <summary>
    /// The buffer backward accumulates this tensor's gradient into: <see cref="Grad"/> for a leaf (kept
    /// across Backward calls), a temporary for an intermediate. Created zero-filled on first use.
    /// </summary>
    internal ArrayView<float> GradTarget()
    {
        if (IsLeaf)
        {
            GradWritten = true;
            if (grad == null)
            {
                grad = Uninitialized(Device, shape, register: false);
                grad.gradOf = this;
                Kernels.Fill(grad.Elements, 0f);
            }
            return grad.Elements;
        }
        if (pendingGrad == null)
        {
            pendingGrad = Uninitialized(Device, shape, register: false);
            Kernels.Fill(pendingGrad.Elements, 0f);
        }
        return pendingGrad.Elements;
    }

    /// <summary>The gradient accumulated so far (a leaf's Grad or an intermediate's pending one), if any.</summary>
    internal ArrayView<float>? CurrentGrad => IsLeaf ? Grad?.Elements : pendingGrad?.Elements;

    internal void ReleaseIntermediateGrad()
    {
        pendingGrad?.Dispose();
        pendingGrad = null;
    }

    /// <summary>
    /// The last two axes swapped, without moving anything yet: a matrix product reads <see cref="transposeSource"/>
    /// transposed in place (<see cref="MatMulOperand"/>); any other reader materialises it once.
    /// </summary>
    private Tensor LazyTranspose()
    {
        var x = this;
        var swapped = (int[])shape.Clone();
        (swapped[^1], swapped[^2]) = (swapped[^2], swapped[^1]);
        var y = new Tensor(Device, swapped, null, 0, register: true, DType) { transposeSource = x };
        var layout = LastTwoSwapped(swapped);
        return Record(y, "transpose", new[] { x },
            dy => CopyCoalesced(Kernels, dy, StridedLayout.Contiguous(swapped), x.GradTarget(), layout, accumulate: true));
    }

    /// <summary>A layout over a contiguous tensor of <paramref name="swapped"/> with its last two axes swapped back.</summary>
    private static StridedLayout LastTwoSwapped(int[] swapped)
    {
        var original = (int[])swapped.Clone();
        (original[^1], original[^2]) = (original[^2], original[^1]);
        var strides = StridedLayout.ContiguousStrides(original);
        (strides[^1], strides[^2]) = (strides[^2], strides[^1]);
        return StridedLayout.Create(swapped, strides, 0);
    }

    /// <summary>Writes a lazy transpose's elements into storage of its own (once).</summary>
    private void EnsureMaterialized()
    {
        if (transposeSource is not { } source) return;
        var data = new TensorStorage(Device, Math.Max(1, Numel));
        CopyCoalesced(Kernels, source.RawElements, LastTwoSwapped(shape), data.View.SubView(0, Numel),
            StridedLayout.Contiguous(shape), accumulate: false);
        storage = data;
        offset = 0;
        transposeSource = null;
    }

    /// <summary>What a matrix product reads for this operand: its own elements, or a lazy transpose's source, transposed.</summary>
    internal (Tensor Data, bool Transposed) MatMulOperand =>
        transposeSource is { } source ? (source, true) : (this, false);

    private static bool AnyRequiresGrad(Tensor[] inputs)
    {
        foreach (var t in inputs)
            if (t.requiresGrad) return true;
        return false;
    }

    /// <summary>Throws unless every operand is alive, float32 and on this tensor's device.</summary>
    internal static void CheckOperands(string op, params Tensor[] operands)
    {
        CheckOperandsAnyType(op, operands);
        foreach (var t in operands)
            if (t.DType != DType.Float32)
                throw new ArgumentException(
                    $"{op}: expects float32 tensors, got a {t.DType.Name()} tensor of shape {Shapes.Format(t.shape)}; " +
                    "convert it with To(DType.Float32).");
    }

    /// <summary>Throws unless every operand is alive and on one device; any dtype.</summary>
    internal static void CheckOperandsAnyType(string op, params Tensor[] operands)
    {
        foreach (var t in operands)
        {
            ArgumentNullException.ThrowIfNull(t, op);
            t.ThrowIfDisposed(op);
        }
        for (int i = 1; i < operands.Length; i++)
        {
            if (!ReferenceEquals(operands[i].Device, operands[0].Device))
                throw new InvalidOperationException(DeviceMismatch(op, operands[0], 0, operands[i], i));
        }
    }

    /// <summary>Names each operand's device; two devices of the same kind and name are told apart by their number.</summary>
    internal static string DeviceMismatch(string op, Tensor a, int i, Tensor b, int j)
    {
        string da = a.Device.ToString(), db = b.Device.ToString();
        if (da == db) (da, db) = ($"{da}, device #{a.Device.Number}", $"{db}, device #{b.Device.Number}");
        return $"{op}: operands are on different devices: operand {i} (shape {Shapes.Format(a.shape)}) is on {da} and " +
               $"operand {j} (shape {Shapes.Format(b.shape)}) on {db}; move one with tensor.To(device) (or module.To(device)) first.";
    }

    /// <summary>
    /// Attaches a grad node to <paramref name="output"/> when grad mode is on and an input requires grad;
    /// otherwise runs <paramref name="onRelease"/> at once (nothing will need the saved state).
    /// </summary>
    internal static Tensor Record(Tensor output, string op, Tensor[] inputs, Action<ArrayView<float>> backward,
        Action? onRelease = null)
    {
        Autograd.CheckForward(op, output, inputs);
        if (Autograd.IsEnabled && AnyRequiresGrad(inputs))
        {
            output.requiresGrad = true;
            output.GradFn = new GradNode(op, inputs, backward, onRelease);
        }
        else
        {
            onRelease?.Invoke();
        }
        return output;
    }
}
