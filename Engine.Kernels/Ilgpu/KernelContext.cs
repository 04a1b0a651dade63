using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// The launch plumbing for one accelerator: every kernel is compiled at most once per accelerator and its
/// delegate cached; launch shapes are sized from the accelerator rather than hard-coded.
/// </summary>
/// <remarks>
/// Every kernel in this project is explicitly grouped and walks its index space with a grid-stride loop. On a
/// GPU that is the usual pattern; on ILGPU's CPU accelerator (a simulator that pays per group, not per element)
/// it is the difference between ~1 ms and ~140 ms for 100k elements, because a single group then covers the
/// whole range.
/// </remarks>
public sealed class KernelContext
{
    private readonly Dictionary<System.Reflection.MethodInfo, Delegate> loaded = new();
    private readonly object gate = new();

    public KernelContext(Accelerator accelerator)
    {
        Accelerator = accelerator;
        GroupSize = LargestPowerOfTwoAtMost(Math.Min(accelerator.MaxNumThreadsPerGroup, 256));
        MaxGroups = accelerator.AcceleratorType == AcceleratorType.CPU
            ? Math.Max(1, accelerator.NumMultiprocessors)
            : Math.Max(1, accelerator.NumMultiprocessors) * 8;
        MatMulTile = Math.Min(MatMulKernels.MaxTile, (int)Math.Sqrt(accelerator.MaxNumThreadsPerGroup));
        MatMulVariant = accelerator.AcceleratorType == AcceleratorType.CPU ? MatMulVariant.Direct
            : accelerator.MaxNumThreadsPerGroup >= MatMulKernels.BlockThreads ? MatMulVariant.RegisterBlocked
            : MatMulVariant.Tiled;
        AttentionVariant = accelerator.AcceleratorType == AcceleratorType.CPU ? AttentionVariant.PerRow
            : AttentionVariant.Tiled;
    }

    /// <summary>
    /// The attention kernels launched: per-row on ILGPU's CPU accelerator (a group barrier there is an OS-thread
    /// rendezvous), shared-memory tiles elsewhere; settable so tests can check both on any device.
    /// </summary>
    public AttentionVariant AttentionVariant { get; set; }

    /// <summary>Launch <see cref="MatMulVariant.RegisterBlocked"/> even for products under 64×64 (tests of its edges).</summary>
    public bool ForceRegisterBlocked { get; set; }

    /// <summary>The matmul kernel launched; settable so tests can check both variants on any device.</summary>
    public MatMulVariant MatMulVariant { get; set; }

    public Accelerator Accelerator { get; }

    /// <summary>Threads per group for element-wise, row-wise and reduction kernels (a power of two).</summary>
    public int GroupSize { get; }

    /// <summary>Upper bound on groups in one grid-stride launch.</summary>
    public int MaxGroups { get; }

    /// <summary>Edge of the square shared-memory tile of the matmul kernels (tile² threads per group).</summary>
    public int MatMulTile { get; }

    /// <summary>Number of kernels compiled so far on this accelerator (each one exactly once).</summary>
    public int CompiledKernelCount
    {
        get { lock (gate) return loaded.Count; }
    }

    /// <summary>A grid-stride configuration covering <paramref name="work"/> independent items.</summary>
    public KernelConfig ForItems(long work)
    {
        long groups = Math.Clamp((work + GroupSize - 1) / GroupSize, 1, MaxGroups);
        return new KernelConfig((int)groups, GroupSize);
    }

    /// <summary>One group of <see cref="GroupSize"/> threads with one float of dynamic shared memory per thread.</summary>
    public KernelConfig SingleGroupWithScratch() =>
        new(1, GroupSize, SharedMemoryConfig.RequestDynamic<float>(GroupSize));

    private static int LargestPowerOfTwoAtMost(int n)
    {
        int p = 1;
        while (p * 2 <= n) p *= 2;
        return p;
    }

    /// <summary>
    /// Kernel launches through this context so far (each launcher fetches its kernel here once per launch): what a
    /// per-sample step costs on a GPU, where a launch is ~6 µs.
    /// </summary>
    public long Launches => Interlocked.Read(ref launches);

    private long launches;

    private TDelegate Load<TDelegate>(Delegate kernel, Func<TDelegate> compile) where TDelegate : Delegate
    {
        Interlocked.Increment(ref launches);
        lock (gate)
        {
            if (!loaded.TryGetValue(kernel.Method, out var compiled))
            {
                compiled = compile();
                loaded[kernel.Method] = compiled;
            }
            return (TDelegate)compiled;
        }
    }

    public Action<KernelConfig, T1, T2> Load<T1, T2>(Action<T1, T2> kernel)
        where T1 : struct where T2 : struct =>
        Load(kernel, () => Accelerator.LoadStreamKernel(kernel));

    public Action<KernelConfig, T1, T2, T3> Load<T1, T2, T3>(Action<T1, T2, T3> kernel)
        where T1 : struct where T2 : struct where T3 : struct =>
        Load(kernel, () => Accelerator.LoadStreamKernel(kernel));

    public Action<KernelConfig, T1, T2, T3, T4> Load<T1, T2, T3, T4>(Action<T1, T2, T3, T4> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        Load(kernel, () => Accelerator.LoadStreamKernel(kernel));

    public Action<KernelConfig, T1, T2, T3, T4, T5> Load<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        Load(kernel, () => Accelerator.LoadStreamKernel(kernel));

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6> Load<T1, T2, T3, T4, T5, T6>(
        Action<T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
        where T6 : struct =>
        Load(kernel, () => Accelerator.LoadStreamKernel(kernel));

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7> Load<T1, T2, T3, T4, T5, T6, T7>(
        Action<T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
        where T6 : struct where T7 : struct =>
        Load(kernel, () => Accelerator.LoadStreamKernel(kernel));

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8> Load<T1, T2, T3, T4, T5, T6, T7, T8>(
        Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct
        where T6 : struct where T7 : struct where T8 : struct =>
        Load(kernel, () => Accelerator.LoadStreamKernel(kernel));
}
