using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Kernels.Simd;

/// <summary>
/// Single-precision GEMM on host memory: C[M, N] (+)= α·op(A)[M, K] · op(B)[K, N], row-major C, op(X) = X or Xᵀ read in
/// place (<see cref="IOperandLayout"/>). The structure is BLIS's five loops: for each NC-wide column block of C and
/// each KC-deep slice of K, B is packed into NR-wide panels; for each MC-tall row block A is packed into MR-tall
/// panels; a register-blocked micro-kernel then multiplies one A panel by one B panel into an MR×NR tile of C.
/// </summary>
/// <remarks>
/// The micro-kernel holds the MR×NR tile (8 rows × 2 registers = 16 accumulators) in registers and per k does two
/// loads of B, eight broadcasts of A and sixteen FMAs. KC = 256 keeps a B panel (32 KB) in L1 and MC = 240 an A block
/// (240 KB) in L2. Products with one to four rows (a per-sample step), and rank-1 to rank-4 updates with B as stored (a
/// per-sample weight gradient), skip packing: they are row-times-matrix sweeps (B as stored) or dot products (B
/// transposed). Large products are split over the pool's threads by rows or columns
/// of C, each thread with its own packing buffers; nothing is allocated per call once a thread has its buffers.
/// </remarks>
public static unsafe partial class Gemm
{
    private const int MR = 8;
    private const int KC = 256;
    private const int MC = 240;
    private const int NC = 4096;

    /// <summary>The deepest K slice: KC plus a remainder under KC/4 folded into it.</summary>
    private const int MaxSlice = KC + KC / 4;

    /// <summary>Products below this many multiply-adds stay on the calling thread (a hand-off costs ~5–10 µs).</summary>
    public const long ParallelThreshold = 1L << 21;

    /// <summary>Floats of a K slice of a row-major B read in place instead of packed (64 KB: it stays in L2).</summary>
    private const long UnpackedB = 16 * 1024;

    [ThreadStatic] private static float* packA;
    [ThreadStatic] private static float* packB;
    [ThreadStatic] private static float* row;
    [ThreadStatic] private static int rowLength;

