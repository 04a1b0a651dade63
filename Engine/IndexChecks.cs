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
    private readonly List<(string Op, int Dim, int Size)> ops = new();
    private readonly Dictionary<(string Op, int Dim, int Size), int> ids = new();
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

    /// <summary>
    /// An id for an index op reading dim <paramref name="dim"/> of size <paramref name="size"/> (valid indices [0, size));
    /// dim −1 for one-hot's classes. Nothing is allocated once the triple has been seen.
    /// </summary>
    public int Id(string op, int dim, int size)
    {
        var key = (op, dim, size);
        lock (ops)
        {
            if (!ids.TryGetValue(key, out int id))
            {
                id = ops.Count;
                ops.Add(key);
                ids[key] = id;
            }
            return id;
        }
    }

    /// <summary>After an index kernel: reported now on a host backend, else at the next synchronisation.</summary>
    public void Launched()
    {
        if (device.Kernels.CompletesOnReturn) Check();
        else pending = true;
    }

    /// <summary>Reads the record if an index op was queued since the last look; throws if one met a bad index.</summary>
    public void ThrowIfFailed()
    {
        if (!pending) return;
        pending = false;
        Check();
    }

    private void Check()
    {
        if (record == null) return;
        var host = new int[IndexErrors.Length];
        device.Kernels.Download<int>(record.View, host);
        if (host[0] == 0) return;
        device.Kernels.Upload<int>(new int[IndexErrors.Length], record.View);
        string where;
        lock (ops)
        {
            where = host[3] < 0 || host[3] >= ops.Count ? "an index op"
                : ops[host[3]] is var (op, dim, size) && dim < 0 ? $"{op}: into {size} classes (indices in [0, {size}))"
                : $"{ops[host[3]].Op}: into dim {ops[host[3]].Dim} of size {ops[host[3]].Size} (indices in [0, {ops[host[3]].Size}))";
        }
        throw new IndexOutOfRangeException($"{where}: index {host[2]} at position {host[1]} of the index tensor is out of range.");
    }

    public void Dispose() => record?.Dispose();
}
