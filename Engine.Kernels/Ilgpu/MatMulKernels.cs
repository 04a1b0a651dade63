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

/// <summary>
/// A batch of products C_i = op(A_i)·op(B_i): item i reads A_i from offset <c>A.Map(i)</c> and B_i from <c>B.Map(i)</c>
/// (zero strides repeat a broadcast operand) and writes C_i at i·M·N. One product is a batch of one.
/// </summary>
public struct MatMulBatch
{
    public int Items;
    public StridedLayout A;
    public StridedLayout B;

    public static MatMulBatch Single => new()
    {
        Items = 1,
        A = StridedLayout.Create(ReadOnlySpan<int>.Empty, ReadOnlySpan<int>.Empty, 0),
        B = StridedLayout.Create(ReadOnlySpan<int>.Empty, ReadOnlySpan<int>.Empty, 0),
    };
}

/// <summary>
/// Matrix products; the variants backward needs (A·Bᵀ, Aᵀ·B) read transposed operands in place. Each operand is read
/// through its <see cref="IOperandLayout"/> instance (a kernel argument): a stored or transposed matrix, or a view that
/// computes its elements from another tensor (a convolution's im2col matrix, <see cref="ImageColumns"/>).
/// </summary>
public static class MatMulKernels
{
    /// <summary>An item's operand: the buffer from the item's offset on (an operand view may read past M·K elements).</summary>
    private static ArrayView<float> Item(ArrayView<float> batch, int offset) => batch.SubView(offset, batch.Length - offset);

