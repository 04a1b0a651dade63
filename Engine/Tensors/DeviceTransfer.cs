using ILGPU;

namespace Engine;

// Moving tensors between devices (PyTorch's tensor.to(device) and module.to(device)): through host memory, since the
// backends share no address space (the SIMD backend's buffers are host memory, an ILGPU device's are its own).
public sealed partial class Tensor
{
    /// <summary>
    /// This tensor on <paramref name="target"/>, as PyTorch's <c>tensor.to(device)</c>: itself when it is already
    /// there, else a copy of its elements (any dtype) made through host memory. Differentiable: the copy's gradient is
    /// carried back and added to this tensor's on its own device.
    /// </summary>
    public Tensor To(Device target)
    {
        ArgumentNullException.ThrowIfNull(target);
        ThrowIfDisposed("to");
        target.ThrowIfDisposed();
        if (ReferenceEquals(target, Device)) return this;
        var y = Uninitialized(target, shape, dtype: DType);
        CopyRaw(RawElements, Device, y.RawElements, target);
        var x = this;
        return DType != DType.Float32 ? y : Record(y, "to", new[] { x }, dy =>
        {
            using var back = Uninitialized(x.Device, x.shape, register: false);
            CopyRaw(dy, target, back.Elements, x.Device);
            x.Kernels.Accumulate(back.Elements, x.GradTarget());
        });
    }

    /// <summary>
    /// Moves this tensor's elements to <paramref name="target"/> in place (it stays the same object: how
    /// <see cref="Nn.Module.To(Device)"/> moves parameters and buffers). Its gradient, if any, moves with it.
    /// </summary>
    internal void MoveTo(Device target)
    {
        ThrowIfDisposed("to");
        if (ReferenceEquals(target, Device)) return;
        var moved = new TensorStorage(target, Math.Max(1, Numel));
        CopyRaw(RawElements, Device, moved.View.SubView(0, Numel), target);
        storage!.Release();
        storage = moved;
        offset = 0;
        Device = target;
        grad?.MoveTo(target);
    }

    private static void CopyRaw(ArrayView<float> source, Device from, ArrayView<float> target, Device to)
    {
        var host = new float[source.Length];
        from.Kernels.Download(source, host.AsSpan());
        to.Kernels.Upload<float>(host, target);
    }
}
