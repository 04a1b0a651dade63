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
    private readonly ArrayView<float> view;
    private int references = 1;

    /// <summary>Floats a host buffer is rented beyond its length, so that its view can start on a 64-byte boundary.</summary>
    private const int HostAlignmentSlack = 15;

    /// <remarks>
    /// Host memory (the SIMD backend, ILGPU's CPU accelerator) comes from <c>malloc</c>, which places a large block 16
    /// bytes past a page boundary: every 64-byte register load of such a tensor would straddle two cache lines, which
    /// cost the memory-bound kernels (the Adam step, the per-sample GEMV out of L2) 10–25 %. Those buffers are rented
    /// 15 floats longer and viewed from their first 64-byte boundary.
    /// </remarks>
    public TensorStorage(Device device, long length)
    {
        this.device = device;
        bool host = device.Accelerator.AcceleratorType == AcceleratorType.CPU;
        buffer = device.Pool.Rent<float>(length, host ? HostAlignmentSlack : 0);
        view = host ? buffer.View.SubView(FloatsToBoundary(buffer.View), length) : buffer.View;
    }

    private static long FloatsToBoundary(ArrayView<float> host)
    {
        long address = (long)host.LoadEffectiveAddressAsPtr();
        return (64 - address % 64) % 64 / sizeof(float);
    }

    public bool IsReleased => Volatile.Read(ref references) <= 0;

    /// <summary>The buffer; throws once the device is disposed (its memory is gone with it).</summary>
    public ArrayView<float> View
    {
        get
        {
            device.ThrowIfDisposed();
            if (buffer == null) throw new ObjectDisposedException(nameof(Tensor), "The tensor's storage has been released.");
            return view;
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
