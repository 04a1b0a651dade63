using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels.Simd;

/// <summary>
/// Loop plumbing shared by the SIMD kernels: which register width runs, the partial-register tail (every element,
/// tail included, goes through the operator's vector form, so a result does not depend on where it sits), and the
/// split of long loops over the worker pool.
/// </summary>
public static unsafe class Lanes
{
    /// <summary>
    /// How every loop of this backend is compiled: fully optimised at once (tiered compilation's first tier and its
    /// profile-guided rewrites made a GEMV 6× slower), and never inlined into a caller, where the JIT's inlining budget
    /// runs out and the vector operators stop being inlined (a step 3× slower after another workload had run).
    /// </summary>
    public const MethodImplOptions Hot = MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining;

    /// <summary>Up to this many lanes per register (AVX-512: 16 floats).</summary>
    public const int MaxWidth = 16;

    /// <summary>Element-wise loops shorter than this stay on the calling thread.</summary>
    public const int ParallelElements = 1 << 20;

    /// <summary>
    /// Out-of-place element-wise outputs of at least this many floats (16 MB) are written with non-temporal stores.
    /// A normal store first reads the line it writes (read-for-ownership), so a copy moves three bytes for every two it
    /// needs; a streaming store does not, and an output this large would not be in cache for the next op anyway. On
    /// this 2-core EPYC a 64 MB copy went from 39–45 GB/s to 54–95 GB/s (2 threads; glibc's memcpy, which PyTorch's
    /// copy uses, switches to these stores at a similar size). Smaller outputs keep normal stores: the next op reads
    /// them from cache.
    /// </summary>
    public const int StreamingElements = 4 << 20;

