namespace Engine;

/// <summary>
/// A snapshot of a device's memory, in PyTorch's terms: <see cref="AllocatedBytes"/> is
/// <c>torch.cuda.memory_allocated</c> (held by tensors and kernels' scratch buffers), <see cref="ReservedBytes"/> is
/// <c>memory_reserved</c> (everything the device's caching pool holds, idle buffers included), and the peaks are
/// <c>max_memory_allocated</c> / <c>max_memory_reserved</c> since the device was opened or
/// <see cref="Device.ResetPeakMemoryStats"/> was last called.
/// </summary>
/// <param name="DeviceAllocations">Device allocations made since the device was opened (never decreases).</param>
/// <param name="LiveBuffers">Device buffers currently allocated (rented or waiting in the pool).</param>
/// <param name="RentedBuffers">Buffers currently held by tensors or kernels' scratch.</param>
/// <param name="ReservedBytes">Bytes of device memory the pool holds: rented and idle buffers.</param>
/// <param name="AllocatedBytes">Bytes of the rented buffers: what tensors and scratch hold now.</param>
/// <param name="PeakAllocatedBytes">The most <see cref="AllocatedBytes"/> has been since the last reset.</param>
/// <param name="PeakReservedBytes">The most <see cref="ReservedBytes"/> has been since the last reset.</param>
public readonly record struct MemoryStats(long DeviceAllocations, int LiveBuffers, int RentedBuffers,
    long ReservedBytes, long AllocatedBytes, long PeakAllocatedBytes, long PeakReservedBytes);
