using Engine.Kernels;
using Engine.Kernels.Ilgpu;
using Engine.Kernels.Simd;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Engine;

/// <summary>
/// Where tensors live and kernels run: a backend (<see cref="IKernels"/>, chosen here and nowhere else) and the memory
/// it works on. <c>cpu</c> is the hand-written SIMD backend over host memory; <c>cuda</c>, <c>opencl</c> and
/// <c>ilgpu-cpu</c> run the ILGPU kernels (compiled once per device and cached) on a GPU, an OpenCL device or ILGPU's
/// CPU accelerator (a GPU simulator, for testing those kernels). Buffers come from a pool, so a training step neither
/// allocates nor frees memory once shapes repeat. A device is driven from one thread at a time (like a CUDA stream).
/// </summary>
public sealed class Device : IDisposable
{
    /// <summary>Environment variable that overrides <c>"auto"</c>: <c>cuda</c>, <c>opencl</c>, <c>cpu</c> or <c>ilgpu-cpu</c>.</summary>
    public const string EnvironmentVariable = "ENGINE_DEVICE";

    /// <summary>Every device kind, in the order <c>"auto"</c> prefers them (it never picks <c>ilgpu-cpu</c>).</summary>
    public static readonly IReadOnlyList<string> Kinds = new[] { "cuda", "opencl", "cpu", "ilgpu-cpu" };

    private readonly Context context;
    private bool disposed;

    private static int opened;

    private Device(Context context, Accelerator accelerator, string kind, int index)
    {
        this.context = context;
        Accelerator = accelerator;
        Kind = kind;
        Index = index;
        Number = Interlocked.Increment(ref opened);
        Kernels = kind == "cpu" ? new SimdKernels(WorkerPool.Shared) : new IlgpuKernels(accelerator);
        Pool = new BufferPool(accelerator);
    }

    /// <summary><c>cuda</c>, <c>opencl</c>, <c>cpu</c> or <c>ilgpu-cpu</c>.</summary>
    public string Kind { get; }

    /// <summary>Which of this machine's devices of <see cref="Kind"/> it is (0-based, in <see cref="List"/>'s order).</summary>
    public int Index { get; }

    /// <summary><c>kind:index</c>, e.g. <c>cuda:1</c>: what <see cref="Create"/> takes to open this device again.</summary>
    public string Id => $"{Kind}:{Index}";

    /// <summary>This process's count of devices opened when this one was (1 for the first): tells apart two
    /// <see cref="Device"/> objects of the same kind and name in a message.</summary>
    public int Number { get; }

    /// <summary>
    /// What runs the kernels: the accelerator's own name (e.g. "NVIDIA H100 80GB HBM3", "CPUAccelerator") for the ILGPU
    /// backends, the SIMD width and thread count for <c>cpu</c>.
    /// </summary>
    public string Name => Kind == "cpu" ? Kernels.Description : Accelerator.Name;

    /// <summary>
    /// Threads the <c>cpu</c> backend's large kernels use, the caller's included (PyTorch's
    /// <c>torch.set_num_threads</c>/<c>get_num_threads</c>); process-wide, default = the machine's cores.
    /// </summary>
    public static int NumThreads
    {
        get => WorkerPool.Shared.Threads;
        set => WorkerPool.Shared.Threads = value;
    }

    public Accelerator Accelerator { get; }

    /// <summary>Device-memory figures of this device's buffer pool.</summary>
    public MemoryStats Memory => Pool.Stats;

    /// <summary>
    /// Starts <see cref="MemoryStats.PeakAllocatedBytes"/> and <see cref="MemoryStats.PeakReservedBytes"/> over from
    /// the current figures (PyTorch's <c>torch.cuda.reset_peak_memory_stats</c>).
    /// </summary>
    public void ResetPeakMemoryStats() => Pool.ResetPeaks();

