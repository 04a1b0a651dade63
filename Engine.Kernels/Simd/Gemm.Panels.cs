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
            if (!accumulate)
                for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
            return;
        }
        for (int jr = 0; jr < n; jr += nr)
        {
            float* bp = b + jr / nr * bPanel;
            for (int ir = 0; ir < m; ir += MR)
                MicroKernel<TV>(k, a + ir / MR * aPanel, aStep, bp, bStep, c + (long)ir * ldc + jr, ldc, !accumulate, alpha);
        }
    }
}
