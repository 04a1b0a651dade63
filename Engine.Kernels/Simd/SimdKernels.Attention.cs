using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Fused attention, the math of Ilgpu/AttentionKernels.cs (stated there), blocked as FlashAttention: queries in blocks
/// of <see cref="QueryBlock"/> rows, keys in blocks of <see cref="KeyBlock"/>. Every block product is the engine's
/// GEMM micro-kernel on one thread over a 64×64 score tile in that thread's scratch (16 KB: it stays in L1), so no
/// [L, S] matrix exists; the operands are packed into the micro-kernel's panels once per head, not once per tile
/// (<see cref="Gemm.MultiplyPanels{TV}"/>), and a score tile is read in place as the next product's transposed operand.
/// </summary>
/// <remarks>
/// The forward's parts are heads (or runs of a head's query blocks, when there are fewer heads than twice the threads):
/// a part packs its head's K (as A panels) and V (as B panels) into its thread's scratch, where they stay in L2, and
/// for each query block packs Qᵀ and, per key block, computes the transposed tile Sᵀ = scale·K·Qᵀ ([key, query]): the
/// online softmax then runs down its columns, a vector of queries at a time, with no horizontal reductions (running
/// maximum m, running sum l, and the factor e^(m_old − m_new) that rescales the unnormalised output row), and O += P·V
/// reads Sᵀ in place as P stored transposed. On the causal diagonal a tile skips the key panels no query of a query
/// panel sees, and P·V stops at the last key each query panel sees.
/// The backward's work items are whole heads: a head's thread packs its Q, K, V and dO once, walks key blocks and,
/// within each, the query blocks that see it: S = scale·Q·Kᵀ and dP = dO·Vᵀ from packed panels, P = e^(S − lse) and
/// dS = P ⊙ (dP − D) row by row, then dV += Pᵀ·dO and dK += scale·dSᵀ·Q read P and dS in place as transposed A
/// panels, and dQ += scale·dS·K broadcasts from dS's rows where they are (<see cref="Gemm.MultiplyRowsByPanels{TV}"/>). It alone writes that head's dQ, dK and dV (no atomics, sums in a fixed order).
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

    private static int RoundUp(int n, int unit) => (n + unit - 1) / unit * unit;

    public void AttentionForward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> stats, AttentionShape shape)
    {
        if (shape.Items == 0 || shape.Queries == 0) return;
        if (shape.Keys == 0)
        {
            new Span<float>(Ptr(o), (int)o.Length).Clear();
            return;
        }
        // A part is a head, or a run of a head's query blocks when there are too few heads to keep every thread busy.
        int blocks = (shape.Queries + QueryBlock - 1) / QueryBlock;
        int splits = Math.Clamp((2 * Pool.Threads + shape.Items - 1) / shape.Items, 1, blocks);
        Pool.Run(new AttentionForwardWork(Ptr(q), Ptr(k), Ptr(v), Ptr(o), Ptr(stats), shape, blocks, splits, Lanes.Wide),
            shape.Items * splits);
    }

    public void AttentionBackward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> dOut, ArrayView<float> stats, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        AttentionShape shape)
    {
        if (shape.Items == 0 || shape.Queries == 0 || shape.Keys == 0) return;
        var work = new AttentionBackwardWork(Ptr(q), Ptr(k), Ptr(v), Ptr(o), Ptr(dOut), Ptr(stats),
            dq.Length > 0 ? Ptr(dq) : null, dk.Length > 0 ? Ptr(dk) : null, dv.Length > 0 ? Ptr(dv) : null, shape,
            Lanes.Wide);
        Pool.Run(work, shape.Items);
    }

    /// <summary>
    /// One head, or a run of its query blocks, per part: its K (as A panels) and V (as B panels) up to the last key the
    /// run sees are packed into the thread's scratch (they stay in L2), then each query block goes over them.
    /// </summary>
    private sealed class AttentionForwardWork(float* q, float* k, float* v, float* o, float* stats, AttentionShape a,
        int blocks, int splits, bool wide) : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            if (wide) Run<F512>(part);
            else Run<F256>(part);
        }

        [MethodImpl(Lanes.Hot)]
        private void Run<TV>(int part) where TV : struct, IFloatVector<TV>
        {
            int head = part / splits, split = part % splits;
            int firstBlock = (int)((long)blocks * split / splits), endBlock = (int)((long)blocks * (split + 1) / splits);
            int e = a.HeadDim, ev = a.ValueDim, nr = 2 * TV.Count, mr = Gemm.PanelHeight, evPad = RoundUp(ev, nr);
            int keys = a.KeysSeenBy(Math.Min(a.Queries, endBlock * QueryBlock) - 1);
            long keyPanels = (long)RoundUp(keys, mr) * e, valuePanels = (long)keys * evPad;
            float* scratch = AttentionScratch(keyPanels + valuePanels + KeyBlock * QueryBlock + QueryBlock * (long)e +
                                              QueryBlock * (long)evPad + 3 * QueryBlock);
            float* kp = scratch, vp = kp + keyPanels, st = vp + valuePanels, qt = st + KeyBlock * QueryBlock;
            float* acc = qt + QueryBlock * e, max = acc + QueryBlock * evPad, sum = max + QueryBlock;
            float* rescale = sum + QueryBlock;
            Gemm.PackA<AsStored>(k + (long)head * a.Keys * e, kp, 0, keys, 0, e, e);
            Gemm.PackB<AsStored>(v + (long)head * a.Keys * ev, vp, 0, keys, 0, ev, ev, nr, null);
            for (int block = firstBlock; block < endBlock; block++)
            {
                int q0 = block * QueryBlock, rows = Math.Min(QueryBlock, a.Queries - q0);
                QueryBlockForward<TV>(head, q0, rows, kp, vp, keys, st, qt, acc, max, sum, rescale);
            }
        }

        /// <summary>The online softmax over the key blocks query block [q0, q0 + rows) sees.</summary>
        [MethodImpl(Lanes.Hot)]
        private void QueryBlockForward<TV>(int head, int q0, int rows, float* kp, float* vp, int packedKeys, float* st,
            float* qt, float* acc, float* max, float* sum, float* rescale) where TV : struct, IFloatVector<TV>
        {
            int e = a.HeadDim, ev = a.ValueDim;
            int nr = 2 * TV.Count, mr = Gemm.PanelHeight, w = TV.Count, evPad = RoundUp(ev, nr);
            int queryCols = RoundUp(rows, nr), queryRows = RoundUp(rows, mr);
            new Span<float>(acc, QueryBlock * evPad).Clear();
            new Span<float>(max, QueryBlock).Fill(float.NegativeInfinity);
            new Span<float>(sum, QueryBlock).Clear();
            Gemm.PackB<AsTransposed>(q + ((long)head * a.Queries + q0) * e, qt, 0, e, 0, rows, e, nr, null);
            int keyEnd = a.KeysSeenBy(q0 + rows - 1);
            for (int k0 = 0; k0 < keyEnd; k0 += KeyBlock)
            {
                int cols = Math.Min(KeyBlock, keyEnd - k0);
                // Whether some key of the block lies past some query of the block (the causal diagonal).
                bool diagonal = a.Causal != 0 && k0 + cols - 1 > q0;
                // Sᵀ = scale·K·Qᵀ, one panel of 8 keys at a time on the diagonal (from the first query panel that
                // sees one of them).
                if (!diagonal)
                {
                    Gemm.MultiplyPanels<TV>(kp + (long)k0 * e, mr, mr * e, qt, nr, nr * e, st, QueryBlock, RoundUp(cols, mr),
                        queryCols, e, accumulate: false, a.Scale);
                }
                else
                {
                    for (int ir = 0; ir < cols; ir += mr)
                    {
                        int from = Math.Max(0, k0 + ir - q0) / nr * nr;
                        if (from < queryCols)
                            Gemm.MultiplyPanels<TV>(kp + (long)(k0 + ir) * e, mr, mr * e, qt + from * e, nr, nr * e,
                                st + ir * QueryBlock + from, QueryBlock, mr, queryCols - from, e, accumulate: false, a.Scale);
                    }
                }
                for (int c = 0; c < queryRows; c += w)
                    OnlineSoftmaxColumns<TV>(st + c, cols, max + c, sum + c, rescale + c, diagonal, q0 + c - k0);
                for (int r = 0; r < rows; r++)
                    if (rescale[r] != 1f) ScaleRow<TV>(acc + r * evPad, evPad, rescale[r]);
                // O += P·V with P = (Sᵀ)ᵀ read in place; on the diagonal each panel of 8 queries stops at its last key.
                float* vb = vp + (long)k0 * nr;
                if (!diagonal)
                {
                    Gemm.MultiplyPanels<TV>(st, QueryBlock, mr, vb, nr, (long)nr * packedKeys, acc, evPad, queryRows, evPad, cols,
                        accumulate: true);
                }
                else
                {
                    for (int ir = 0; ir < queryRows; ir += mr)
                    {
                        int seen = Math.Clamp(q0 + ir + mr - k0, 0, cols);
                        Gemm.MultiplyPanels<TV>(st + ir, QueryBlock, mr, vb, nr, (long)nr * packedKeys, acc + ir * evPad, evPad, mr,
                            evPad, seen, accumulate: true);
                    }
                }
            }
            float* oh = o + ((long)head * a.Queries + q0) * ev;
            float* lse = stats + (long)head * a.Queries + q0;
            for (int r = 0; r < rows; r++)
            {
                float inverse = 1f / sum[r];
                for (int c = 0; c < ev; c++) oh[r * ev + c] = acc[r * evPad + c] * inverse;
                lse[r] = max[r] + MathF.Log(sum[r]);
            }
        }
    }

    /// <summary>
    /// The online softmax down a vector of query columns of a transposed score tile (rows <paramref name="cols"/> keys,
    /// <see cref="QueryBlock"/> apart): m_new = max(m, max_j s_j), s_j ← e^(s_j − m_new) (0 where the key is masked),
    /// l ← l·e^(m − m_new) + Σ_j s_j, and that factor into <paramref name="rescale"/>. On the causal diagonal key j is
    /// seen by the lane's query when j ≤ <paramref name="queryMinusKey"/> + lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OnlineSoftmaxColumns<TV>(float* s, int cols, float* max, float* sum, float* rescale,
        bool diagonal, int queryMinusKey) where TV : struct, IFloatVector<TV>
    {
        TV oldMax = TV.Load(max), best = oldMax, minusInfinity = TV.Broadcast(float.NegativeInfinity);
        TV lastSeen = TV.Broadcast(queryMinusKey) + TV.Load(LaneIndices);
        for (int j = 0; j < cols; j++)
        {
            TV x = TV.Load(s + j * QueryBlock);
            if (diagonal) x = TV.Select(TV.LessThanOrEqual(TV.Broadcast(j), lastSeen), x, minusInfinity);
            best = TV.Max(best, x);
        }
        TV total = default;
        for (int j = 0; j < cols; j++)
        {
            TV x = TV.Load(s + j * QueryBlock);
            if (diagonal) x = TV.Select(TV.LessThanOrEqual(TV.Broadcast(j), lastSeen), x, minusInfinity);
            x = TV.Exp(x - best);
            TV.Store(x, s + j * QueryBlock);
            total += x;
        }
        // A lane that has seen no key yet keeps m = −∞ (its factor is 1, its sum 0).
        TV factor = TV.Select(TV.Equal(best, minusInfinity), TV.Broadcast(1f), TV.Exp(oldMax - best));
        TV.Store(best, max);
        TV.Store(TV.Load(sum) * factor + total, sum);
        TV.Store(factor, rescale);
    }

    /// <summary>0, 1, …, 15: the lane numbers of a vector.</summary>
    private static readonly float* LaneIndices = CreateLaneIndices();

    private static float* CreateLaneIndices()
    {
        var lanes = (float*)NativeMemory.AlignedAlloc(16 * sizeof(float), 64);
        for (int i = 0; i < 16; i++) lanes[i] = i;
        return lanes;
    }

    /// <summary>One head of the backward per part.</summary>
    private sealed class AttentionBackwardWork(float* q, float* k, float* v, float* o, float* dOut, float* stats,
        float* dq, float* dk, float* dv, AttentionShape a, bool wide) : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            if (wide) Run<F512>(part);
            else Run<F256>(part);
        }

        [MethodImpl(Lanes.Hot)]
        private void Run<TV>(int head) where TV : struct, IFloatVector<TV>
        {
            int l = a.Queries, s = a.Keys, e = a.HeadDim, ev = a.ValueDim;
            int nr = 2 * TV.Count, mr = Gemm.PanelHeight, ePad = RoundUp(e, nr), evPad = RoundUp(ev, nr);
            int lRows = RoundUp(l, mr), sCols = RoundUp(s, nr);
            long rows = (long)a.Items * l;
            long tile = KeyBlock * QueryBlock;
            float* scratch = AttentionScratch(
                (long)lRows * e + (long)sCols * e + (long)lRows * ev + (long)sCols * ev // Q, Kᵀ, dO, Vᵀ as panels
                + (long)l * evPad + (long)l * ePad + (long)s * ePad                    // dO, Q, K as stored, panels
                + 2 * tile + (long)KeyBlock * (evPad + ePad) + (long)lRows * ePad);     // P, dS; sums
            float* qa = scratch, kt = qa + (long)lRows * e, doa = kt + (long)sCols * e, vt = doa + (long)lRows * ev;
            float* dob = vt + (long)sCols * ev, qb = dob + (long)l * evPad, kb = qb + (long)l * ePad;
            float* p = kb + (long)s * ePad, ds = p + tile;
            float* dvSum = ds + tile, dkSum = dvSum + KeyBlock * evPad, dqSum = dkSum + KeyBlock * ePad;
            float* qh = q + (long)head * l * e, kh = k + (long)head * s * e, vh = v + (long)head * s * ev;
            float* oh = o + (long)head * l * ev, doh = dOut + (long)head * l * ev;
            float* lse = stats + (long)head * l, rowDots = stats + rows + (long)head * l;
            for (int i = 0; i < l; i++) rowDots[i] = Dot<TV>(doh + (long)i * ev, oh + (long)i * ev, ev);
            bool keyGrads = dq != null || dk != null;
            Gemm.PackA<AsStored>(qh, qa, 0, l, 0, e, e);
            Gemm.PackB<AsTransposed>(kh, kt, 0, e, 0, s, e, nr, null);
            if (keyGrads)
            {
                Gemm.PackA<AsStored>(doh, doa, 0, l, 0, ev, ev);
                Gemm.PackB<AsTransposed>(vh, vt, 0, ev, 0, s, ev, nr, null);
            }
            // Q, K and dO as B operands with their rows as stored: read in place when a row is whole panels.
            var qRows = StoredPanels(qh, qb, l, e, nr, keyGrads);
            var kRows = StoredPanels(kh, kb, s, e, nr, keyGrads);
            var doRows = StoredPanels(doh, dob, l, ev, nr, dv != null);
            new Span<float>(dqSum, lRows * ePad).Clear();
            for (int k0 = 0; k0 < s; k0 += KeyBlock)
            {
                int cols = Math.Min(KeyBlock, s - k0), keyRows = RoundUp(cols, mr), keyCols = RoundUp(cols, nr);
                new Span<float>(dvSum, KeyBlock * evPad).Clear();
                new Span<float>(dkSum, KeyBlock * ePad).Clear();
                // Causal: only queries i ≥ k0 see this block.
                for (int q0 = a.Causal != 0 ? k0 : 0; q0 < l; q0 += QueryBlock)
                {
                    int rows0 = Math.Min(QueryBlock, l - q0), queryRows = RoundUp(rows0, mr);
                    Gemm.MultiplyPanels<TV>(qa + (long)q0 * e, mr, mr * e, kt + (long)k0 * e, nr, nr * e, p, KeyBlock,
                        queryRows, keyCols, e, accumulate: false, a.Scale);
                    for (int r = 0; r < rows0; r++)
                    {
                        int seen = Math.Clamp(a.KeysSeenBy(q0 + r) - k0, 0, cols);
                        float* pr = p + r * KeyBlock;
                        ExpShifted<TV>(pr, seen, lse[q0 + r]);
                        if (seen < keyCols) new Span<float>(pr + seen, keyCols - seen).Clear();
                    }
                    if (dv != null)
                        Gemm.MultiplyPanels<TV>(p, KeyBlock, mr, doRows.Row(q0), doRows.Step, doRows.Panel, dvSum, evPad, keyRows,
                            evPad, rows0, accumulate: true);
                    if (!keyGrads) continue;
                    Gemm.MultiplyPanels<TV>(doa + (long)q0 * ev, mr, mr * ev, vt + (long)k0 * ev, nr, nr * ev, ds, KeyBlock,
                        queryRows, keyCols, ev, accumulate: false);
                    for (int r = 0; r < rows0; r++)
                        SoftmaxTerm<TV>(p + r * KeyBlock, ds + r * KeyBlock, keyCols, rowDots[q0 + r]);
                    if (dk != null)
                        Gemm.MultiplyPanels<TV>(ds, KeyBlock, mr, qRows.Row(q0), qRows.Step, qRows.Panel, dkSum, ePad, keyRows,
                            ePad, rows0, accumulate: true, a.Scale);
                    if (dq != null)
                    {
                        Gemm.MultiplyRowsByPanels<TV>(ds, KeyBlock, kRows.Row(k0), kRows.Step, kRows.Panel,
                            dqSum + (long)q0 * ePad, ePad, queryRows, ePad, cols, accumulate: true, a.Scale);
                    }
                }
                if (dv != null) AddRows<TV>(dvSum, evPad, dv + ((long)head * s + k0) * ev, ev, cols);
                if (dk != null) AddRows<TV>(dkSum, ePad, dk + ((long)head * s + k0) * e, e, cols);
            }
            if (dq != null) AddRows<TV>(dqSum, ePad, dq + (long)head * l * e, e, l);
        }
    }

    /// <summary>A B operand of rows × width as panels: element (kk, j) at Row(kk) + (j / NR)·Panel + j % NR.</summary>
    private readonly struct PanelRows(float* start, int step, long panel)
    {
        public int Step { get; } = step;
        public long Panel { get; } = panel;
        public float* Row(int row) => start + (long)row * Step;
    }

    /// <summary>
    /// The row-major matrix <paramref name="x"/> (rows × width) as a B operand: in place when width is a multiple of
    /// NR (step = width, panel = NR), else packed into <paramref name="buffer"/> (step = NR, panel = NR·rows) when
    /// <paramref name="needed"/>.
    /// </summary>
    private static PanelRows StoredPanels(float* x, float* buffer, int rows, int width, int nr, bool needed)
    {
        if (width % nr == 0) return new PanelRows(x, width, nr);
        if (needed) Gemm.PackB<AsStored>(x, buffer, 0, rows, 0, width, width, nr, null);
        return new PanelRows(buffer, nr, (long)nr * rows);
    }

    /// <summary>target[r, 0..n) += source[r, 0..n) for <paramref name="rows"/> rows (strides as given).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRows<TV>(float* source, int sourceStride, float* target, int n, int rows)
        where TV : struct, IFloatVector<TV>
    {
        for (int r = 0; r < rows; r++)
        {
            float* x = source + (long)r * sourceStride, y = target + (long)r * n;
            for (int j = 0, w = TV.Count; j < n; j += w)
            {
                int count = Math.Min(w, n - j);
                Lanes.StoreTail(Lanes.LoadTail<TV>(y + j, count) + Lanes.LoadTail<TV>(x + j, count), y + j, count);
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
