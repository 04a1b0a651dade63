using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Fused scaled dot-product attention (<see cref="AttentionShape"/> gives the layout): no [L, S] weight matrix is
/// stored. With s_ij = scale·q_i·k_j over the keys j query i sees, m_i = max_j s_ij, l_i = Σ_j e^(s_ij − m_i) and
/// p_ij = e^(s_ij − m_i)/l_i:
/// forward o_i = Σ_j p_ij·v_j and lse_i = m_i + ln l_i; backward, with D_i = dO_i·o_i and p_ij recomputed as
/// e^(s_ij − lse_i): dv_j += Σ_i p_ij·dO_i, ds_ij = p_ij·(dO_i·v_j − D_i), dq_i += scale·Σ_j ds_ij·k_j and
/// dk_j += scale·Σ_i ds_ij·q_i.
/// </summary>
/// <remarks>
/// The per-row variant, for ILGPU's CPU accelerator and for shapes the shared-memory tiles of
/// <see cref="AttentionTiledKernels"/> do not take (E or Ev over 128). One thread per query row (forward, dq) or per
/// key row (dk, dv), each owning the row it writes, so nothing races and sums run in a fixed order. The forward makes
/// two passes over the keys: the first finds m_i and l_i together (the online softmax: l is rescaled by
/// e^(m_old − m_new) when the maximum grows), the second accumulates o_i.
/// NOTE: subtracting m_i (or lse_i) before exponentiating keeps e^x ≤ 1.
/// </remarks>
public static class AttentionKernels
{
    /// <summary>scale·q_i·k_j for query row <paramref name="qi"/> and key row <paramref name="kj"/> (flat row starts).</summary>
    private static float Score(ArrayView<float> q, int qi, ArrayView<float> k, int kj, int width, float scale)
    {
        float dot = 0f;
        for (int e = 0; e < width; e++) dot += q[qi + e] * k[kj + e];
        return dot * scale;
    }

    /// <summary>o_i and lse_i for each (head, query) row: thread t = head·L + i.</summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, AttentionShape a)
    {
        int rows = a.Items * a.Queries, e = a.HeadDim, ev = a.ValueDim;
        for (int t = GridStride.Start, step = GridStride.Step; t < rows; t += step)
        {
            int head = t / a.Queries, i = t % a.Queries, seen = a.KeysSeenBy(i);
            int keys = head * a.Keys;
            float m = float.NegativeInfinity, l = 0f;
            for (int j = 0; j < seen; j++)
            {
                float s = Score(q, t * e, k, (keys + j) * e, e, a.Scale);
                float grown = XMath.Max(m, s);
                l = l * XMath.Exp(m - grown) + XMath.Exp(s - grown);
                m = grown;
            }
            for (int c = 0; c < ev; c++) o[t * ev + c] = 0f;
            for (int j = 0; j < seen; j++)
            {
                float p = XMath.Exp(Score(q, t * e, k, (keys + j) * e, e, a.Scale) - m) / l;
                for (int c = 0; c < ev; c++) o[t * ev + c] += p * v[(keys + j) * ev + c];
            }
            lse[t] = m + XMath.Log(l);
        }
    }

    /// <summary>D_i = dO_i·o_i into stats[rows + t] (stats[0, rows) holds lse).</summary>
    public static void RowDots(ArrayView<float> o, ArrayView<float> dOut, ArrayView<float> stats, AttentionShape a)
    {
        int rows = a.Items * a.Queries, ev = a.ValueDim;
        for (int t = GridStride.Start, step = GridStride.Step; t < rows; t += step)
        {
            float d = 0f;
            for (int c = 0; c < ev; c++) d += dOut[t * ev + c] * o[t * ev + c];
            stats[rows + t] = d;
        }
    }

    /// <summary>dq_i += scale·Σ_j ds_ij·k_j: thread t = head·L + i.</summary>
    public static void QueryGrads(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> dOut,
        ArrayView<float> stats, ArrayView<float> dq, AttentionShape a)
    {
        int rows = a.Items * a.Queries, e = a.HeadDim, ev = a.ValueDim;
        for (int t = GridStride.Start, step = GridStride.Step; t < rows; t += step)
        {
            int head = t / a.Queries, i = t % a.Queries, seen = a.KeysSeenBy(i);
            int keys = head * a.Keys;
            for (int j = 0; j < seen; j++)
            {
                float p = XMath.Exp(Score(q, t * e, k, (keys + j) * e, e, a.Scale) - stats[t]);
                float dp = Score(dOut, t * ev, v, (keys + j) * ev, ev, 1f);
                float ds = p * (dp - stats[rows + t]) * a.Scale;
                for (int c = 0; c < e; c++) dq[t * e + c] += ds * k[(keys + j) * e + c];
            }
        }
    }

