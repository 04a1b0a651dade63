using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Fused attention, the math of Ilgpu/AttentionKernels.cs (stated there), blocked as FlashAttention: queries in blocks
/// of <see cref="QueryBlock"/> rows, keys in blocks of <see cref="KeyBlock"/>. Every block product (S = scale·Q·Kᵀ,
/// O += P·V, and the backward's Pᵀ·dO, dO·Vᵀ, dS·K, dSᵀ·Q) is a call of the engine's GEMM on one thread, over a 64×64
/// score tile in that thread's scratch (16 KB: it stays in L1), so no [L, S] matrix exists.
/// </summary>
/// <remarks>
/// The forward's work items are (head, query block) pairs spread over the pool: each keeps a running maximum m, a
/// running sum l and an unnormalised output row per query and, for each key block, rescales them by e^(m_old − m_new)
/// (the online softmax) before adding P·V. The backward's work items are whole heads: a head's thread walks key blocks,
/// and within each the query blocks that see it, so it alone writes that head's dQ, dK and dV (no atomics, sums in a
/// fixed order).
/// </remarks>
public sealed unsafe partial class SimdKernels
{
    private const int QueryBlock = 64;
    private const int KeyBlock = 64;

    [ThreadStatic] private static float* attentionScratch;
    [ThreadStatic] private static long attentionScratchFloats;

    /// <summary>This thread's scratch of at least <paramref name="floats"/> floats (kept and grown, 64-byte aligned).</summary>
    private static float* AttentionScratch(long floats)
    {
        if (attentionScratchFloats < floats)
        {
            if (attentionScratch != null) NativeMemory.AlignedFree(attentionScratch);
            attentionScratch = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            attentionScratchFloats = floats;
        }
        return attentionScratch;
    }