    /// <summary>
    /// C[M, N] (+)= α·op(A)[M, K] · op(B)[K, N], row-major C; "+=" when <c>s.Accumulate</c> = 1 (how backward adds
    /// into an existing gradient), "=" otherwise.
    /// Thread mapping: a group of Tile² threads owns one Tile×Tile block of C (thread (ty, tx) one element) and
    /// walks K in steps of Tile, staging an A tile and a B tile in shared memory between two barriers. Groups
    /// stride over the blocks of C. Threads outside M, N or K load zeros instead of returning, so every thread
    /// reaches every barrier and edge tiles need no special case.
    /// </summary>
    public static void Tiled<TA, TB>(ArrayView<float> batchA, ArrayView<float> batchB, ArrayView<float> batchC,
        MatMulShape s, MatMulBatch batch, TA la, TB lb)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        // Static, sized for the largest tile: ILGPU 1.5.3's OpenCL backend gives a dynamic allocation the wrong size when
        // both operand views carry fields (the A and B tiles then overlap and the product races).
        var shared = SharedMemory.Allocate<float>(2 * MaxTile * MaxTile);
        int tile = s.Tile;
        var tileA = shared.SubView(0, tile * tile);
        var tileB = shared.SubView(tile * tile, tile * tile);
        int tx = Group.IdxX % tile, ty = Group.IdxX / tile;
        int perItem = s.TileCount;
        for (int global = Grid.IdxX, step = Grid.DimX, end = perItem * batch.Items; global < end; global += step)
        {
            int item = global / perItem, block = global % perItem;
            var a = Item(batchA, batch.A.Map(item));
            var b = Item(batchB, batch.B.Map(item));
            var c = batchC.SubView(item * s.M * s.N, s.M * s.N);
            int row = block / s.TilesN * tile + ty;
            int col = block % s.TilesN * tile + tx;
            float acc = 0f;
            for (int k0 = 0; k0 < s.K; k0 += tile)
            {
                tileA[ty * tile + tx] = row < s.M && k0 + tx < s.K
                    ? la.Load(a, row, k0 + tx, s.M, s.K) : 0f;
                tileB[ty * tile + tx] = k0 + ty < s.K && col < s.N
                    ? lb.Load(b, k0 + ty, col, s.K, s.N) : 0f;
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
    public static void Direct<TA, TB>(ArrayView<float> batchA, ArrayView<float> batchB, ArrayView<float> batchC,
        MatMulShape s, MatMulBatch batch, TA la, TB lb)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        int perItem = s.M * s.N;
        for (int global = GridStride.Start, step = GridStride.Step, end = perItem * batch.Items; global < end; global += step)
        {
            int item = global / perItem, i = global % perItem;
            var a = Item(batchA, batch.A.Map(item));
            var b = Item(batchB, batch.B.Map(item));
            var c = batchC.SubView(item * perItem, perItem);
            int row = i / s.N, col = i % s.N;
            float acc = 0f;
            for (int p = 0; p < s.K; p++)
                acc += la.Load(a, row, p, s.M, s.K) * lb.Load(b, p, col, s.K, s.N);
            float v = s.Alpha * acc;
            c[i] = s.Accumulate != 0 ? c[i] + v : v;
        }
    }

    /// <summary>Largest edge of <see cref="Tiled{TA,TB}"/>'s tiles (16×16 threads a group).</summary>
    public const int MaxTile = 16;

    /// <summary>Edge of the block of C one group of <see cref="RegisterBlocked{TA,TB}"/> owns.</summary>
    public const int BlockTile = 128;

    /// <summary>The K-step: columns of A (rows of B) staged in shared memory at a time.</summary>
    public const int BlockK = 8;

    /// <summary>Threads per group of <see cref="RegisterBlocked{TA,TB}"/>: 16 × 16, each owning 8 × 8 outputs.</summary>
    public const int BlockThreads = 256;

    private const int PerThread = 8, TileFloats = BlockK * BlockTile;

    /// <summary>
    /// C[M, N] (+)= α·op(A)[M, K] · op(B)[K, N], register-blocked: a group of 256 threads owns a 128×128 block of C,
    /// thread (ty, tx) = (t / 16, t % 16) the 8×8 block at rows 8·ty…, columns 8·tx… in 64 registers
    /// (<see cref="Block8x8"/>). Each K-step of 8 stages A's 128×8 slice transposed (k-major) and B's 8×128 slice in
    /// shared memory, each thread loading 4 elements of each (zeros outside M, N, K, so every thread reaches every
    /// barrier), reading the operand along its stored rows so neighbouring threads read neighbouring addresses. Then for
    /// each of the 8 k: two 16-byte shared loads of A's column, two of B's row, 64 FMAs: 16 FMAs per shared load, where
    /// <see cref="Tiled{TA,TB}"/> does one FMA per two. Groups stride over the blocks of C.
    /// </summary>
    public static void RegisterBlocked<TA, TB>(ArrayView<float> batchA, ArrayView<float> batchB, ArrayView<float> batchC,
        MatMulShape s, MatMulBatch batch, TA la, TB lb)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        var tileA4 = SharedMemory.Allocate<Float4>(TileFloats / 4); // A's slice, [k][m]
        var tileB4 = SharedMemory.Allocate<Float4>(TileFloats / 4); // B's slice, [k][n]
        var tileA = tileA4.Cast<float>();
        var tileB = tileB4.Cast<float>();
        var tileA8 = tileA4.Cast<Float8>(); // a thread's 8 rows of A (8 columns of B) at one k: two 16-byte loads
        var tileB8 = tileB4.Cast<Float8>();
        int t = Group.IdxX, tx = t % 16, ty = t / 16;
        int blocksN = (s.N + BlockTile - 1) / BlockTile, blocks = (s.M + BlockTile - 1) / BlockTile * blocksN;
        bool aTransposed = default(TA).IsTransposed, bTransposed = default(TB).IsTransposed;
        for (int global = Grid.IdxX, step = Grid.DimX, end = blocks * batch.Items; global < end; global += step)
        {
            int item = global / blocks, block = global % blocks;
            var a = Item(batchA, batch.A.Map(item));
            var b = Item(batchB, batch.B.Map(item));
            var c = batchC.SubView(item * s.M * s.N, s.M * s.N);
            int m0 = block / blocksN * BlockTile, n0 = block % blocksN * BlockTile;
            var acc = default(Block8x8);
            for (int k0 = 0; k0 < s.K; k0 += BlockK)
            {
                for (int i = 0; i < TileFloats / BlockThreads; i++)
                {
                    int e = t + i * BlockThreads;
                    int ka = aTransposed ? e / BlockTile : e % BlockK, ma = aTransposed ? e % BlockTile : e / BlockK;
                    int row = m0 + ma, kA = k0 + ka;
                    tileA[ka * BlockTile + ma] = row < s.M && kA < s.K ? la.Load(a, row, kA, s.M, s.K) : 0f;
                    int kb = bTransposed ? e % BlockK : e / BlockTile, nb = bTransposed ? e / BlockK : e % BlockTile;
                    int col = n0 + nb, kB = k0 + kb;
                    tileB[kb * BlockTile + nb] = kB < s.K && col < s.N ? lb.Load(b, kB, col, s.K, s.N) : 0f;
                }
                Group.Barrier();
                // Two k per trip: the loop's own instructions (counter, branch, addresses) are paid once per 128 FMAs.
                for (int kk = 0; kk < BlockK; kk += 2)
                {
                    var a0 = tileA8[kk * (BlockTile / 8) + ty];
                    var b0 = tileB8[kk * (BlockTile / 8) + tx];
                    acc.Add(a0.Lo, a0.Hi, b0.Lo, b0.Hi);
                    var a1 = tileA8[(kk + 1) * (BlockTile / 8) + ty];
                    var b1 = tileB8[(kk + 1) * (BlockTile / 8) + tx];
                    acc.Add(a1.Lo, a1.Hi, b1.Lo, b1.Hi);
                }
                Group.Barrier();
            }
            acc.Store(c, m0 + ty * PerThread, n0 + tx * PerThread, s);
        }
    }

