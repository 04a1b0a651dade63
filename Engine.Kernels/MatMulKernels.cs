using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>How a logical [rows, cols] operand is stored.</summary>
public interface IOperandLayout
{
    float Load(ArrayView<float> m, int row, int col, int rows, int cols);
}

/// <summary>Stored as itself, row-major [rows, cols]: element (r, c) at r·cols + c.</summary>
public struct AsStored : IOperandLayout
{
    public float Load(ArrayView<float> m, int row, int col, int rows, int cols) => m[row * cols + col];
}

/// <summary>Stored transposed, row-major [cols, rows]: element (r, c) at c·rows + r. No copy is made.</summary>
public struct AsTransposed : IOperandLayout
{
    public float Load(ArrayView<float> m, int row, int col, int rows, int cols) => m[col * rows + row];
}

/// <summary>Sizes of C[M, N] = op(A)[M, K] · op(B)[K, N], the tile edge, and whether C accumulates.</summary>
public readonly struct MatMulShape
{
    public MatMulShape(int m, int n, int k, int tile, bool accumulate)
    {
        M = m;
        N = n;
        K = k;
        Tile = tile;
        Accumulate = accumulate ? 1 : 0;
    }

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
    /// C[M, N] (+)= op(A)[M, K] · op(B)[K, N], row-major C; "+=" when <c>s.Accumulate</c> = 1 (how backward adds
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
        for (int block = Grid.IdxX; block < s.TileCount; block += Grid.DimX)
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
                c[i] = s.Accumulate != 0 ? c[i] + acc : acc;
            }
        }
    }

    /// <summary>C (+)= op(A)·op(B); see <see cref="Tiled{TA,TB}"/>.</summary>
    public static void MatMul<TA, TB>(this KernelContext k, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, int m, int n, int kDim, bool accumulate)
        where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout
    {
        var shape = new MatMulShape(m, n, kDim, k.MatMulTile, accumulate);
        int groups = Math.Min(shape.TileCount, k.MaxGroups * 4);
        var config = new KernelConfig(groups, shape.Tile * shape.Tile,
            SharedMemoryConfig.RequestDynamic<float>(2 * shape.Tile * shape.Tile));
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>(Tiled<TA, TB>)(config, a, b, c, shape);
    }
}
