using System.Runtime.CompilerServices;

namespace Engine.Kernels.Simd;

/// <summary>
/// Products of operands already in the micro-kernel's panel layout, for callers that multiply the same blocks many
/// times (fused attention packs each head's K, V, Q and dO once and reuses them for every tile). A is read as MR-row
/// panels: element (i, kk) at a + (i / MR)·aPanel + kk·aStep + i % MR, which is <see cref="PackA{TA}"/>'s layout
/// (aStep = MR, aPanel = MR·K) and also a matrix stored transposed read in place (aStep = its row stride, aPanel =
/// MR). B is read as NR-column panels: element (kk, j) at b + (j / NR)·bPanel + kk·bStep + j % NR, which is
/// <see cref="PackB{TB}"/>'s layout (bStep = NR, bPanel = NR·K).
/// </summary>
public static unsafe partial class Gemm
{
    /// <summary>MR, the height of an A panel (NR, the width of a B panel, is two vectors: 2·TV.Count).</summary>
    public const int PanelHeight = MR;

    /// <summary>
    /// C[m, n] (+)= α·A·B over panel operands (layouts above, NR = 2·TV.Count) with no edge handling:
    /// <paramref name="m"/> must be a multiple of <see cref="PanelHeight"/> and <paramref name="n"/> of NR (callers pad
    /// their blocks with zero rows and columns, and C has room for them).
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    public static void MultiplyPanels<TV>(float* a, int aStep, long aPanel, float* b, int bStep, long bPanel,
        float* c, int ldc, int m, int n, int k, bool accumulate, float alpha = 1f) where TV : struct, IFloatVector<TV>
    {
        int nr = 2 * TV.Count;
        if (k == 0)
        {
            if (!accumulate) ClearRows(c, ldc, m, n);
            return;
        }
        for (int jr = 0; jr < n; jr += nr)
        {
            float* bp = b + jr / nr * bPanel;
            for (int ir = 0; ir < m; ir += MR)
                MicroKernel<TV>(k, a + ir / MR * aPanel, aStep, bp, bStep, c + (long)ir * ldc + jr, ldc, !accumulate, alpha);
        }
    }

    /// <summary>
    /// C[m, n] (+)= α·A·B with A row-major and read in place (rows <paramref name="lda"/> apart; it must be small
    /// enough to stay in L1, as a 64×64 tile is) and B as panels (layout above, NR = 2·TV.Count); m a multiple of
    /// <see cref="PanelHeight"/>, n of NR. Packing A would transpose it; here each row is a stream of broadcasts.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    public static void MultiplyRowsByPanels<TV>(float* a, int lda, float* b, int bStep, long bPanel, float* c, int ldc,
        int m, int n, int k, bool accumulate, float alpha = 1f) where TV : struct, IFloatVector<TV>
    {
        int nr = 2 * TV.Count;
        if (k == 0)
        {
            if (!accumulate) ClearRows(c, ldc, m, n);
            return;
        }
        for (int jr = 0; jr < n; jr += nr)
        {
            float* bp = b + jr / nr * bPanel;
            for (int ir = 0; ir < m; ir += MR)
                RowsMicroKernel<TV>(k, a + (long)ir * lda, lda, bp, bStep, c + (long)ir * ldc + jr, ldc, !accumulate, alpha);
        }
    }

    /// <summary>
    /// <see cref="MicroKernel{TV}"/> with A's MR rows read where they are stored: C[0..MR, 0..NR) (+)= α·Σ_kk
    /// a[r·lda + kk] · bp[kk·ldb + q], the sixteen accumulators in registers.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void RowsMicroKernel<TV>(int kc, float* a, int lda, float* bp, int ldb, float* c, int ldc,
        bool overwrite, float alpha) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        float* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda,
            a7 = a6 + lda;
        TV c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        for (int kk = 0; kk < kc; kk++)
        {
            TV b0 = TV.Load(bp), b1 = TV.Load(bp + w);
            TV x = TV.Broadcast(a0[kk]);
            c00 = TV.MultiplyAdd(x, b0, c00); c01 = TV.MultiplyAdd(x, b1, c01);
            x = TV.Broadcast(a1[kk]);
            c10 = TV.MultiplyAdd(x, b0, c10); c11 = TV.MultiplyAdd(x, b1, c11);
            x = TV.Broadcast(a2[kk]);
            c20 = TV.MultiplyAdd(x, b0, c20); c21 = TV.MultiplyAdd(x, b1, c21);
            x = TV.Broadcast(a3[kk]);
            c30 = TV.MultiplyAdd(x, b0, c30); c31 = TV.MultiplyAdd(x, b1, c31);
            x = TV.Broadcast(a4[kk]);
            c40 = TV.MultiplyAdd(x, b0, c40); c41 = TV.MultiplyAdd(x, b1, c41);
            x = TV.Broadcast(a5[kk]);
            c50 = TV.MultiplyAdd(x, b0, c50); c51 = TV.MultiplyAdd(x, b1, c51);
            x = TV.Broadcast(a6[kk]);
            c60 = TV.MultiplyAdd(x, b0, c60); c61 = TV.MultiplyAdd(x, b1, c61);
            x = TV.Broadcast(a7[kk]);
            c70 = TV.MultiplyAdd(x, b0, c70); c71 = TV.MultiplyAdd(x, b1, c71);
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

    /// <summary>C[m, n] = 0 (rows <paramref name="ldc"/> apart): a product over K = 0.</summary>
    private static void ClearRows(float* c, int ldc, int m, int n)
    {
        for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
    }
}
