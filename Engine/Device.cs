using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Engine;

/// <summary>
/// One ILGPU context and accelerator: where tensors live and kernels run. Kernels are compiled once per
/// device and cached; device buffers come from a pool, so a training step neither allocates nor frees device
/// memory once shapes repeat. A device is driven from one thread at a time (like a CUDA stream).
/// </summary>
public sealed class Device : IDisposable
{
    /// <summary>Environment variable that overrides <c>"auto"</c>: <c>cuda</c>, <c>opencl</c> or <c>cpu</c>.</summary>
    public const string EnvironmentVariable = "ENGINE_DEVICE";

    private static readonly string[] Kinds = { "cuda", "opencl", "cpu" };

    private readonly Context context;
    private bool disposed;

    private Device(Context context, Accelerator accelerator, string kind)
    {
        this.context = context;
        Accelerator = accelerator;
        Kind = kind;
        Kernels = new KernelContext(accelerator);
        Pool = new BufferPool(accelerator);
    }

    /// <summary><c>cuda</c>, <c>opencl</c> or <c>cpu</c>.</summary>
    public string Kind { get; }

    /// <summary>The accelerator's own name (e.g. "NVIDIA H100 80GB HBM3", "CPUAccelerator").</summary>
    public string Name => Accelerator.Name;

    public Accelerator Accelerator { get; }

    /// <summary>Device-memory figures of this device's buffer pool.</summary>
    public MemoryStats Memory => Pool.Stats;

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

    internal KernelContext Kernels { get; }

    internal BufferPool Pool { get; }

    /// <summary>
    /// Opens a device. <paramref name="kind"/> is <c>"auto"</c> (the <c>ENGINE_DEVICE</c> environment variable if
    /// set, else the first present of CUDA, OpenCL, CPU), or one of <c>"cuda"</c>, <c>"opencl"</c>, <c>"cpu"</c>.
    /// </summary>
    /// <exception cref="ArgumentException">an unknown kind.</exception>
    /// <exception cref="InvalidOperationException">the named kind is not present; the message lists those that are.</exception>
    public static Device Create(string kind = "auto")
    {
        string requested = (kind ?? "auto").Trim().ToLowerInvariant();
        if (requested == "auto")
        {
            string? fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (!string.IsNullOrWhiteSpace(fromEnvironment)) requested = fromEnvironment.Trim().ToLowerInvariant();
        }
        if (requested != "auto" && !Kinds.Contains(requested))
            throw new ArgumentException(
                $"Unknown device kind '{kind}'. Use one of: auto, {string.Join(", ", Kinds)}.", nameof(kind));

        var context = Context.Create(builder => builder
            .Cuda()
            .OpenCL()
            .CPU(CpuSimulator())
            .EnableAlgorithms());
        try
        {
            var candidates = requested == "auto" ? Kinds : new[] { requested };
            foreach (string candidate in candidates)
            {
                var found = context.Devices.FirstOrDefault(d => KindOf(d.AcceleratorType) == candidate);
                if (found != null)
                    return new Device(context, found.CreateAccelerator(context), candidate);
            }
            string present = string.Join(", ", context.Devices.Select(d => $"{KindOf(d.AcceleratorType)} ({d.Name})"));
            throw new InvalidOperationException(
                $"Device '{requested}' is not present on this machine. Present devices: {present}.");
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Kinds present on this machine, in the order "auto" prefers them.</summary>
    public static IReadOnlyList<string> Available()
    {
        using var context = Context.Create(builder => builder.Cuda().OpenCL().CPU(CpuSimulator()));
        return Kinds.Where(k => context.Devices.Any(d => KindOf(d.AcceleratorType) == k)).ToList();
    }

    /// <summary>Waits until every kernel queued on this device has finished.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    public override string ToString() => $"{Kind} ({Name})";

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Accelerator.Synchronize();
        Pool.Dispose();
        Accelerator.Dispose();
        context.Dispose();
    }

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

    private static string KindOf(AcceleratorType type) => type switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        _ => "cpu",
    };
}
