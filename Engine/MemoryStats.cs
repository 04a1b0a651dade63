namespace Engine;

/// <summary>A snapshot of a device's buffer pool.</summary>
/// <param name="DeviceAllocations">Device allocations made since the device was opened (never decreases).</param>
/// <param name="LiveBuffers">Device buffers currently allocated (rented or waiting in the pool).</param>
/// <param name="RentedBuffers">Buffers currently held by tensors or kernels' scratch.</param>
/// <param name="AllocatedBytes">Bytes of device memory currently allocated by the pool.</param>
public readonly record struct MemoryStats(long DeviceAllocations, int LiveBuffers, int RentedBuffers,
    long AllocatedBytes);
