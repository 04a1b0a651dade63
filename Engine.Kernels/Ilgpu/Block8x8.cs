using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Kernels;

/// <summary>Four floats read from or written to memory as one 16-byte access (LDS.128 from shared memory on NVIDIA GPUs).</summary>
public struct Float4
{
    public float X, Y, Z, W;
}

/// <summary>Eight floats as two <see cref="Float4"/>s (a thread's 8 rows of A or 8 columns of B at one k).</summary>
public struct Float8
{
    public Float4 Lo, Hi;
}

/// <summary>
/// The 8×8 block of C one thread of <see cref="MatMulKernels.RegisterBlocked{TA, TB}"/> accumulates: 64 fields
/// updated through an inlined method, which ILGPU keeps in registers (an array would live in local memory).
/// </summary>
public struct Block8x8
{
    public float C00, C01, C02, C03, C04, C05, C06, C07;
    public float C10, C11, C12, C13, C14, C15, C16, C17;
    public float C20, C21, C22, C23, C24, C25, C26, C27;
    public float C30, C31, C32, C33, C34, C35, C36, C37;
    public float C40, C41, C42, C43, C44, C45, C46, C47;
    public float C50, C51, C52, C53, C54, C55, C56, C57;
    public float C60, C61, C62, C63, C64, C65, C66, C67;
    public float C70, C71, C72, C73, C74, C75, C76, C77;

    /// <summary>C[i, j] += a[i]·b[j] for the 8 values of A's column (a0, a1) and B's row (b0, b1): 64 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(Float4 a0, Float4 a1, Float4 b0, Float4 b1)
    {
        C00 += a0.X * b0.X; C01 += a0.X * b0.Y; C02 += a0.X * b0.Z; C03 += a0.X * b0.W; C04 += a0.X * b1.X; C05 += a0.X * b1.Y; C06 += a0.X * b1.Z; C07 += a0.X * b1.W;
        C10 += a0.Y * b0.X; C11 += a0.Y * b0.Y; C12 += a0.Y * b0.Z; C13 += a0.Y * b0.W; C14 += a0.Y * b1.X; C15 += a0.Y * b1.Y; C16 += a0.Y * b1.Z; C17 += a0.Y * b1.W;
        C20 += a0.Z * b0.X; C21 += a0.Z * b0.Y; C22 += a0.Z * b0.Z; C23 += a0.Z * b0.W; C24 += a0.Z * b1.X; C25 += a0.Z * b1.Y; C26 += a0.Z * b1.Z; C27 += a0.Z * b1.W;
        C30 += a0.W * b0.X; C31 += a0.W * b0.Y; C32 += a0.W * b0.Z; C33 += a0.W * b0.W; C34 += a0.W * b1.X; C35 += a0.W * b1.Y; C36 += a0.W * b1.Z; C37 += a0.W * b1.W;
        C40 += a1.X * b0.X; C41 += a1.X * b0.Y; C42 += a1.X * b0.Z; C43 += a1.X * b0.W; C44 += a1.X * b1.X; C45 += a1.X * b1.Y; C46 += a1.X * b1.Z; C47 += a1.X * b1.W;
        C50 += a1.Y * b0.X; C51 += a1.Y * b0.Y; C52 += a1.Y * b0.Z; C53 += a1.Y * b0.W; C54 += a1.Y * b1.X; C55 += a1.Y * b1.Y; C56 += a1.Y * b1.Z; C57 += a1.Y * b1.W;
        C60 += a1.Z * b0.X; C61 += a1.Z * b0.Y; C62 += a1.Z * b0.Z; C63 += a1.Z * b0.W; C64 += a1.Z * b1.X; C65 += a1.Z * b1.Y; C66 += a1.Z * b1.Z; C67 += a1.Z * b1.W;
        C70 += a1.W * b0.X; C71 += a1.W * b0.Y; C72 += a1.W * b0.Z; C73 += a1.W * b0.W; C74 += a1.W * b1.X; C75 += a1.W * b1.Y; C76 += a1.W * b1.Z; C77 += a1.W * b1.W;
    }