    public static void Multiply<TA, TB>(float* a, float* b, float* c, int m, int n, int k, bool accumulate,
        float alpha, WorkerPool pool) where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) new Span<float>(c, m * n).Clear();
            return;
        }
        if (Lanes.Wide) Dispatch<TA, TB, F512>(a, b, c, m, n, k, accumulate, alpha, pool);
        else Dispatch<TA, TB, F256>(a, b, c, m, n, k, accumulate, alpha, pool);
    }

    private static void Dispatch<TA, TB, TV>(float* a, float* b, float* c, int m, int n, int k, bool accumulate,
        float alpha, WorkerPool pool) where TA : struct, IOperandLayout where TB : struct, IOperandLayout
        where TV : struct, IFloatVector<TV>
    {
        if (m <= 4 || (k <= 4 && !default(TB).IsTransposed))
        {
            // Few rows (a per-sample forward), or a rank-k update with small k (a per-sample weight gradient): packing
            // would cost more than it saves.
            if (default(TB).IsTransposed) RowsDotColumns<TA, TV>(a, b, c, m, n, k, accumulate, alpha);
            else RowsTimesMatrix<TA, TV>(a, b, c, m, n, k, accumulate, alpha);
            return;
        }
        long work = (long)m * n * k;
        int threads = pool.Threads;
        if (threads <= 1 || work < ParallelThreshold)
        {
            Blocked<TA, TB, TV>(a, b, c, m, n, k, Lda<TA>(m, k), Ldb<TB>(k, n), n, accumulate, alpha, 0, m, 0, n);
            return;
        }
        pool.Run(new Split<TA, TB, TV>(a, b, c, m, n, k, accumulate, alpha), threads);
    }

    /// <summary>One thread's share of a product: a band of rows of C, or of columns when C is wider than tall.</summary>
    private sealed class Split<TA, TB, TV>(float* a, float* b, float* c, int m, int n, int k, bool accumulate,
        float alpha)
        : IParallelWork where TA : struct, IOperandLayout where TB : struct, IOperandLayout
        where TV : struct, IFloatVector<TV>
    {
        private readonly int lda = Lda<TA>(m, k), ldb = Ldb<TB>(k, n);

        public void Execute(int part, int parts)
        {
            int nr = 2 * TV.Count;
            if (n >= m)
            {
                var (from, to) = Band(n, nr, part, parts);
                if (from < to) Blocked<TA, TB, TV>(a, b, c, m, n, k, lda, ldb, n, accumulate, alpha, 0, m, from, to);
            }
            else
            {
                var (from, to) = Band(m, MR, part, parts);
                if (from < to) Blocked<TA, TB, TV>(a, b, c, m, n, k, lda, ldb, n, accumulate, alpha, from, to, 0, n);
            }
        }

        private static (int From, int To) Band(int length, int unit, int part, int parts)
        {
            int units = (length + unit - 1) / unit;
            int from = (int)((long)units * part / parts) * unit, to = (int)((long)units * (part + 1) / parts) * unit;
            return (Math.Min(from, length), Math.Min(to, length));
        }
    }

    /// <summary>Row stride of A as stored: K for A itself, M for A stored transposed.</summary>
    private static int Lda<TA>(int m, int k) where TA : struct, IOperandLayout => default(TA).IsTransposed ? m : k;

    /// <summary>Row stride of B as stored: N for B itself, K for B stored transposed.</summary>
    private static int Ldb<TB>(int k, int n) where TB : struct, IOperandLayout => default(TB).IsTransposed ? k : n;

    /// <summary>
    /// C (+)= α·op(A)·op(B) on the calling thread, each operand a block of a larger row-major matrix: its rows
    /// <paramref name="lda"/>, <paramref name="ldb"/>, <paramref name="ldc"/> floats apart as stored (a convolution's
    /// column block of an image, or one thread's share of a batch of products).
    /// </summary>
    public static void MultiplyStrided<TA, TB>(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int n,
        int k, bool accumulate, float alpha = 1f) where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
            return;
        }
        if (Lanes.Wide) Blocked<TA, TB, F512>(a, b, c, m, n, k, lda, ldb, ldc, accumulate, alpha, 0, m, 0, n);
        else Blocked<TA, TB, F256>(a, b, c, m, n, k, lda, ldb, ldc, accumulate, alpha, 0, m, 0, n);
    }

    /// <summary>
    /// C (+)= op(A)·op(B) on the calling thread with B's stored rows anywhere: row i at b + <paramref name="bRows"/>[i]
    /// (B itself: K rows of N; B transposed: N rows of K). A convolution's im2col matrix is such a B when its rows
    /// are shifted views of one image: packing reads them straight from the image.
    /// </summary>
    public static void MultiplyRowTable<TA, TB>(float* a, int lda, float* b, int* bRows, float* c, int ldc, int m,
        int n, int k, bool accumulate) where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        if (m == 0 || n == 0 || k == 0)
        {
            MultiplyStrided<TA, TB>(a, lda, b, 0, c, ldc, m, n, k, accumulate);
            return;
        }
        if (Lanes.Wide) Blocked<TA, TB, F512>(a, b, c, m, n, k, lda, 0, ldc, accumulate, 1f, 0, m, 0, n, bRows);
        else Blocked<TA, TB, F256>(a, b, c, m, n, k, lda, 0, ldc, accumulate, 1f, 0, m, 0, n, bRows);
    }

    /// <summary>The five loops over rows [i0, i1) and columns [j0, j1) of C.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void Blocked<TA, TB, TV>(float* a, float* b, float* c, int m, int n, int k, int lda, int ldb,
        int ldc, bool accumulate, float alpha, int i0, int i1, int j0, int j1, int* bRows = null)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout where TV : struct, IFloatVector<TV>
    {
        int nr = 2 * TV.Count;
        if (packA == null)
        {
            packA = (float*)NativeMemory.AlignedAlloc((nuint)(MC * MaxSlice * sizeof(float)), 64);
            packB = (float*)NativeMemory.AlignedAlloc((nuint)(MaxSlice * NC * sizeof(float)), 64);
        }
        float* tile = stackalloc float[MR * 32];
        for (int jc = j0; jc < j1; jc += NC)
        {
            int nc = Math.Min(NC, j1 - jc);
            // K in slices of KC; a remainder under KC/4 joins the last slice (784 = 256 + 256 + 272, not
            // 256 + 256 + 256 + 16: a thin slice costs a whole pass over C for little work; 272 still fits in L1).
            for (int pc = 0, kc; pc < k; pc += kc)
            {
                kc = k - pc <= MaxSlice ? k - pc : KC;
                // A small row-major B whose panels are all whole is read in place (rows of nr floats, n apart, all in
                // L2): packing it would cost a pass over B per product, a fifth of a batch of small products' time.
                bool inPlace = bRows == null && !default(TB).IsTransposed && nc % nr == 0 && (long)kc * ldb <= UnpackedB;
                if (!inPlace) PackB<TB>(b, packB, pc, kc, jc, nc, ldb, nr, bRows);
                int panelStride = inPlace ? ldb : nr;
                bool overwrite = pc == 0 && !accumulate;
                for (int ic = i0; ic < i1; ic += MC)
                {
                    int mc = Math.Min(MC, i1 - ic);
                    PackA<TA>(a, packA, ic, mc, pc, kc, lda);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int cols = Math.Min(nr, nc - jr);
                        float* bp = inPlace ? b + (long)pc * ldb + jc + jr : packB + jr * kc;
                        for (int ir = 0; ir < mc; ir += MR)
                        {
                            int rows = Math.Min(MR, mc - ir);
                            float* ap = packA + ir * kc;
                            float* ct = c + (long)(ic + ir) * ldc + jc + jr;
                            if (rows == MR && cols == nr)
                            {
                                MicroKernel<TV>(kc, ap, MR, bp, panelStride, ct, ldc, overwrite, alpha);
                            }
                            else
                            {
                                MicroKernel<TV>(kc, ap, MR, bp, panelStride, tile, nr, overwrite: true, alpha);
                                if (cols == nr)
                                {
                                    // A short panel of whole rows (M not a multiple of MR): copy its rows as vectors.
                                    for (int r = 0; r < rows; r++)
                                    for (int q = 0; q < nr; q += TV.Count)
                                    {
                                        TV v = TV.Load(tile + r * nr + q);
                                        float* target = ct + (long)r * ldc + q;
                                        TV.Store(overwrite ? v : v + TV.Load(target), target);
                                    }
                                    continue;
                                }
                                for (int r = 0; r < rows; r++)
                                for (int q = 0; q < cols; q++)
                                    ct[(long)r * ldc + q] = overwrite ? tile[r * nr + q] : ct[(long)r * ldc + q] + tile[r * nr + q];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>ap[kk·MR + r] = op(A)(ic + ir + r, pc + kk), zero past row M: MR-tall panels, k-major.</summary>
    [MethodImpl(Lanes.Hot)]
    internal static void PackA<TA>(float* a, float* ap, int ic, int mc, int pc, int kc, int lda)
        where TA : struct, IOperandLayout
    {
        var block = stackalloc Vector512<float>[16];
        for (int ir = 0; ir < mc; ir += MR)
        {
            int rows = Math.Min(MR, mc - ir);
            float* panel = ap + ir * kc;
            if (default(TA).IsTransposed)
            {
                // op(A)(i, p) = a[p·M + i]: MR consecutive floats per k.
                for (int kk = 0; kk < kc; kk++)
                {
                    float* src = a + (long)(pc + kk) * lda + ic + ir;
                    float* dst = panel + kk * MR;
                    if (rows == MR) Unsafe.CopyBlockUnaligned(dst, src, MR * sizeof(float));
                    else for (int r = 0; r < MR; r++) dst[r] = r < rows ? src[r] : 0f;
                }
            }
            else if (ir + 2 * MR <= mc && Wide16)
            {
                // Two panels at once: 16 rows × 16 k-values transposed in registers.
                int kk = 0;
                for (; kk + 16 <= kc; kk += 16)
                {
                    for (int r = 0; r < 16; r++) block[r] = Vector512.Load(a + (long)(ic + ir + r) * lda + pc + kk);
                    Transpose16(block);
                    for (int t = 0; t < 16; t++)
                    {
                        block[t].GetLower().Store(panel + (kk + t) * MR);
                        block[t].GetUpper().Store(panel + kc * MR + (kk + t) * MR);
                    }
                }
                for (; kk < kc; kk++)
                for (int r = 0; r < 2 * MR; r++)
                    (r < MR ? panel : panel + kc * MR)[kk * MR + r % MR] = a[(long)(ic + ir + r) * lda + pc + kk];
                ir += MR; // the second panel is done too
            }
            else
            {
                for (int r = 0; r < MR; r++)
                {
                    if (r >= rows)
                    {
                        for (int kk = 0; kk < kc; kk++) panel[kk * MR + r] = 0f;
                        continue;
                    }
                    float* src = a + (long)(ic + ir + r) * lda + pc;
                    for (int kk = 0; kk < kc; kk++) panel[kk * MR + r] = src[kk];
                }
            }
        }
    }

    /// <summary>Row <paramref name="i"/> of B as stored: ldb apart, or where the row table says.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* StoredRow(float* b, int i, int ldb, int* rows) => rows == null ? b + (long)i * ldb : b + rows[i];

    /// <summary>bp[jr·kc + kk·NR + q] = op(B)(pc + kk, jc + jr + q), zero past column N: NR-wide panels, k-major.</summary>
    [MethodImpl(Lanes.Hot)]
    internal static void PackB<TB>(float* b, float* bp, int pc, int kc, int jc, int nc, int ldb, int nr, int* bRows)
        where TB : struct, IOperandLayout
    {
        var block = stackalloc Vector512<float>[16];
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            float* panel = bp + jr * kc;
            if (default(TB).IsTransposed && nr % 16 == 0 && Wide16)
            {
                // op(B)(p, j) = b[j·K + p]: 16 columns × 16 k-values at a time, transposed in registers (columns past
                // N as zeros, so a last, partial panel is packed the same way).
                int kk = 0;
                for (; kk + 16 <= kc; kk += 16)
                {
                    for (int q0 = 0; q0 < nr; q0 += 16)
                    {
                        for (int q = 0; q < 16; q++)
                            block[q] = q0 + q < cols ? Vector512.Load(StoredRow(b, jc + jr + q0 + q, ldb, bRows) + pc + kk) : default;
                        Transpose16(block);
                        for (int t = 0; t < 16; t++) block[t].Store(panel + (kk + t) * nr + q0);
                    }
                }
                for (; kk < kc; kk++)
                for (int q = 0; q < nr; q++)
                    panel[kk * nr + q] = q < cols ? StoredRow(b, jc + jr + q, ldb, bRows)[pc + kk] : 0f;
            }
            else if (default(TB).IsTransposed)
            {
                // op(B)(p, j) = b[j·K + p]: each column of the panel is a contiguous run of b.
                for (int q = 0; q < nr; q++)
                {
                    if (q >= cols)
                    {
                        for (int kk = 0; kk < kc; kk++) panel[kk * nr + q] = 0f;
                        continue;
                    }
                    float* src = StoredRow(b, jc + jr + q, ldb, bRows) + pc;
                    for (int kk = 0; kk < kc; kk++) panel[kk * nr + q] = src[kk];
                }
            }
            else
            {
                for (int kk = 0; kk < kc; kk++)
                {
                    float* src = StoredRow(b, pc + kk, ldb, bRows) + jc + jr;
                    float* dst = panel + kk * nr;
                    if (cols == nr) Unsafe.CopyBlockUnaligned(dst, src, (uint)(nr * sizeof(float)));
                    else for (int q = 0; q < nr; q++) dst[q] = q < cols ? src[q] : 0f;
                }
            }
        }
    }

    /// <summary>
    /// C[0..MR, 0..NR) (+)= α·Σ_kk ap[kk·lda + r] · bp[kk·ldb + q]: sixteen accumulators (MR rows × 2 registers) stay
    /// in registers for the whole K slice; "=" when <paramref name="overwrite"/>, else "+=". A packed panel has
    /// lda = MR; an A stored transposed can be read in place with lda its row stride.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void MicroKernel<TV>(int kc, float* ap, int lda, float* bp, int ldb, float* c, int ldc, bool overwrite,
        float alpha)
        where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        // The tile of C is read (or written) only after the K loop; fetching its lines now hides the cache misses
        // behind that loop (C is megabytes in a large product, so its lines are rarely in L1 or L2).
        if (Sse.IsSupported)
            for (int r = 0; r < MR; r++)
            {
                Sse.Prefetch0(c + r * ldc);
                Sse.Prefetch0(c + r * ldc + 2 * w - 1);
            }
        TV c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        for (int kk = 0; kk < kc; kk++)
        {
            TV b0 = TV.Load(bp), b1 = TV.Load(bp + w);
            TV x = TV.Broadcast(ap[0]);
            c00 = TV.MultiplyAdd(x, b0, c00); c01 = TV.MultiplyAdd(x, b1, c01);
            x = TV.Broadcast(ap[1]);
            c10 = TV.MultiplyAdd(x, b0, c10); c11 = TV.MultiplyAdd(x, b1, c11);
            x = TV.Broadcast(ap[2]);
            c20 = TV.MultiplyAdd(x, b0, c20); c21 = TV.MultiplyAdd(x, b1, c21);
            x = TV.Broadcast(ap[3]);
            c30 = TV.MultiplyAdd(x, b0, c30); c31 = TV.MultiplyAdd(x, b1, c31);
            x = TV.Broadcast(ap[4]);
            c40 = TV.MultiplyAdd(x, b0, c40); c41 = TV.MultiplyAdd(x, b1, c41);
            x = TV.Broadcast(ap[5]);
            c50 = TV.MultiplyAdd(x, b0, c50); c51 = TV.MultiplyAdd(x, b1, c51);
            x = TV.Broadcast(ap[6]);
            c60 = TV.MultiplyAdd(x, b0, c60); c61 = TV.MultiplyAdd(x, b1, c61);
            x = TV.Broadcast(ap[7]);
            c70 = TV.MultiplyAdd(x, b0, c70); c71 = TV.MultiplyAdd(x, b1, c71);
            ap += lda;
            bp += ldb;
        }
        TV s = TV.Broadcast(alpha);
        WriteRow(c, w, c00, c01, overwrite, s);
        WriteRow(c + ldc, w, c10, c11, overwrite, s);
        WriteRow(c + 2 * ldc, w, c20, c21, overwrite, s);
        WriteRow(c + 3 * ldc, w, c30, c31, overwrite, s);
        WriteRow(c + 4 * ldc, w, c40, c41, overwrite, s);
        WriteRow(c + 5 * ldc, w, c50, c51, overwrite, s);
        WriteRow(c + 6 * ldc, w, c60, c61, overwrite, s);
        WriteRow(c + 7 * ldc, w, c70, c71, overwrite, s);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteRow<TV>(float* c, int w, TV lo, TV hi, bool overwrite, TV alpha)
        where TV : struct, IFloatVector<TV>
    {
        lo *= alpha;
        hi *= alpha;
        if (!overwrite)
        {
            lo += TV.Load(c);
            hi += TV.Load(c + w);
        }
        TV.Store(lo, c);
        TV.Store(hi, c + w);
    }

    /// <summary>Whether the 16×16 register transpose can run (AVX-512 and the wide path chosen).</summary>
    private static bool Wide16 => Lanes.Wide && Avx512F.IsSupported;

    private static readonly Vector512<int>[] TransposeLow = TransposeIndices(low: true);
    private static readonly Vector512<int>[] TransposeHigh = TransposeIndices(low: false);

    /// <summary>
    /// Permutation indices of the four stages h = 8, 4, 2, 1 of the block-recursive transpose: rows i and i + h (bit h
    /// of i clear) swap their off-diagonal h-blocks. Row i keeps columns with bit h clear and takes row i + h's
    /// (c &amp; ~h) for the others; row i + h takes row i's (c | h) for columns with bit h clear and keeps the others.
    /// </summary>
    private static Vector512<int>[] TransposeIndices(bool low)
    {
        var stages = new Vector512<int>[4];
        for (int s = 0, h = 8; s < 4; s++, h /= 2)
        {
            var idx = new int[16];
            for (int c = 0; c < 16; c++)
                idx[c] = low ? ((c & h) == 0 ? c : 16 + (c & ~h)) : ((c & h) == 0 ? (c | h) : 16 + c);
            stages[s] = Vector512.Create(idx);
        }
        return stages;
    }

    /// <summary>Transposes the 16×16 matrix held in <paramref name="rows"/> (row r = rows[r]) in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16(Vector512<float>* rows)
    {
        for (int s = 0, h = 8; s < 4; s++, h /= 2)
        {
            var lo = TransposeLow[s];
            var hi = TransposeHigh[s];
            for (int i = 0; i < 16; i++)
            {
                if ((i & h) != 0) continue;
                var x = rows[i];
                var y = rows[i + h];
                rows[i] = Avx512F.PermuteVar16x32x2(x, lo, y);
                rows[i + h] = Avx512F.PermuteVar16x32x2(x, hi, y);
            }
        }
    }

    /// <summary>
    /// Row i of op(A) as K contiguous floats: in place when A is stored as itself, else a copy in a per-thread buffer
    /// (a single float, for the rank-1 update of a per-sample weight gradient).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* RowOf<TA>(float* a, int i, int m, int k) where TA : struct, IOperandLayout
    {
        if (!default(TA).IsTransposed) return a + (long)i * k;
        if (k == 1) return a + i;
        if (rowLength < k)
        {
            NativeMemory.AlignedFree(row);
            rowLength = Math.Max(k, 1024);
            row = (float*)NativeMemory.AlignedAlloc((nuint)(rowLength * sizeof(float)), 64);
        }
        for (int p = 0; p < k; p++) row[p] = a[(long)p * m + i];
        return row;
    }

    /// <summary>
    /// Few rows or a small k, B as stored: C[i, :] = (accumulate ? C[i, :] : 0) + Σ_p (α·op(A)(i, p)) · B[p, :],
    /// sweeping four registers of a C row at a time through all of K: the accumulators start from C, so a rank-1
    /// update (a per-sample weight gradient, or an SGD step fused into it) is one load, one FMA and one store per
    /// register of C. When accumulating, a row of op(A) that is all zeros leaves its row of C as it is and is skipped,
    /// provided B holds no NaN or ±∞ (0·∞ would be NaN): behind a ReLU about half the rows of a per-sample weight
    /// gradient are zero, and the update is bound by memory traffic over C.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void RowsTimesMatrix<TA, TV>(float* a, float* b, float* c, int m, int n, int k, bool accumulate,
        float alpha) where TA : struct, IOperandLayout where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        int bFinite = 0; // 0: not checked yet, 1: finite, −1: holds NaN or ±∞
        for (int i = 0; i < m; i++)
        {
            float* ai = RowOf<TA>(a, i, m, k);
            float* ci = c + (long)i * n;
            if (accumulate && IsZero(ai, k))
            {
                if (bFinite == 0) bFinite = AllFinite<TV>(b, (long)k * n) ? 1 : -1;
                if (bFinite == 1) continue;
            }
            int j = 0;
            for (; j + 4 * w <= n; j += 4 * w)
            {
                TV s0 = accumulate ? TV.Load(ci + j) : default, s1 = accumulate ? TV.Load(ci + j + w) : default,
                    s2 = accumulate ? TV.Load(ci + j + 2 * w) : default, s3 = accumulate ? TV.Load(ci + j + 3 * w) : default;
                float* bj = b + j;
                for (int p = 0; p < k; p++, bj += n)
                {
                    TV x = TV.Broadcast(alpha * ai[p]);
                    s0 = TV.MultiplyAdd(x, TV.Load(bj), s0);
                    s1 = TV.MultiplyAdd(x, TV.Load(bj + w), s1);
                    s2 = TV.MultiplyAdd(x, TV.Load(bj + 2 * w), s2);
                    s3 = TV.MultiplyAdd(x, TV.Load(bj + 3 * w), s3);
                }
                TV.Store(s0, ci + j);
                TV.Store(s1, ci + j + w);
                TV.Store(s2, ci + j + 2 * w);
                TV.Store(s3, ci + j + 3 * w);
            }
            for (; j + w <= n; j += w)
            {
                TV s = accumulate ? TV.Load(ci + j) : default;
                float* bj = b + j;
                for (int p = 0; p < k; p++, bj += n) s = TV.MultiplyAdd(TV.Broadcast(alpha * ai[p]), TV.Load(bj), s);
                TV.Store(s, ci + j);
            }
            for (; j < n; j++)
            {
                float s = accumulate ? ci[j] : 0f;
                for (int p = 0; p < k; p++) s = MathF.FusedMultiplyAdd(alpha * ai[p], b[(long)p * n + j], s);
                ci[j] = s;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsZero(float* x, int k)
    {
        for (int p = 0; p < k; p++)
            if (x[p] != 0f) return false;
        return true;
    }

    internal static bool AllFinite<TV>(float* x, long count) where TV : struct, IFloatVector<TV>
    {
        long i = 0;
        for (; i + TV.Count <= count; i += TV.Count)
            if (TV.AnyTrue(TV.IsNonFinite(TV.Load(x + i)))) return false;
        for (; i < count; i++)
            if (!float.IsFinite(x[i])) return false;
        return true;
    }

    /// <summary>
    /// Few rows, B transposed (stored [N, K]): C[i, j] (+)= α·op(A)(i, :) · b[j, :], eight dot products at a time so
    /// each load of the A row serves eight columns and eight independent FMA chains hide the FMA latency; K's tail
    /// is summed in scalar.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void RowsDotColumns<TA, TV>(float* a, float* b, float* c, int m, int n, int k, bool accumulate,
        float alpha) where TA : struct, IOperandLayout where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, body = k - k % w;
        float* dots = stackalloc float[8];
        for (int i = 0; i < m; i++)
        {
            float* ai = RowOf<TA>(a, i, m, k);
            float* ci = c + (long)i * n;
            int j = 0;
            for (; j + 8 <= n; j += 8)
            {
                float* b0 = b + (long)j * k;
                TV s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default,
                    s7 = default;
                for (int p = 0; p < body; p += w)
                {
                    TV x = TV.Load(ai + p);
                    float* bp = b0 + p;
                    s0 = TV.MultiplyAdd(x, TV.Load(bp), s0);
                    s1 = TV.MultiplyAdd(x, TV.Load(bp + k), s1);
                    s2 = TV.MultiplyAdd(x, TV.Load(bp + 2 * k), s2);
                    s3 = TV.MultiplyAdd(x, TV.Load(bp + 3 * k), s3);
                    s4 = TV.MultiplyAdd(x, TV.Load(bp + 4 * k), s4);
                    s5 = TV.MultiplyAdd(x, TV.Load(bp + 5 * k), s5);
                    s6 = TV.MultiplyAdd(x, TV.Load(bp + 6 * k), s6);
                    s7 = TV.MultiplyAdd(x, TV.Load(bp + 7 * k), s7);
                }
                dots[0] = TV.Sum(s0);
                dots[1] = TV.Sum(s1);
                dots[2] = TV.Sum(s2);
                dots[3] = TV.Sum(s3);
                dots[4] = TV.Sum(s4);
                dots[5] = TV.Sum(s5);
                dots[6] = TV.Sum(s6);
                dots[7] = TV.Sum(s7);
                for (int q = 0; q < 8; q++)
                {
                    float* bq = b0 + (long)q * k;
                    float d = dots[q];
                    for (int p = body; p < k; p++) d = MathF.FusedMultiplyAdd(ai[p], bq[p], d);
                    ci[j + q] = accumulate ? ci[j + q] + alpha * d : alpha * d;
                }
            }
            for (; j < n; j++)
            {
                float* bj = b + (long)j * k;
                TV s = default;
                for (int p = 0; p < body; p += w) s = TV.MultiplyAdd(TV.Load(ai + p), TV.Load(bj + p), s);
                float d = TV.Sum(s);
                for (int p = body; p < k; p++) d = MathF.FusedMultiplyAdd(ai[p], bj[p], d);
                ci[j] = accumulate ? ci[j] + alpha * d : alpha * d;
            }
        }
    }
}
