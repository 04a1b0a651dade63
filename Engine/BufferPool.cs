using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>
/// Device buffers kept by exact element type and length and handed out again, so that steady-state training
/// allocates and frees nothing (freeing device memory synchronizes the device).
/// </summary>
/// <remarks>
/// Buffers given back by finalizers (tensors the user never disposed) arrive on another thread; they wait in
/// a concurrent queue until the device's own thread next rents. Reuse is safe without a synchronize because
/// every kernel runs on the device's one stream in launch order.
/// </remarks>
internal sealed class BufferPool : IDisposable
{
    private readonly Accelerator accelerator;
    private readonly Dictionary<(Type, long), Stack<MemoryBuffer>> free = new();
    private readonly ConcurrentQueue<MemoryBuffer> returnedByFinalizers = new();

    // NOTE: every buffer the pool made stays strongly referenced here until the pool frees it. Otherwise a
    // tensor dropped without Dispose and its buffer become unreachable together, ILGPU's own finalizer frees
    // the buffer while the tensor's finalizer hands it back to the pool, and a later Rent returns freed memory.
    private readonly HashSet<MemoryBuffer> allocated = new(ReferenceEqualityComparer.Instance);
    private readonly object gate = new();
    private long deviceAllocations;
    private int liveBuffers;
    private int rentedBuffers;
    private long allocatedBytes; // reserved: every buffer the pool made and has not freed
    private long rentedBytes;
    private long peakRentedBytes;
    private long peakAllocatedBytes;
    private bool disposed;

    public BufferPool(Accelerator accelerator) => this.accelerator = accelerator;

    public MemoryStats Stats
    {
        get
        {
            lock (gate)
                return new MemoryStats(deviceAllocations, liveBuffers, rentedBuffers, allocatedBytes, rentedBytes,
                    peakRentedBytes, peakAllocatedBytes);
        }
    }

    /// <summary>Starts the peaks over from the current figures (PyTorch's <c>reset_peak_memory_stats</c>).</summary>
    public void ResetPeaks()
    {
        lock (gate)
        {
            while (returnedByFinalizers.TryDequeue(out var late)) ReturnLocked(late);
            peakRentedBytes = rentedBytes;
            peakAllocatedBytes = allocatedBytes;
        }
    }

    /// <summary>Counts a buffer handed out: rented bytes and their peak.</summary>
    private void CountRentLocked(MemoryBuffer buffer)
    {
        rentedBuffers++;
        rentedBytes += buffer.LengthInBytes;
        peakRentedBytes = Math.Max(peakRentedBytes, rentedBytes);
    }

    /// <summary>A cap on the bytes this pool may hold (null: the device's own size is the limit).</summary>
    public long? Limit { get; set; }

    /// <summary>
    /// A buffer of <paramref name="length"/> + <paramref name="slack"/> elements (slack: room to align a view inside
    /// it); out-of-memory errors name the <paramref name="length"/> asked for.
    /// </summary>
    public MemoryBuffer1D<T, Stride1D.Dense> Rent<T>(long length, int slack = 0) where T : unmanaged
    {
        long asked = length;
        length += slack;
        lock (gate)
        {
            if (disposed) throw new ObjectDisposedException(nameof(Device), "The device has been disposed.");
            while (returnedByFinalizers.TryDequeue(out var late)) ReturnLocked(late);
            if (free.TryGetValue((typeof(MemoryBuffer1D<T, Stride1D.Dense>), length), out var stack) && stack.Count > 0)
            {
                var reused = stack.Pop();
                CountRentLocked(reused);
                return (MemoryBuffer1D<T, Stride1D.Dense>)reused;
            }
            long bytes = length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            // Like PyTorch's caching allocator: when a new buffer does not fit, give the idle cached ones back to
            // the device and try once more before reporting out-of-memory.
            if (!Fits(bytes)) ReleaseIdleLocked();
            if (!Fits(bytes)) throw OutOfMemory<T>(asked, null);
            MemoryBuffer1D<T, Stride1D.Dense> buffer;
            try
            {
                buffer = accelerator.Allocate1D<T>(length);
            }
            catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
            {
                ReleaseIdleLocked();
                try
                {
                    buffer = accelerator.Allocate1D<T>(length);
                }
                catch (Exception again) when (again is OutOfMemoryException or AcceleratorException)
                {
                    throw OutOfMemory<T>(asked, again);
                }
            }
            allocated.Add(buffer);
            deviceAllocations++;
            liveBuffers++;
            allocatedBytes += buffer.LengthInBytes;
            peakAllocatedBytes = Math.Max(peakAllocatedBytes, allocatedBytes);
            CountRentLocked(buffer);
            return buffer;
        }
    }