    /// <summary>
    /// Stores the vectors <paramref name="at"/> produces for [from, to) into <paramref name="y"/>:
    /// masked normal stores up to the first register-aligned address, non-temporal stores from there, the tail masked;
    /// then a store fence, so the streamed data is visible before the caller signals that the range is done.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StreamRange<TV, TProduce>(float* y, int from, int to, TProduce at)
        where TV : struct, IFloatVector<TV> where TProduce : struct, IVectorAt<TV>
    {
        int w = TV.Count, i = from;
        int misaligned = (int)((nuint)(y + i) % (nuint)(w * sizeof(float))) / sizeof(float);
        if (misaligned != 0)
        {
            int head = Math.Min(w - misaligned, to - i);
            StoreTail(at.At(i, head), y + i, head);
            i += head;
        }
        for (; i + w <= to; i += w) TV.StoreNonTemporal(at.At(i, w), y + i);
        if (i < to) StoreTail(at.At(i, to - i), y + i, to - i);
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported) System.Runtime.Intrinsics.X86.Sse.StoreFence();
    }

    private static readonly float* Ones = AllocateOnes();

    /// <summary>
    /// True: 512-bit registers (<see cref="F512"/>); false: 256-bit (<see cref="F256"/>). Defaults to whether AVX-512
    /// is accelerated; settable so the tests can run the narrow path on a wide machine.
    /// </summary>
    public static bool Wide { get; set; } = Vector512.IsHardwareAccelerated;

    private static float* AllocateOnes()
    {
        var p = (float*)NativeMemory.AlignedAlloc(MaxWidth * sizeof(float), 64);
        for (int i = 0; i < MaxWidth; i++) p[i] = 1f;
        return p;
    }

    /// <summary>
    /// The first <paramref name="count"/> floats at <paramref name="source"/>, the other lanes = <paramref name="pad"/>
    /// (a plain load when <paramref name="count"/> fills the register).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LoadTail<TV>(float* source, int count, float pad = 0f) where TV : struct, IFloatVector<TV> =>
        count >= TV.Count ? TV.Load(source) : LoadPartial<TV>(source, count, pad);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static TV LoadPartial<TV>(float* source, int count, float pad) where TV : struct, IFloatVector<TV>
    {
        float* t = stackalloc float[MaxWidth];
        for (int i = 0; i < MaxWidth; i++) t[i] = i < count ? source[i] : pad;
        return TV.Load(t);
    }

    /// <summary>Stores the first <paramref name="count"/> lanes of <paramref name="value"/> (all of them: a plain store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTail<TV>(TV value, float* target, int count) where TV : struct, IFloatVector<TV>
    {
        if (count >= TV.Count) TV.Store(value, target);
        else StorePartial(value, target, count);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StorePartial<TV>(TV value, float* target, int count) where TV : struct, IFloatVector<TV>
    {
        float* t = stackalloc float[MaxWidth];
        TV.Store(value, t);
        for (int i = 0; i < count; i++) target[i] = t[i];
    }

    /// <summary>A mask of the first <paramref name="count"/> lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV FirstLanes<TV>(int count) where TV : struct, IFloatVector<TV> =>
        TV.GreaterThan(LoadTail<TV>(Ones, count), TV.Broadcast(0f));

    /// <summary>Runs <paramref name="body"/> over [0, n): on the caller when short, else in bands over the pool.</summary>
    public static void For<TBody>(int n, TBody body, WorkerPool pool) where TBody : struct, IRangeBody =>
        For(n, body, pool, ParallelElements);

    /// <summary>
    /// Optimizer updates shorter than this stay on the calling thread. Lower than <see cref="ParallelElements"/>: an
    /// update streams two to five arrays, so a 200 K-parameter step (the main MLP's) moves 2.4–4 MB, which one core
    /// takes tens of µs over while the other waits. Settable so a benchmark can compare thresholds in one run.
    /// </summary>
    public static int UpdateParallelElements { get; set; } = 1 << 16;

    /// <summary><see cref="For{TBody}(int, TBody, WorkerPool)"/> with its own threshold for going parallel.</summary>
    public static void For<TBody>(int n, TBody body, WorkerPool pool, int parallelFrom) where TBody : struct, IRangeBody
    {
        if (n <= 0) return;
        if (n < parallelFrom || pool.Threads <= 1)
        {
            body.Run(0, n);
            return;
        }
        pool.Run(new RangeWork<TBody>(body, n), pool.Threads);
    }

    /// <summary>
    /// Runs <paramref name="body"/> over the rows [0, <paramref name="rows"/>) of <paramref name="cols"/> elements each, cut
    /// into one contiguous band of rows per worker when there are at least <see cref="ParallelElements"/> elements in all
    /// (a row-wise softmax or norm over a large tensor), else on the calling thread.
    /// </summary>
    public static void ForRows<TBody>(int rows, int cols, TBody body, WorkerPool pool) where TBody : struct, IRangeBody
    {
        if (rows <= 0) return;
        if ((long)rows * cols < ParallelElements || pool.Threads <= 1 || rows == 1)
        {
            body.Run(0, rows);
            return;
        }
        pool.Run(new RowWork<TBody>(body, rows), Math.Min(pool.Threads, rows));
    }

    private sealed class RowWork<TBody>(TBody body, int rows) : IParallelWork where TBody : struct, IRangeBody
    {
        public void Execute(int part, int parts)
        {
            int from = (int)((long)rows * part / parts), to = (int)((long)rows * (part + 1) / parts);
            if (from < to) body.Run(from, to);
        }
    }

    /// <summary>Whether an out-of-place result of <paramref name="elements"/> floats is streamed past the caches
    /// (<see cref="StreamingElements"/> says why).</summary>
    public static bool Streams(long elements, float* x, float* y) => elements >= StreamingElements && x != y;

    private sealed class RangeWork<TBody>(TBody body, int n) : IParallelWork where TBody : struct, IRangeBody
    {
        public void Execute(int part, int parts)
        {
            // Bands start on 64-element boundaries so only the last one has a partial register.
            int units = (n + 63) / 64;
            int from = (int)((long)units * part / parts) * 64, to = Math.Min(n, (int)((long)units * (part + 1) / parts) * 64);
            if (from < to) body.Run(from, to);
        }
    }
}

/// <summary>A loop body over an index range [from, to) (a struct, so the JIT specialises the loop for it).</summary>
public interface IRangeBody
{
    void Run(int from, int to);
}

/// <summary>The vector of an element-wise result at [i, i + count) (count ≤ the register's lanes; shorter only at the
/// ends of a range, where the inputs are loaded masked).</summary>
public interface IVectorAt<TV> where TV : struct, IFloatVector<TV>
{
    TV At(int i, int count);
}
