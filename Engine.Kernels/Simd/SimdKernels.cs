using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Simd;

/// <summary>
/// The SIMD backend of the seam: every primitive as a hand-written loop over host memory with
/// <see cref="IFloatVector{TSelf}"/> registers (512-bit where AVX-512 is accelerated, 256-bit otherwise), run on the
/// calling thread, or split over <see cref="WorkerPool"/> when long enough to pay for it. Nothing is queued: each
/// call has finished when it returns, so <see cref="Synchronize"/> has nothing to wait for.
/// </summary>
/// <remarks>
/// Buffers are views of ILGPU CPU-accelerator allocations (plain host memory), read through their addresses; no
/// ILGPU kernel is ever launched. Each element-wise primitive runs its operator's vector form
/// (<see cref="IUnaryOp"/>, <see cref="IBinaryOp"/>, <see cref="IPairTerm"/>), the same math as the ILGPU kernel's
/// scalar form; the file for each family states where its math lives.
/// </remarks>
public sealed unsafe partial class SimdKernels : IKernels
{
    public SimdKernels(WorkerPool pool) => Pool = pool;

    /// <summary>The threads the large kernels split over.</summary>
    public WorkerPool Pool { get; }

    public string Description => $"SIMD {(Lanes.Wide ? "Vector512" : "Vector256")}, {Pool.Threads} threads";

    public void Synchronize()
    {
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* Ptr(ArrayView<float> view) => (float*)view.LoadEffectiveAddressAsPtr();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int* Ptr(ArrayView<int> view) => (int*)view.LoadEffectiveAddressAsPtr();

    public void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> target) where T : unmanaged
    {
        if (source.Length == 0) return;
        if (source.Length > target.Length)
            throw new ArgumentException($"upload: {source.Length} elements into a buffer of {target.Length}.");
        source.CopyTo(new Span<T>((void*)target.LoadEffectiveAddressAsPtr(), source.Length));
    }

    public void Download<T>(ArrayView<T> source, Span<T> target) where T : unmanaged
    {
        if (target.Length == 0) return;
        if (target.Length > source.Length)
            throw new ArgumentException($"download: {target.Length} elements from a buffer of {source.Length}.");
        new ReadOnlySpan<T>((void*)source.LoadEffectiveAddressAsPtr(), target.Length).CopyTo(target);
    }

    public void Copy(ArrayView<float> source, ArrayView<float> target)
    {
        if (source.Length == 0) return;
        if (source.Length != target.Length)
            throw new ArgumentException($"copy: {source.Length} elements into a buffer of {target.Length}.");
        Buffer.MemoryCopy(Ptr(source), Ptr(target), target.Length * sizeof(float), source.Length * sizeof(float));
    }

    public void MatMul<TA, TB>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k,
        bool accumulate, float alpha = 1f) where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        if ((long)m * n == 0) return;
        Gemm.Multiply<TA, TB>(k == 0 ? null : Ptr(a), k == 0 ? null : Ptr(b), Ptr(c), m, n, k, accumulate, alpha, Pool);
    }

    public void BatchedMatMul<TA, TB>(ArrayView<float> a, StridedLayout itemsA, ArrayView<float> b,
        StridedLayout itemsB, ArrayView<float> c, int m, int n, int k, bool accumulate)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        int items = itemsA.Count;
        if ((long)m * n == 0 || items == 0) return;
        var work = new BatchedProducts<TA, TB>(k == 0 ? null : Ptr(a), itemsA, k == 0 ? null : Ptr(b), itemsB, Ptr(c),
            m, n, k, accumulate);
        // Enough items for every thread: each runs whole products (no hand-off inside one); otherwise each product
        // splits over the pool as a single one does.
        if (items >= Pool.Threads && Pool.Threads > 1 && (long)m * n * k * items >= Gemm.ParallelThreshold)
            Pool.Run(work, Pool.Threads);
        else
            for (int i = 0; i < items; i++) work.Item(i, Pool);
    }

    /// <summary>A batch of products, split by items over the pool's threads (each product on one thread).</summary>
    private sealed class BatchedProducts<TA, TB>(float* a, StridedLayout itemsA, float* b, StridedLayout itemsB,
        float* c, int m, int n, int k, bool accumulate) : IParallelWork
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        private static readonly WorkerPool OneThread = new(1);

        public void Item(int i, WorkerPool pool) =>
            Gemm.Multiply<TA, TB>(a == null ? null : a + itemsA.Map(i), b == null ? null : b + itemsB.Map(i),
                c + (long)i * m * n, m, n, k, accumulate, 1f, pool);

        public void Execute(int part, int parts)
        {
            int items = itemsA.Count;
            int from = (int)((long)items * part / parts), to = (int)((long)items * (part + 1) / parts);
            for (int i = from; i < to; i++) Item(i, OneThread);
        }
    }
}
