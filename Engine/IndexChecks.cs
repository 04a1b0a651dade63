using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>
/// Out-of-range indices, reported without a host round-trip per op: index kernels write the first bad index they meet
/// into a small device record (<see cref="IndexErrors"/>), tagged with the op. On a backend whose calls complete when
/// they return (the SIMD <c>cpu</c> device) the record is host memory, read right after the op; elsewhere it is read at
/// the next synchronisation (a <c>ToArray</c>, <c>Item</c> or <c>Device.Synchronize</c>), as CUDA reports a device-side
/// assert. Either way the error names the op, the index's position, its value and the valid range.
/// </summary>
internal sealed class IndexChecks
{
    private readonly Device device;
    private readonly List<string> ops = new();
    private readonly Dictionary<string, int> ids = new();
    private MemoryBuffer1D<int, Stride1D.Dense>? record;
    private bool pending;

    public IndexChecks(Device device) => this.device = device;

    /// <summary>The record kernels write into (zeroed when created and after each report).</summary>
    public ArrayView<int> Record
    {
        get
        {
            if (record == null)
            {
                record = device.Accelerator.Allocate1D<int>(IndexErrors.Length);
                record.MemSetToZero();
                device.Accelerator.Synchronize();
            }
            return record.View;
        }
    }

    /// <summary>An id for <paramref name="description"/> ("gather: index tensor … into dim 1 of size 5").</summary>
    public int Id(string description)
    {
        lock (ops)
        {
            if (!ids.TryGetValue(description, out int id))
            {
                id = ops.Count;
                ops.Add(description);
                ids[description] = id;
            }
            return id;
        }
    }

    /// <summary>After an index kernel: reported now on a host backend, else at the next synchronisation.</summary>
    public void Launched()
    {
        if (device.Kernels.CompletesOnReturn) ThrowIfFailed();
        else pending = true;
    }

    /// <summary>Reads the record if an index op ran since the last look; throws if one met a bad index.</summary>
    public void ThrowIfFailed()
    {
        if (!pending && !device.Kernels.CompletesOnReturn) return;
        pending = false;
        if (record == null) return;
        var host = new int[IndexErrors.Length];
        device.Kernels.Download<int>(record.View, host);
        if (host[0] == 0) return;
        device.Kernels.Upload<int>(new int[IndexErrors.Length], record.View);
        string op;
        lock (ops) op = host[3] >= 0 && host[3] < ops.Count ? ops[host[3]] : "an index op";
        throw new IndexOutOfRangeException($"{op}: index {host[2]} at position {host[1]} of the index tensor is out of range.");
    }

    public void Dispose() => record?.Dispose();
}