    /// <summary>Writes the block to C at (row, col), α-scaled, "+=" or "=", skipping what falls outside C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(ArrayView<float> c, int row, int col, MatMulShape s)
    {
        Put(c, row + 0, col + 0, C00, s); Put(c, row + 0, col + 1, C01, s); Put(c, row + 0, col + 2, C02, s); Put(c, row + 0, col + 3, C03, s); Put(c, row + 0, col + 4, C04, s); Put(c, row + 0, col + 5, C05, s); Put(c, row + 0, col + 6, C06, s); Put(c, row + 0, col + 7, C07, s);
        Put(c, row + 1, col + 0, C10, s); Put(c, row + 1, col + 1, C11, s); Put(c, row + 1, col + 2, C12, s); Put(c, row + 1, col + 3, C13, s); Put(c, row + 1, col + 4, C14, s); Put(c, row + 1, col + 5, C15, s); Put(c, row + 1, col + 6, C16, s); Put(c, row + 1, col + 7, C17, s);
        Put(c, row + 2, col + 0, C20, s); Put(c, row + 2, col + 1, C21, s); Put(c, row + 2, col + 2, C22, s); Put(c, row + 2, col + 3, C23, s); Put(c, row + 2, col + 4, C24, s); Put(c, row + 2, col + 5, C25, s); Put(c, row + 2, col + 6, C26, s); Put(c, row + 2, col + 7, C27, s);
        Put(c, row + 3, col + 0, C30, s); Put(c, row + 3, col + 1, C31, s); Put(c, row + 3, col + 2, C32, s); Put(c, row + 3, col + 3, C33, s); Put(c, row + 3, col + 4, C34, s); Put(c, row + 3, col + 5, C35, s); Put(c, row + 3, col + 6, C36, s); Put(c, row + 3, col + 7, C37, s);
        Put(c, row + 4, col + 0, C40, s); Put(c, row + 4, col + 1, C41, s); Put(c, row + 4, col + 2, C42, s); Put(c, row + 4, col + 3, C43, s); Put(c, row + 4, col + 4, C44, s); Put(c, row + 4, col + 5, C45, s); Put(c, row + 4, col + 6, C46, s); Put(c, row + 4, col + 7, C47, s);
        Put(c, row + 5, col + 0, C50, s); Put(c, row + 5, col + 1, C51, s); Put(c, row + 5, col + 2, C52, s); Put(c, row + 5, col + 3, C53, s); Put(c, row + 5, col + 4, C54, s); Put(c, row + 5, col + 5, C55, s); Put(c, row + 5, col + 6, C56, s); Put(c, row + 5, col + 7, C57, s);
        Put(c, row + 6, col + 0, C60, s); Put(c, row + 6, col + 1, C61, s); Put(c, row + 6, col + 2, C62, s); Put(c, row + 6, col + 3, C63, s); Put(c, row + 6, col + 4, C64, s); Put(c, row + 6, col + 5, C65, s); Put(c, row + 6, col + 6, C66, s); Put(c, row + 6, col + 7, C67, s);
        Put(c, row + 7, col + 0, C70, s); Put(c, row + 7, col + 1, C71, s); Put(c, row + 7, col + 2, C72, s); Put(c, row + 7, col + 3, C73, s); Put(c, row + 7, col + 4, C74, s); Put(c, row + 7, col + 5, C75, s); Put(c, row + 7, col + 6, C76, s); Put(c, row + 7, col + 7, C77, s);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(ArrayView<float> c, int row, int col, float value, MatMulShape s)
    {
        if (row >= s.M || col >= s.N) return;
        int i = row * s.N + col;
        float v = s.Alpha * value;
        c[i] = s.Accumulate != 0 ? c[i] + v : v;
    }
}
