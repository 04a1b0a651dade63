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
    private long allocatedBytes;
    private bool disposed;

    public BufferPool(Accelerator accelerator) => this.accelerator = accelerator;

    public MemoryStats Stats
    {
        get
        {
            lock (gate) return new MemoryStats(deviceAllocations, liveBuffers, rentedBuffers, allocatedBytes);
        }
    }

    public MemoryBuffer1D<T, Stride1D.Dense> Rent<T>(long length) where T : unmanaged
    {
        lock (gate)
        {
            if (disposed) throw new ObjectDisposedException(nameof(Device), "The device has been disposed.");
            while (returnedByFinalizers.TryDequeue(out var late)) ReturnLocked(late);
            rentedBuffers++;
            if (free.TryGetValue((typeof(MemoryBuffer1D<T, Stride1D.Dense>), length), out var stack) && stack.Count > 0)
                return (MemoryBuffer1D<T, Stride1D.Dense>)stack.Pop();
            try
            {
                var buffer = accelerator.Allocate1D<T>(length);
                allocated.Add(buffer);
                deviceAllocations++;
                liveBuffers++;
                allocatedBytes += buffer.LengthInBytes;
                return buffer;
            }
            catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
            {
                rentedBuffers--;
                long bytes = length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
                throw new OutOfMemoryException(
                    $"Device out of memory: could not allocate {bytes:N0} bytes ({length:N0} × {typeof(T).Name}) " +
                    $"on {accelerator.Name} (memory size {accelerator.MemorySize:N0} bytes; this engine holds " +
                    $"{allocatedBytes:N0} bytes in {liveBuffers} buffers).", e);
            }
        }
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