    public void AttentionForward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> stats, AttentionShape shape)
    {
        if (shape.Items == 0 || shape.Queries == 0) return;
        if (shape.Keys == 0)
        {
            new Span<float>(Ptr(o), (int)o.Length).Clear();
            return;
        }
        int blocks = (shape.Queries + QueryBlock - 1) / QueryBlock;
        var work = new AttentionForwardWork(Ptr(q), Ptr(k), Ptr(v), Ptr(o), Ptr(stats), shape, blocks);
        Pool.Run(work, shape.Items * blocks);
    }

    public void AttentionBackward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> dOut, ArrayView<float> stats, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        AttentionShape shape)
    {
        if (shape.Items == 0 || shape.Queries == 0 || shape.Keys == 0) return;
        var work = new AttentionBackwardWork(Ptr(q), Ptr(k), Ptr(v), Ptr(o), Ptr(dOut), Ptr(stats),
            dq.Length > 0 ? Ptr(dq) : null, dk.Length > 0 ? Ptr(dk) : null, dv.Length > 0 ? Ptr(dv) : null, shape);
        Pool.Run(work, shape.Items);
    }

    /// <summary>One (head, query block) of the forward per part.</summary>
    private sealed class AttentionForwardWork(float* q, float* k, float* v, float* o, float* stats, AttentionShape a,
        int blocks) : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            if (Lanes.Wide) Run<F512>(part);
            else Run<F256>(part);
        }

        [MethodImpl(Lanes.Hot)]
        private void Run<TV>(int part) where TV : struct, IFloatVector<TV>
        {
            int head = part / blocks, q0 = part % blocks * QueryBlock;
            int rows = Math.Min(QueryBlock, a.Queries - q0), e = a.HeadDim, ev = a.ValueDim;
            float* scratch = AttentionScratch(QueryBlock * KeyBlock + QueryBlock * (long)ev + 2 * QueryBlock);
            float* scores = scratch, acc = scratch + QueryBlock * KeyBlock, max = acc + QueryBlock * ev,
                sum = max + QueryBlock;
            new Span<float>(acc, rows * ev).Clear();
            for (int r = 0; r < rows; r++)
            {
                max[r] = float.NegativeInfinity;
                sum[r] = 0f;
            }
            float* qh = q + ((long)head * a.Queries + q0) * e;
            float* kh = k + (long)head * a.Keys * e, vh = v + (long)head * a.Keys * ev;
            int keyEnd = a.KeysSeenBy(q0 + rows - 1);
            for (int k0 = 0; k0 < keyEnd; k0 += KeyBlock)
            {
                int cols = Math.Min(KeyBlock, keyEnd - k0);
                Gemm.MultiplyStrided<AsStored, AsTransposed>(qh, e, kh + (long)k0 * e, e, scores, KeyBlock, rows, cols,
                    e, accumulate: false, alpha: a.Scale);
                for (int r = 0; r < rows; r++)
                {
                    float* s = scores + r * KeyBlock;
                    int seen = Math.Min(cols, a.KeysSeenBy(q0 + r) - k0);
                    if (seen <= 0)
                    {
                        new Span<float>(s, cols).Clear();
                        continue;
                    }
                    float grown = Math.Max(max[r], RowMax<TV>(s, seen));
                    float rescale = MathF.Exp(max[r] - grown);
                    sum[r] = sum[r] * rescale + ExpShifted<TV>(s, seen, grown);
                    if (seen < cols) new Span<float>(s + seen, cols - seen).Clear();
                    if (rescale != 1f) ScaleRow<TV>(acc + r * ev, ev, rescale);
                    max[r] = grown;
                }
                Gemm.MultiplyStrided<AsStored, AsStored>(scores, KeyBlock, vh + (long)k0 * ev, ev, acc, ev, rows, ev,
                    cols, accumulate: true);
            }
            float* oh = o + ((long)head * a.Queries + q0) * ev;
            float* lse = stats + (long)head * a.Queries + q0;
            for (int r = 0; r < rows; r++)
            {
                float inverse = 1f / sum[r];
                for (int c = 0; c < ev; c++) oh[r * ev + c] = acc[r * ev + c] * inverse;
                lse[r] = max[r] + MathF.Log(sum[r]);
            }
        }
    }

    /// <summary>One head of the backward per part.</summary>
    private sealed class AttentionBackwardWork(float* q, float* k, float* v, float* o, float* dOut, float* stats,
        float* dq, float* dk, float* dv, AttentionShape a) : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            if (Lanes.Wide) Run<F512>(part);
            else Run<F256>(part);
        }

        [MethodImpl(Lanes.Hot)]
        private void Run<TV>(int head) where TV : struct, IFloatVector<TV>
        {
            int l = a.Queries, e = a.HeadDim, ev = a.ValueDim;
            long rows = (long)a.Items * l;
            float* scratch = AttentionScratch(2 * QueryBlock * KeyBlock);
            float* p = scratch, ds = scratch + QueryBlock * KeyBlock;
            float* qh = q + (long)head * l * e, kh = k + (long)head * a.Keys * e, vh = v + (long)head * a.Keys * ev;
            float* oh = o + (long)head * l * ev, doh = dOut + (long)head * l * ev;
            float* lse = stats + (long)head * l, rowDots = stats + rows + (long)head * l;
            for (int i = 0; i < l; i++) rowDots[i] = Dot<TV>(doh + (long)i * ev, oh + (long)i * ev, ev);
            for (int k0 = 0; k0 < a.Keys; k0 += KeyBlock)
            {
                int cols = Math.Min(KeyBlock, a.Keys - k0);
                float* kb = kh + (long)k0 * e, vb = vh + (long)k0 * ev;
                // Causal: only queries i ≥ k0 see this block.
                for (int q0 = a.Causal != 0 ? k0 : 0; q0 < l; q0 += QueryBlock)
                {
                    int rows0 = Math.Min(QueryBlock, l - q0);
                    float* qb = qh + (long)q0 * e, dob = doh + (long)q0 * ev;
                    Gemm.MultiplyStrided<AsStored, AsTransposed>(qb, e, kb, e, p, KeyBlock, rows0, cols, e,
                        accumulate: false, alpha: a.Scale);
                    for (int r = 0; r < rows0; r++)
                    {
                        int seen = Math.Clamp(a.KeysSeenBy(q0 + r) - k0, 0, cols);
                        float* pr = p + r * KeyBlock;
                        ExpShifted<TV>(pr, seen, lse[q0 + r]);
                        if (seen < cols) new Span<float>(pr + seen, cols - seen).Clear();
                    }
                    if (dv != null)
                        Gemm.MultiplyStrided<AsTransposed, AsStored>(p, KeyBlock, dob, ev, dv + ((long)head * a.Keys + k0) * ev,
                            ev, cols, ev, rows0, accumulate: true);
                    if (dq == null && dk == null) continue;
                    Gemm.MultiplyStrided<AsStored, AsTransposed>(dob, ev, vb, ev, ds, KeyBlock, rows0, cols, ev,
                        accumulate: false);
                    for (int r = 0; r < rows0; r++)
                        SoftmaxTerm<TV>(p + r * KeyBlock, ds + r * KeyBlock, cols, rowDots[q0 + r]);
                    if (dq != null)
                        Gemm.MultiplyStrided<AsStored, AsStored>(ds, KeyBlock, kb, e, dq + ((long)head * l + q0) * e, e,
                            rows0, e, cols, accumulate: true, alpha: a.Scale);
                    if (dk != null)
                        Gemm.MultiplyStrided<AsTransposed, AsStored>(ds, KeyBlock, qb, e, dk + ((long)head * a.Keys + k0) * e,
                            e, cols, e, rows0, accumulate: true, alpha: a.Scale);
                }
            }
        }
    }

    /// <summary>s[j] ← e^(s[j] − shift) for j &lt; n; returns Σ of the results.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ExpShifted<TV>(float* s, int n, float shift) where TV : struct, IFloatVector<TV>
    {
        TV total = default, m = TV.Broadcast(shift);
        for (int j = 0, w = TV.Count; j < n; j += w)
        {
            int r = Math.Min(w, n - j);
            // Lanes past the row load −∞, so they add e^−∞ = 0 to the total.
            var x = TV.Exp(Lanes.LoadTail<TV>(s + j, r, float.NegativeInfinity) - m);
            Lanes.StoreTail(x, s + j, r);
            total += x;
        }
        return TV.Sum(total);
    }

    /// <summary>ds[j] ← p[j]·(ds[j] − rowDot): the softmax backward of one row, dP in ds on entry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SoftmaxTerm<TV>(float* p, float* ds, int n, float rowDot) where TV : struct, IFloatVector<TV>
    {
        var d = TV.Broadcast(rowDot);
        for (int j = 0, w = TV.Count; j < n; j += w)
        {
            int r = Math.Min(w, n - j);
            Lanes.StoreTail(Lanes.LoadTail<TV>(p + j, r) * (Lanes.LoadTail<TV>(ds + j, r) - d), ds + j, r);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleRow<TV>(float* x, int n, float factor) where TV : struct, IFloatVector<TV>
    {
        var f = TV.Broadcast(factor);
        for (int j = 0, w = TV.Count; j < n; j += w)
        {
            int r = Math.Min(w, n - j);
            Lanes.StoreTail(Lanes.LoadTail<TV>(x + j, r) * f, x + j, r);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TV>(float* x, float* y, int n) where TV : struct, IFloatVector<TV>
    {
        TV acc = default;
        for (int j = 0, w = TV.Count; j < n; j += w)
        {
            int r = Math.Min(w, n - j);
            acc = TV.MultiplyAdd(Lanes.LoadTail<TV>(x + j, r), Lanes.LoadTail<TV>(y + j, r), acc);
        }
        return TV.Sum(acc);
    }
}