    /// <summary>
    /// C (+)= op(A)·op(B) with the variant <see cref="KernelContext.MatMulVariant"/> selects: on GPUs the
    /// <see cref="RegisterBlocked{TA,TB}"/> kernel for products of at least 64×64 (a 128×128 block would mostly idle on
    /// smaller ones) and the shared-memory <see cref="Tiled{TA,TB}"/> kernel otherwise; <see cref="Direct{TA,TB}"/> on
    /// the CPU accelerator.
    /// </summary>
    public static void MatMul<TA, TB>(this KernelContext k, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, int m, int n, int kDim, bool accumulate, float alpha = 1f)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout =>
        k.BatchedMatMul<TA, TB>(a, b, c, m, n, kDim, accumulate, alpha, MatMulBatch.Single);

    /// <summary>
    /// The batch C_i (+)= α·op(A_i)·op(B_i) in one launch: the batch item is the outer part of the grid's block index,
    /// so small products of a large batch fill the device as one large product does.
    /// </summary>
    public static void BatchedMatMul<TA, TB>(this KernelContext k, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, int m, int n, int kDim, bool accumulate, float alpha, MatMulBatch batch)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout =>
        k.BatchedMatMul(a, default(TA), b, default(TB), c, m, n, kDim, accumulate, alpha, batch);

    /// <summary>The batch C_i (+)= α·A_i·B_i with operands read through <paramref name="la"/> and <paramref name="lb"/>.</summary>
    public static void BatchedMatMul<TA, TB>(this KernelContext k, ArrayView<float> a, TA la, ArrayView<float> b,
        TB lb, ArrayView<float> c, int m, int n, int kDim, bool accumulate, float alpha, MatMulBatch batch)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        var shape = new MatMulShape(m, n, kDim, k.MatMulTile, accumulate, alpha);
        var variant = k.MatMulVariant;
        if (variant == MatMulVariant.RegisterBlocked && (m < 64 || n < 64) && !k.ForceRegisterBlocked) variant = MatMulVariant.Tiled;
        long items = batch.Items;
        if (variant == MatMulVariant.RegisterBlocked)
        {
            long blocks = (m + BlockTile - 1) / BlockTile * (long)((n + BlockTile - 1) / BlockTile) * items;
            k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, MatMulBatch, TA, TB>(RegisterBlocked<TA, TB>)(
                new KernelConfig((int)Math.Min(blocks, k.MaxGroups * 4), BlockThreads), a, b, c, shape, batch, la, lb);
            return;
        }
        if (variant == MatMulVariant.Direct)
        {
            k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, MatMulBatch, TA, TB>(Direct<TA, TB>)(
                k.ForItems((long)m * n * items), a, b, c, shape, batch, la, lb);
            return;
        }
        int groups = (int)Math.Min(shape.TileCount * items, k.MaxGroups * 4);
        var config = new KernelConfig(groups, shape.Tile * shape.Tile);
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, MatMulBatch, TA, TB>(Tiled<TA, TB>)(
            config, a, b, c, shape, batch, la, lb);
    }
}

/// <summary>Which matmul kernel a <see cref="KernelContext"/> launches.</summary>
public enum MatMulVariant
{
    /// <summary>Shared-memory tiles with group barriers (GPUs).</summary>
    Tiled,

    /// <summary>One dot product per thread, no barriers (ILGPU's CPU accelerator).</summary>
    Direct,

    /// <summary>128×128 blocks, 8×8 outputs per thread in registers (GPUs; products of at least 64×64).</summary>
    RegisterBlocked,
}