    /// <summary>dv_j += Σ_i p_ij·dO_i and dk_j += scale·Σ_i ds_ij·q_i: thread t = head·S + j.</summary>
    public static void KeyGrads(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> dOut,
        ArrayView<float> stats, ArrayView<float> dk, ArrayView<float> dv, AttentionShape a)
    {
        int rows = a.Items * a.Queries, keyRows = a.Items * a.Keys, e = a.HeadDim, ev = a.ValueDim;
        bool wantK = dk.Length > 0, wantV = dv.Length > 0;
        for (int t = GridStride.Start, step = GridStride.Step; t < keyRows; t += step)
        {
            int head = t / a.Keys, j = t % a.Keys;
            // Causal: the queries that see key j are i ≥ j.
            for (int i = a.Causal != 0 ? j : 0; i < a.Queries; i++)
            {
                int row = head * a.Queries + i;
                float p = XMath.Exp(Score(q, row * e, k, t * e, e, a.Scale) - stats[row]);
                if (wantV)
                    for (int c = 0; c < ev; c++) dv[t * ev + c] += p * dOut[row * ev + c];
                if (wantK)
                {
                    float dp = Score(dOut, row * ev, v, t * ev, ev, 1f);
                    float ds = p * (dp - stats[rows + row]) * a.Scale;
                    for (int c = 0; c < e; c++) dk[t * e + c] += ds * q[row * e + c];
                }
            }
        }
    }

    /// <summary>
    /// The forward: <see cref="AttentionTiledKernels.Forward"/> where <see cref="KernelContext.AttentionVariant"/> and
    /// the shape allow it, else <see cref="Forward"/>.
    /// </summary>
    public static void AttentionForward(this KernelContext c, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> stats, AttentionShape a)
    {
        if (a.Items == 0 || a.Queries == 0) return;
        int rows = c.TiledRows(a, AttentionTiledKernels.ForwardRows);
        if (rows > 0)
        {
            c.TiledAttentionForward(q, k, v, o, stats, a, rows);
            return;
        }
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            AttentionShape>(Forward)(c.ForItems((long)a.Items * a.Queries), q, k, v, o, stats, a);
    }

    /// <summary>
    /// The backward in three launches: the row dots D into stats' second half, then dq over query rows and dk, dv over
    /// key rows (each reads lse and D from stats), each with <see cref="AttentionTiledKernels"/> where
    /// <see cref="KernelContext.AttentionVariant"/> and the shape allow it.
    /// </summary>
    public static void AttentionBackward(this KernelContext c, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> dOut, ArrayView<float> stats, ArrayView<float> dq,
        ArrayView<float> dk, ArrayView<float> dv, AttentionShape a)
    {
        long rows = (long)a.Items * a.Queries;
        if (rows == 0 || a.Keys == 0) return;
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape>(RowDots)(
            c.ForItems(rows), o, dOut, stats, a);
        if (dq.Length > 0)
        {
            int tiled = c.TiledRows(a, AttentionTiledKernels.QueryGradRows);
            if (tiled > 0)
                c.TiledAttentionQueryGrads(q, k, v, dOut, stats, dq, a, tiled);
            else
                c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, AttentionShape>(QueryGrads)(c.ForItems(rows), q, k, v, dOut, stats, dq, a);
        }
        if (dk.Length > 0 || dv.Length > 0)
        {
            int tiled = c.TiledRows(a, AttentionTiledKernels.KeyGradRows);
            if (tiled > 0)
                c.TiledAttentionKeyGrads(q, k, v, dOut, stats, dk, dv, a, tiled);
            else
                c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, AttentionShape>(KeyGrads)(
                    c.ForItems((long)a.Items * a.Keys), q, k, v, dOut, stats, dk, dv, a);
        }
    }

    /// <summary>
    /// Rows per group of a tiled kernel when <see cref="KernelContext.AttentionVariant"/> is Tiled, the accelerator's
    /// groups have the pool's shared memory and the shape fits; else 0.
    /// </summary>
    private static int TiledRows(this KernelContext c, AttentionShape a, Func<AttentionShape, int, int> rows) =>
        c.AttentionVariant == AttentionVariant.Tiled &&
        c.Accelerator.MaxSharedMemoryPerGroup >= AttentionTiledKernels.PoolBytes
            ? rows(a, c.Accelerator.MaxNumThreadsPerGroup) : 0;
}