    /// <summary>Frees every idle cached buffer (PyTorch's <c>empty_cache</c>); synchronizes the device first.</summary>
    public void ReleaseIdle()
    {
        lock (gate) ReleaseIdleLocked();
    }

    private void ReleaseIdleLocked()
    {
        accelerator.Synchronize();
        foreach (var stack in free.Values)
            while (stack.Count > 0) FreeLocked(stack.Pop());
    }

    private bool Fits(long bytes) =>
        bytes <= accelerator.MemorySize - allocatedBytes && (Limit is not long cap || allocatedBytes + bytes <= cap);

    private OutOfMemoryException OutOfMemory<T>(long length, Exception? inner)
    {
        long bytes = length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var (freeBytes, total, exact) = FreeMemory();
        string limit = Limit is long cap ? $"; this device's memory limit is {cap:N0} bytes" : "";
        return new OutOfMemoryException(
            $"Device out of memory: could not allocate {bytes:N0} bytes ({length:N0} × {typeof(T).Name}) on " +
            $"{accelerator.Name}: {freeBytes:N0} bytes {(exact ? "free" : "free by this engine's count")} of " +
            $"{total:N0}{limit}; this engine holds {allocatedBytes:N0} bytes in {liveBuffers} buffers " +
            $"({rentedBuffers} in use, its idle cache already released). Use smaller batches or models.", inner);
    }

    /// <summary>Free and total device memory: the driver's figures on CUDA, else the device size minus what this pool holds.</summary>
    private (long Free, long Total, bool Exact) FreeMemory()
    {
        if (accelerator is ILGPU.Runtime.Cuda.CudaAccelerator)
        {
            try
            {
                accelerator.Bind();
                if (ILGPU.Runtime.Cuda.CudaAPI.CurrentAPI.GetMemoryInfo(out long freeBytes, out long total) ==
                    ILGPU.Runtime.Cuda.CudaError.CUDA_SUCCESS)
                    return (freeBytes, total, true);
            }
            catch (Exception e) when (e is AcceleratorException or InvalidOperationException or DllNotFoundException)
            {
                // Fall through to the pool's own count.
            }
        }
        long size = accelerator.MemorySize;
        long cap = Limit is long c ? Math.Min(c, size) : size;
        return (Math.Max(0, cap - allocatedBytes), cap, false);
    }

    public void Return(MemoryBuffer buffer)
    {
        lock (gate) ReturnLocked(buffer);
    }

    /// <summary>Called from a finalizer: only enqueue, never touch the device.</summary>
    public void ReturnFromFinalizer(MemoryBuffer buffer) => returnedByFinalizers.Enqueue(buffer);

    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            foreach (var stack in free.Values)
            {
                while (stack.Count > 0) FreeLocked(stack.Pop());
            }
        }
    }

    private void ReturnLocked(MemoryBuffer buffer)
    {
        rentedBuffers--;
        rentedBytes -= buffer.LengthInBytes;
        if (disposed)
        {
            FreeLocked(buffer);
            return;
        }
        var key = (buffer.GetType(), buffer.Length);
        if (!free.TryGetValue(key, out var stack)) free[key] = stack = new Stack<MemoryBuffer>();
        stack.Push(buffer);
    }

    private void FreeLocked(MemoryBuffer buffer)
    {
        allocated.Remove(buffer);
        liveBuffers--;
        allocatedBytes -= buffer.LengthInBytes;
        buffer.Dispose();
    }
}
