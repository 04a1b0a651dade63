using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>
/// A pooled device buffer shared by the tensors that view it (a tensor and its reshapes and detached copies).
/// The last release gives the buffer back to the pool.
/// </summary>
internal sealed class TensorStorage
{
    private readonly Device device;
    private MemoryBuffer1D<float, Stride1D.Dense>? buffer;
    private int references = 1;

    public TensorStorage(Device device, long length)
    {
        this.device = device;
        buffer = device.Pool.Rent<float>(length);
    }

    public bool IsReleased => Volatile.Read(ref references) <= 0;

    /// <summary>The buffer; throws once the device is disposed (its memory is gone with it).</summary>
    public ArrayView<float> View
    {
        get
        {
            device.ThrowIfDisposed();
            return buffer!.View;
        }
    }

    public void Retain() => Interlocked.Increment(ref references);

    public void Release(bool fromFinalizer = false)
    {
        if (Interlocked.Decrement(ref references) != 0) return;
        var released = Interlocked.Exchange(ref buffer, null);
        if (released == null) return;
        if (fromFinalizer) device.Pool.ReturnFromFinalizer(released);
        else device.Pool.Return(released);
    }
}
