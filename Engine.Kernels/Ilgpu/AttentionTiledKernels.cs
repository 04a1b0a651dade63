using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Fused scaled dot-product attention with shared-memory tiles (FlashAttention-1's blocking, one thread per row): the
/// math of <see cref="AttentionKernels"/> (s_ij = scale·q_i·k_j over the keys query i sees, lse_i = log Σ_j e^(s_ij),
/// p_ij = e^(s_ij − lse_i), o_i = Σ_j p_ij·v_j; backward D_i = dO_i·o_i, ds_ij = p_ij·(dO_i·v_j − D_i),
/// dq_i += scale·Σ_j ds_ij·k_j, dk_j += scale·Σ_i ds_ij·q_i, dv_j += Σ_i p_ij·dO_i), with no [L, S] matrix anywhere:
/// scores live in registers, 8 at a time (<see cref="Scores8"/>).
/// </summary>
/// <remarks>
/// <para>
/// Blocking. A group of R threads (R = 64, 32 or 16, <see cref="ForwardRows"/> and its siblings: the largest whose
/// shared memory fits the pool) owns R consecutive rows of one head, thread r row r: query rows in
/// <see cref="Forward"/> and <see cref="QueryGrads"/>, key rows in <see cref="KeyGrads"/>. Everything a thread owns (its
/// query or key row, its value or output-gradient row, its accumulators) sits in shared memory as [dimension][R]: at
/// each dimension the R threads touch R consecutive words, one per bank, with no conflict. The other side is walked
/// in tiles of 8 rows (keys and values, or queries, output gradients, lse and D), each staged once per group, stored
/// [dimension][8] and written in the order of that layout (no conflict) by all R threads together (a warp's global
/// reads span 8 rows, whose cache lines the next dimensions reuse); every thread then reads a tile's 8 values at one
/// dimension as two 16-byte broadcast loads (LDS.128) and does 8 FMAs with one own value (one conflict-free 4-byte
/// load). So a tile row read from global memory serves R rows, where the per-row kernels read it once per row.
/// </para>
/// <para>
/// Shared memory. One static pool of <see cref="PoolFloats"/> floats (41 024 bytes: under CUDA's 48 KB static limit)
/// carved at run time from E, Ev and R. Accumulators stay in the pool, not in global memory: a thread's row is R words
/// apart from its neighbours' there, where in global memory each access would touch R different cache lines. With
/// E, Ev ≤ 64 the forward runs R = 64, the backward R = 32; at 128 the forward R = 32 and the backward R = 16 (half a
/// warp idle: the own rows, 2·(E + Ev) floats a key, are what does not fit).
/// </para>
/// <para>
/// Masking. Loop bounds depend on the group's block only, so every thread reaches every barrier: rows past L or S
/// run with zeros and write nothing; tiles wholly above a causal diagonal are skipped for the whole group (keys past
/// the block's last query, queries before the block's first key), and inside a tile each element outside
/// [0, KeysSeenBy(i)) (forward, dq) or i ∉ [causal ? j : 0, L) (dk, dv) is set to −∞ before the exponential.
/// Backward results are added to dq, dk, dv (the <see cref="IKernels.AttentionBackward"/> contract) once per row at
/// the end, by the thread that owns the row: deterministic, no atomics.
/// </para>
/// <para>
/// ptxas (sm_90, CUDA 11.8, PTX from ILGPU 1.5.3; the <c>ptx</c> report): Forward 32 registers, QueryGrads 40,
/// KeyGrads 56, no spill, no local memory, 41 024 bytes of shared memory each (at most 5 groups an H100/H200 SM).
/// ptxas unrolls the score loop 4×: per dimension one LDS, two LDS.128, 8 FFMA. Not yet run or timed on a GPU.
/// </para>
/// NOTE: the online softmax subtracts the running maximum before exponentiating (e^x ≤ 1), and rescales the
/// accumulator by e^(m_old − m_new) when the maximum grows; the backward subtracts the saved lse_i.
/// </remarks>
public static class AttentionTiledKernels
{
    /// <summary>Widest head (E) or value (Ev) row the tiles take; wider ones run the per-row kernels.</summary>
    public const int MaxWidth = 128;

    /// <summary>Rows of the other side staged per tile: keys (forward, dq) or queries (dk, dv).</summary>
    public const int Tile = 8;

    /// <summary>
    /// Floats of the static shared-memory pool each group carves its rows and tiles from: 40 KB, and the 16 floats of
    /// lse and D that <see cref="KeyGrads"/> stages beside them at E = Ev = 128.
    /// </summary>
    public const int PoolFloats = 10240 + 2 * Tile;

    /// <summary>Shared memory a group needs: an accelerator that offers less runs the per-row kernels.</summary>
    public const int PoolBytes = PoolFloats * sizeof(float);

    /// <summary>Pool floats <see cref="Forward"/> needs: q and the output accumulator per row, one K-or-V tile.</summary>
    public static int ForwardFloats(int rows, int e, int ev) => rows * (e + ev) + Tile * Math.Max(e, ev);

    /// <summary>Pool floats <see cref="QueryGrads"/> needs: q, dO and dq per row, a K tile and a V tile.</summary>
    public static int QueryGradFloats(int rows, int e, int ev) => rows * (2 * e + ev) + Tile * (e + ev);

    /// <summary>Pool floats <see cref="KeyGrads"/> needs: k, v, dk, dv per row, Q, dO, lse and D tiles.</summary>
    public static int KeyGradFloats(int rows, int e, int ev) => 2 * rows * (e + ev) + Tile * (e + ev) + 2 * Tile;

    /// <summary>Threads (rows) per group of <see cref="Forward"/>, or 0 when the per-row kernel must run.</summary>
    public static int ForwardRows(AttentionShape a, int maxThreads) => Rows(a, maxThreads, ForwardFloats);

    /// <summary>Threads (rows) per group of <see cref="QueryGrads"/>, or 0 when the per-row kernel must run.</summary>
    public static int QueryGradRows(AttentionShape a, int maxThreads) => Rows(a, maxThreads, QueryGradFloats);

    /// <summary>Threads (rows) per group of <see cref="KeyGrads"/>, or 0 when the per-row kernel must run.</summary>
    public static int KeyGradRows(AttentionShape a, int maxThreads) => Rows(a, maxThreads, KeyGradFloats);

    /// <summary>The largest of 64, 32, 16 rows whose pool fits and the accelerator's groups allow; 0 when none does.</summary>
    private static int Rows(AttentionShape a, int maxThreads, Func<int, int, int, int> floats)
    {
        if (a.Keys == 0 || a.HeadDim > MaxWidth || a.ValueDim > MaxWidth) return 0;
        for (int rows = 64; rows >= 16; rows /= 2)
            if (rows <= maxThreads && floats(rows, a.HeadDim, a.ValueDim) <= PoolFloats) return rows;
        return 0;
    }

    /// <summary>
    /// The tile of rows <paramref name="first"/> … first + 7 of a row-major [·, width] tensor as [dimension][8]:
    /// tile[d·8 + t] = src[(first + t)·width + d], zero for t ≥ <paramref name="count"/>. Element n of the tile is
    /// written by thread n mod R, so a warp writes consecutive words.
    /// </summary>
    private static void Stage(ArrayView<float> src, int first, int count, int width, ArrayView<float> tile, int r,
        int rows)
    {
        for (int n = r, end = Tile * width; n < end; n += rows)
        {
            int t = n % Tile, d = n / Tile;
            tile[n] = t < count ? src[(first + t) * width + d] : 0f;
        }
    }

    /// <summary>Row <paramref name="row"/> of a [·, width] tensor into column r of an own-row area [width][R] (or zeros).</summary>
    private static void Own(ArrayView<float> src, int row, bool valid, int width, ArrayView<float> pool, int at, int r,
        int rows)
    {
        for (int d = 0; d < width; d++) pool[at + d * rows + r] = valid ? src[row * width + d] : 0f;
    }

    /// <summary>
    /// o_i and lse_i (into stats[head·L + i]) for R query rows per group, groups striding over the (head, block of R
    /// queries) pairs. Per tile of 8 keys: stage K; s_j = scale·q_i·k_j (masked); m' = max(m, max_j s_j);
    /// p_j = e^(s_j − m'); l ← l·e^(m − m') + Σ_j p_j; stage V (same buffer); acc_i ← acc_i·e^(m − m') + Σ_j p_j·v_j.
    /// At the end o_i = acc_i / l and lse_i = m + ln l. Pool: q [E][R], acc [Ev][R], tile [max(E, Ev)][8].
    /// </summary>
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> stats, AttentionShape a)
    {
        var pool4 = SharedMemory.Allocate<Float4>(PoolFloats / 4);
        var pool = pool4.Cast<float>();
        int rows = Group.DimX, r = Group.IdxX;
        int e = a.HeadDim, ev = a.ValueDim, queries = a.Queries, keys = a.Keys;
        int accAt = rows * e, tileAt = rows * (e + ev);
        var tile = pool.SubView(tileAt, PoolFloats - tileAt);
        var tile4 = pool4.SubView(tileAt / 4, (PoolFloats - tileAt) / 4);
        int perHead = (queries + rows - 1) / rows;
        for (int block = Grid.IdxX, step = Grid.DimX, end = a.Items * perHead; block < end; block += step)
        {
            int head = block / perHead, q0 = block % perHead * rows, i = q0 + r, row = head * queries + i;
            bool valid = i < queries;
            Own(q, row, valid, e, pool, 0, r, rows);
            for (int c = 0; c < ev; c++) pool[accAt + c * rows + r] = 0f;
            int seen = a.KeysSeenBy(i);
            int keyEnd = a.Causal != 0 ? XMath.Min(keys, XMath.Min(queries, q0 + rows)) : keys;
            float m = float.NegativeInfinity, l = 0f;
            for (int j0 = 0; j0 < keyEnd; j0 += Tile)
            {
                int count = XMath.Min(Tile, keys - j0);
                Group.Barrier(); // the previous tile's V is read
                Stage(k, head * keys + j0, count, e, tile, r, rows);
                Group.Barrier();
                var s = default(Scores8);
                for (int d = 0; d < e; d++) s.Add(pool[d * rows + r], tile4[2 * d], tile4[2 * d + 1]);
                s.Keep(j0, 0, seen, a.Scale);
                float grown = XMath.Max(m, s.Max());
                float rescale = XMath.Exp(m - grown);
                s.Exp(grown);
                l = l * rescale + s.Sum();
                m = grown;
                Group.Barrier(); // K is read
                Stage(v, head * keys + j0, count, ev, tile, r, rows);
                Group.Barrier();
                for (int c = 0; c < ev; c++)
                {
                    int at = accAt + c * rows + r;
                    pool[at] = pool[at] * rescale + s.Dot(tile4[2 * c], tile4[2 * c + 1]);
                }
            }
            if (valid)
            {
                float inverse = 1f / l;
                for (int c = 0; c < ev; c++) o[row * ev + c] = pool[accAt + c * rows + r] * inverse;
                stats[row] = m + XMath.Log(l);
            }
        }
    }

    /// <summary>
    /// dq_i += scale·Σ_j ds_ij·k_j for R query rows per group, reading lse_i and D_i from stats (D written by
    /// <see cref="AttentionKernels.RowDots"/> first). Per tile of 8 keys: stage K and V; p_j = e^(s_j − lse_i) with s
    /// masked as in <see cref="Forward"/>; ds_j = scale·p_j·(dO_i·v_j − D_i); acc_i += Σ_j ds_j·k_j. Pool: q [E][R],
    /// dO [Ev][R], acc [E][R], K tile [E][8], V tile [Ev][8].
    /// </summary>
    public static void QueryGrads(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> dOut,
        ArrayView<float> stats, ArrayView<float> dq, AttentionShape a)
    {
        var pool4 = SharedMemory.Allocate<Float4>(PoolFloats / 4);
        var pool = pool4.Cast<float>();
        int rows = Group.DimX, r = Group.IdxX;
        int e = a.HeadDim, ev = a.ValueDim, queries = a.Queries, keys = a.Keys, total = a.Items * queries;
        int dOutAt = rows * e, accAt = rows * (e + ev), kAt = rows * (2 * e + ev), vAt = kAt + Tile * e;
        var kTile = pool.SubView(kAt, Tile * e);
        var vTile = pool.SubView(vAt, Tile * ev);
        var kTile4 = pool4.SubView(kAt / 4, Tile * e / 4);
        var vTile4 = pool4.SubView(vAt / 4, Tile * ev / 4);
        int perHead = (queries + rows - 1) / rows;
        for (int block = Grid.IdxX, step = Grid.DimX, end = a.Items * perHead; block < end; block += step)
        {
            int head = block / perHead, q0 = block % perHead * rows, i = q0 + r, row = head * queries + i;
            bool valid = i < queries;
            Own(q, row, valid, e, pool, 0, r, rows);
            Own(dOut, row, valid, ev, pool, dOutAt, r, rows);
            for (int d = 0; d < e; d++) pool[accAt + d * rows + r] = 0f;
            float lse = valid ? stats[row] : 0f, rowDot = valid ? stats[total + row] : 0f;
            int seen = a.KeysSeenBy(i);
            int keyEnd = a.Causal != 0 ? XMath.Min(keys, XMath.Min(queries, q0 + rows)) : keys;
            for (int j0 = 0; j0 < keyEnd; j0 += Tile)
            {
                int count = XMath.Min(Tile, keys - j0);
                Group.Barrier(); // the previous tiles are read
                Stage(k, head * keys + j0, count, e, kTile, r, rows);
                Stage(v, head * keys + j0, count, ev, vTile, r, rows);
                Group.Barrier();
                var s = default(Scores8);
                for (int d = 0; d < e; d++) s.Add(pool[d * rows + r], kTile4[2 * d], kTile4[2 * d + 1]);
                s.Keep(j0, 0, seen, a.Scale);
                s.Exp(lse);
                var dp = default(Scores8);
                for (int c = 0; c < ev; c++) dp.Add(pool[dOutAt + c * rows + r], vTile4[2 * c], vTile4[2 * c + 1]);
                s.ToGrad(dp, rowDot, a.Scale);
                for (int d = 0; d < e; d++)
                {
                    int at = accAt + d * rows + r;
                    pool[at] += s.Dot(kTile4[2 * d], kTile4[2 * d + 1]);
                }
            }
            if (valid)
                for (int d = 0; d < e; d++) dq[row * e + d] += pool[accAt + d * rows + r];
        }
    }

    /// <summary>
    /// dv_j += Σ_i p_ij·dO_i and dk_j += scale·Σ_i ds_ij·q_i for R key rows per group (an empty dk or dv is not
    /// written). Per tile of 8 queries i (from the block's first key on when causal): stage Q, dO, lse, D;
    /// p_i = e^(scale·q_i·k_j − lse_i), 0 for i ∉ [causal ? j : 0, L); dv acc += Σ_i p_i·dO_i;
    /// ds_i = scale·p_i·(dO_i·v_j − D_i); dk acc += Σ_i ds_i·q_i. Pool: k [E][R], v [Ev][R], dk [E][R], dv [Ev][R],
    /// Q tile [E][8], dO tile [Ev][8], lse [8], D [8].
    /// </summary>
    public static void KeyGrads(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> dOut,
        ArrayView<float> stats, ArrayView<float> dk, ArrayView<float> dv, AttentionShape a)
    {
        var pool4 = SharedMemory.Allocate<Float4>(PoolFloats / 4);
        var pool = pool4.Cast<float>();
        int rows = Group.DimX, r = Group.IdxX;
        int e = a.HeadDim, ev = a.ValueDim, queries = a.Queries, keys = a.Keys, total = a.Items * queries;
        int vAt = rows * e, dkAt = rows * (e + ev), dvAt = rows * (2 * e + ev), qAt = 2 * rows * (e + ev);
        int dOutAt = qAt + Tile * e, lseAt = dOutAt + Tile * ev, dAt = lseAt + Tile;
        var qTile = pool.SubView(qAt, Tile * e);
        var dOutTile = pool.SubView(dOutAt, Tile * ev);
        var qTile4 = pool4.SubView(qAt / 4, Tile * e / 4);
        var dOutTile4 = pool4.SubView(dOutAt / 4, Tile * ev / 4);
        bool wantK = dk.Length > 0, wantV = dv.Length > 0;
        int perHead = (keys + rows - 1) / rows;
        for (int block = Grid.IdxX, step = Grid.DimX, end = a.Items * perHead; block < end; block += step)
        {
            int head = block / perHead, k0 = block % perHead * rows, j = k0 + r, keyRow = head * keys + j;
            bool valid = j < keys;
            Own(k, keyRow, valid, e, pool, 0, r, rows);
            Own(v, keyRow, valid, ev, pool, vAt, r, rows);
            for (int d = 0; d < e; d++) pool[dkAt + d * rows + r] = 0f;
            for (int c = 0; c < ev; c++) pool[dvAt + c * rows + r] = 0f;
            // Causal: the queries that see key j are i ≥ j; none before the block's first key k0.
            int lo = a.Causal != 0 ? j : 0;
            for (int i0 = a.Causal != 0 ? k0 / Tile * Tile : 0; i0 < queries; i0 += Tile)
            {
                int count = XMath.Min(Tile, queries - i0);
                Group.Barrier(); // the previous tiles are read
                Stage(q, head * queries + i0, count, e, qTile, r, rows);
                Stage(dOut, head * queries + i0, count, ev, dOutTile, r, rows);
                if (r < Tile)
                {
                    bool inside = r < count;
                    pool[lseAt + r] = inside ? stats[head * queries + i0 + r] : 0f;
                    pool[dAt + r] = inside ? stats[total + head * queries + i0 + r] : 0f;
                }
                Group.Barrier();
                var s = default(Scores8);
                for (int d = 0; d < e; d++) s.Add(pool[d * rows + r], qTile4[2 * d], qTile4[2 * d + 1]);
                s.Keep(i0, lo, queries, a.Scale);
                s.Exp(pool4[lseAt / 4], pool4[lseAt / 4 + 1]);
                var dp = default(Scores8);
                for (int c = 0; c < ev; c++)
                {
                    var d0 = dOutTile4[2 * c];
                    var d1 = dOutTile4[2 * c + 1];
                    dp.Add(pool[vAt + c * rows + r], d0, d1);
                    pool[dvAt + c * rows + r] += s.Dot(d0, d1);
                }
                s.ToGrad(dp, pool4[dAt / 4], pool4[dAt / 4 + 1], a.Scale);
                for (int d = 0; d < e; d++)
                {
                    int at = dkAt + d * rows + r;
                    pool[at] += s.Dot(qTile4[2 * d], qTile4[2 * d + 1]);
                }
            }
            if (valid && wantK)
                for (int d = 0; d < e; d++) dk[keyRow * e + d] += pool[dkAt + d * rows + r];
            if (valid && wantV)
                for (int c = 0; c < ev; c++) dv[keyRow * ev + c] += pool[dvAt + c * rows + r];
        }
    }

    /// <summary>Groups for <paramref name="blocks"/> (head, block of rows) pairs: one each, up to 4 per grid-stride slot.</summary>
    private static KernelConfig Groups(KernelContext c, long blocks, int rows) =>
        new((int)Math.Clamp(blocks, 1, c.MaxGroups * 4L), rows);

    /// <summary>Launches <see cref="Forward"/> with <paramref name="rows"/> from <see cref="ForwardRows"/>.</summary>
    public static void TiledAttentionForward(this KernelContext c, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> stats, AttentionShape a, int rows) =>
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            AttentionShape>(Forward)(Groups(c, (long)a.Items * ((a.Queries + rows - 1) / rows), rows),
            q, k, v, o, stats, a);

    /// <summary>Launches <see cref="QueryGrads"/> with <paramref name="rows"/> from <see cref="QueryGradRows"/>.</summary>
    public static void TiledAttentionQueryGrads(this KernelContext c, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> dOut, ArrayView<float> stats, ArrayView<float> dq, AttentionShape a,
        int rows) =>
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, AttentionShape>(QueryGrads)(
            Groups(c, (long)a.Items * ((a.Queries + rows - 1) / rows), rows), q, k, v, dOut, stats, dq, a);

    /// <summary>Launches <see cref="KeyGrads"/> with <paramref name="rows"/> from <see cref="KeyGradRows"/>.</summary>
    public static void TiledAttentionKeyGrads(this KernelContext c, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> dOut, ArrayView<float> stats, ArrayView<float> dk, ArrayView<float> dv,
        AttentionShape a, int rows) =>
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, AttentionShape>(KeyGrads)(
            Groups(c, (long)a.Items * ((a.Keys + rows - 1) / rows), rows), q, k, v, dOut, stats, dk, dv, a);
}

/// <summary>Which attention kernels a <see cref="KernelContext"/> launches.</summary>
public enum AttentionVariant
{
    /// <summary>One thread per row, no shared memory (<see cref="AttentionKernels"/>; ILGPU's CPU accelerator).</summary>
    PerRow,

    /// <summary>
    /// Shared-memory tiles (<see cref="AttentionTiledKernels"/>; GPUs and OpenCL), falling back to
    /// <see cref="PerRow"/> for shapes the tiles do not take (E or Ev over 128, no keys) and accelerators without
    /// 16-thread groups or <see cref="AttentionTiledKernels.PoolBytes"/> of shared memory a group.
    /// </summary>
    Tiled,
}
