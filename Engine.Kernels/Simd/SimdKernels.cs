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
}