    /// <summary>
    /// A cap, in bytes, on the device memory this engine may hold (null: no cap but the device's size), like
    /// PyTorch's <c>set_per_process_memory_fraction</c>. An allocation beyond it first releases idle cached
    /// buffers, then fails with an out-of-memory error naming the requested size and the free memory.
    /// </summary>
    public long? MemoryLimit
    {
        get => Pool.Limit;
        set => Pool.Limit = value is null or > 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), $"MemoryLimit must be positive, got {value}.");
    }

    /// <summary>Gives every idle cached buffer back to the device (PyTorch's <c>torch.cuda.empty_cache()</c>).</summary>
    public void EmptyCache() => Pool.ReleaseIdle();

    /// <summary>The backend: every primitive the engine runs (the one seam between the engine and its kernels).</summary>
    public IKernels Kernels { get; }

    internal BufferPool Pool { get; }

    /// <summary>The out-of-range index record of this device's index kernels.</summary>
    internal IndexChecks IndexChecks => indexChecks ??= new IndexChecks(this);

    private IndexChecks? indexChecks;

    /// <summary>
    /// Opens a device. <paramref name="kind"/> is <c>"auto"</c> (the <c>ENGINE_DEVICE</c> environment variable if
    /// set, else the first present of CUDA, an OpenCL GPU, the SIMD CPU backend), or one of <c>"cuda"</c>,
    /// <c>"opencl"</c>, <c>"cpu"</c>, <c>"ilgpu-cpu"</c>, optionally with an index among the devices of that kind as
    /// PyTorch writes it: <c>"cuda:1"</c>, <c>"opencl:0"</c> (<see cref="List"/> shows them; no index means 0).
    /// </summary>
    /// <exception cref="ArgumentException">an unknown kind or a malformed index.</exception>
    /// <exception cref="InvalidOperationException">the named device is not present; the message lists those that are.</exception>
    public static Device Create(string kind = "auto")
    {
        string requested = (kind ?? "auto").Trim().ToLowerInvariant();
        string? fromEnvironment = null;
        if (requested == "auto")
        {
            fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (!string.IsNullOrWhiteSpace(fromEnvironment)) requested = fromEnvironment.Trim().ToLowerInvariant();
        }
        int? index = null;
        int colon = requested.IndexOf(':');
        if (colon >= 0)
        {
            if (!int.TryParse(requested[(colon + 1)..], System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out int i))
                throw new ArgumentException(
                    $"Device '{requested}': the index after ':' must be a number ≥ 0, as in cuda:0 or opencl:1.", nameof(kind));
            index = i;
            requested = requested[..colon];
        }
        if ((requested != "auto" || index != null) && !Kinds.Contains(requested))
            throw new ArgumentException(
                (string.IsNullOrWhiteSpace(fromEnvironment)
                    ? $"Unknown device kind '{kind}'."
                    : $"The environment variable {EnvironmentVariable} is '{fromEnvironment}', which is not a device kind.") +
                $" Use one of: auto, {string.Join(", ", Kinds)} (optionally with an index, e.g. cuda:1).", nameof(kind));

        bool hostOnly = requested is "cpu" or "ilgpu-cpu";
        var context = Context.Create(builder =>
        {
            if (!hostOnly) builder.Cuda().OpenCL();
            builder.CPU(CpuSimulator()).EnableAlgorithms();
        });
        try
        {
            var candidates = requested == "auto" ? new[] { "cuda", "opencl", "cpu" } : new[] { requested };
            foreach (string candidate in candidates)
            {
                var found = context.Devices.Where(d => Provides(d, candidate, requested == "auto")).ElementAtOrDefault(index ?? 0);
                if (found != null)
                {
                    // Its index among all devices of the kind, as List() numbers them ("auto" skips OpenCL CPUs).
                    int at = context.Devices.Where(d => Provides(d, candidate, auto: false)).ToList().IndexOf(found);
                    return new Device(context, found.CreateAccelerator(context), candidate, at);
                }
            }
            string present = string.Join(", ", Present(context).Select(p => $"{p.Id} ({p.Name})"));
            throw new InvalidOperationException(
                $"Device '{requested}{(index is { } n ? $":{n}" : "")}' is not present on this machine. Present devices: {present}.");
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Kinds present on this machine, in the order "auto" prefers them (<c>cpu</c> and <c>ilgpu-cpu</c> always).</summary>
    public static IReadOnlyList<string> Available()
    {
        var present = List().Select(p => p.Kind).ToHashSet();
        return Kinds.Where(present.Contains).ToList();
    }

    /// <summary>
    /// Every device on this machine with the id <see cref="Create"/> takes (<c>cuda:0</c>, <c>cuda:1</c>,
    /// <c>opencl:0</c>, <c>cpu:0</c>, <c>ilgpu-cpu:0</c>) and its name, as <c>torch.cuda.device_count()</c> and
    /// <c>get_device_name(i)</c> tell.
    /// </summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        using var context = Context.Create(builder => builder.Cuda().OpenCL().CPU(CpuSimulator()));
        return Present(context).ToList();
    }

    /// <summary>Each ILGPU device as the kinds it provides (the CPU accelerator's memory serves both CPU kinds),
    /// numbered within each kind in ILGPU's order.</summary>
    private static IEnumerable<DeviceInfo> Present(Context context)
    {
        var counts = new Dictionary<string, int>();
        DeviceInfo Next(string kind, string name)
        {
            counts.TryGetValue(kind, out int i);
            counts[kind] = i + 1;
            return new DeviceInfo(kind, i, name);
        }
        foreach (var d in context.Devices)
        {
            if (d.AcceleratorType == AcceleratorType.CPU)
            {
                yield return Next("cpu", "SIMD");
                yield return Next("ilgpu-cpu", d.Name);
            }
            else
            {
                yield return Next(d.AcceleratorType == AcceleratorType.Cuda ? "cuda" : "opencl", d.Name);
            }
        }
    }

    /// <summary>
    /// Whether ILGPU device <paramref name="d"/> can back <paramref name="kind"/>; <c>"auto"</c> takes an OpenCL
    /// device only if it is a GPU (an OpenCL CPU driver is slower than the SIMD backend).
    /// </summary>
    private static bool Provides(ILGPU.Runtime.Device d, string kind, bool auto) => kind switch
    {
        "cuda" => d.AcceleratorType == AcceleratorType.Cuda,
        "opencl" => d.AcceleratorType == AcceleratorType.OpenCL &&
                    (!auto || (d is CLDevice cl && cl.DeviceType.HasFlag(CLDeviceType.CL_DEVICE_TYPE_GPU))),
        _ => d.AcceleratorType == AcceleratorType.CPU,
    };

    /// <summary>Waits until every kernel queued on this device has finished.</summary>
    /// <remarks>An index op that met an out-of-range index since the last synchronisation is reported here.</remarks>
    public void Synchronize()
    {
        Kernels.Synchronize();
        indexChecks?.ThrowIfFailed();
    }

    public override string ToString() => $"{Kind} ({Name})";

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Accelerator.Synchronize();
        indexChecks?.Dispose();
        Pool.Dispose();
        Accelerator.Dispose();
        context.Dispose();
    }

    internal bool IsDisposed => disposed;

    internal void ThrowIfDisposed()
    {
        if (disposed) throw new ObjectDisposedException(nameof(Device), $"The {Kind} device has been disposed.");
    }

    /// <remarks>
    /// ILGPU's CPU accelerator simulates GPU threads with OS threads and pays per group. Four threads (2 per
    /// warp, 2 warps) keep launches near 0.1 ms on a small machine; every kernel sizes itself from this.
    /// </remarks>
    private static CPUDevice CpuSimulator() => new(numThreadsPerWarp: 2, numWarpsPerMultiprocessor: 2,
        numMultiprocessors: 1);

}

/// <summary>A device present on this machine: its kind, its index among that kind's devices, its name.</summary>
public sealed record DeviceInfo(string Kind, int Index, string Name)
{
    /// <summary><c>kind:index</c>, what <see cref="Device.Create"/> takes.</summary>
    public string Id => $"{Kind}:{Index}";

    public override string ToString() => $"{Id} ({Name})";
}
