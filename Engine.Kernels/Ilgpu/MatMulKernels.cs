using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Sizes of C[M, N] = α·op(A)[M, K] · op(B)[K, N], the tile edge, α, and whether C accumulates.</summary>
public readonly struct MatMulShape
{
    public MatMulShape(int m, int n, int k, int tile, bool accumulate, float alpha = 1f)
    {
        M = m;
        N = n;
        K = k;
        Tile = tile;
        Accumulate = accumulate ? 1 : 0;
        Alpha = alpha;
    }

    public float Alpha { get; }

    public int M { get; }
    public int N { get; }
    public int K { get; }
    public int Tile { get; }
    public int Accumulate { get; }

    public int TilesN => (N + Tile - 1) / Tile;
    public int TileCount => (M + Tile - 1) / Tile * TilesN;
}

/// <summary>Matrix products; the variants backward needs (A·Bᵀ, Aᵀ·B) read transposed operands in place.</summary>
public static class MatMulKernels
{
    /// <summary>
    /// C[M, N] (+)= α·op(A)[M, K] · op(B)[K, N], row-major C; "+=" when <c>s.Accumulate</c> = 1 (how backward adds
    /// into an existing gradient), "=" otherwise.
    /// Thread mapping: a group of Tile² threads owns one Tile×Tile block of C (thread (ty, tx) one element) and
    /// walks K in steps of Tile, staging an A tile and a B tile in shared memory between two barriers. Groups
    /// stride over the blocks of C. Threads outside M, N or K load zeros instead of returning, so every thread
    /// reaches every barrier and edge tiles need no special case.
    /// </summary>
    public static void Tiled<TA, TB>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatMulShape s)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        var shared = SharedMemory.GetDynamic<float>();
        int tile = s.Tile;
        var tileA = shared.SubView(0, tile * tile);
        var tileB = shared.SubView(tile * tile, tile * tile);
        int tx = Group.IdxX % tile, ty = Group.IdxX / tile;
        for (int block = Grid.IdxX, step = Grid.DimX, end = s.TileCount; block < end; block += step)
        {
            int row = block / s.TilesN * tile + ty;
            int col = block % s.TilesN * tile + tx;
            float acc = 0f;
            for (int k0 = 0; k0 < s.K; k0 += tile)
            {
                tileA[ty * tile + tx] = row < s.M && k0 + tx < s.K
                    ? default(TA).Load(a, row, k0 + tx, s.M, s.K) : 0f;
                tileB[ty * tile + tx] = k0 + ty < s.K && col < s.N
                    ? default(TB).Load(b, k0 + ty, col, s.K, s.N) : 0f;
                Group.Barrier();
                for (int kk = 0; kk < tile; kk++) acc += tileA[ty * tile + kk] * tileB[kk * tile + tx];
                Group.Barrier();
            }
            if (row < s.M && col < s.N)
            {
                int i = row * s.N + col;
                float v = s.Alpha * acc;
                c[i] = s.Accumulate != 0 ? c[i] + v : v;
            }
        }
    }

    /// <summary>
    /// C[M, N] (+)= α·op(A)[M, K] · op(B)[K, N] without shared memory: one thread per element of C (grid-stride),
    /// each a plain dot product over K. The variant for ILGPU's CPU accelerator, where the CPU's caches do
    /// what shared memory does on a GPU and every group barrier is an OS-thread rendezvous (the tiled kernel
    /// spends most of its time there).
    /// </summary>
    public static void Direct<TA, TB>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatMulShape s)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = s.M * s.N; i < end; i += step)
        {
            int row = i / s.N, col = i % s.N;
            float acc = 0f;
            for (int p = 0; p < s.K; p++)
                acc += default(TA).Load(a, row, p, s.M, s.K) * default(TB).Load(b, p, col, s.K, s.N);
            float v = s.Alpha * acc;
            c[i] = s.Accumulate != 0 ? c[i] + v : v;
        }
    }

    /// <summary>
    /// C (+)= op(A)·op(B) with the variant <see cref="KernelContext.MatMulVariant"/> selects: the shared-memory
    /// <see cref="Tiled{TA,TB}"/> kernel on GPUs, <see cref="Direct{TA,TB}"/> on the CPU accelerator.
    /// </summary>
    public static void MatMul<TA, TB>(this KernelContext k, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, int m, int n, int kDim, bool accumulate, float alpha = 1f)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        var shape = new MatMulShape(m, n, kDim, k.MatMulTile, accumulate, alpha);
        if (k.MatMulVariant == MatMulVariant.Direct)
        {
            k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>(Direct<TA, TB>)(
                k.ForItems((long)m * n), a, b, c, shape);
            return;
        }
        int groups = Math.Min(shape.TileCount, k.MaxGroups * 4);
        var config = new KernelConfig(groups, shape.Tile * shape.Tile,
            SharedMemoryConfig.RequestDynamic<float>(2 * shape.Tile * shape.Tile));
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>(Tiled<TA, TB>)(config, a, b, c, shape);
    }
}

/// <summary>Which matmul kernel a <see cref="KernelContext"/> launches.</summary>
public enum MatMulVariant
{
    /// <summary>Shared-memory tiles with group barriers (GPUs).</summary>
    Tiled,

    /// <summary>One dot product per thread, no barriers (ILGPU's CPU accelerator).</summary>
    Direct,
}
