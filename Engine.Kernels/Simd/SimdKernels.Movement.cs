using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Movement and strided reduction, the math of <see cref="MovementKernels"/>: the index space is walked in rows of its
/// last dimension (layouts arrive coalesced, so that is the longest run contiguous in every operand); a row whose
/// elements are contiguous on both sides is a vector copy, a repeated source a broadcast, anything else a scalar loop.
/// When the destination's run is the source's column (a permute that moves the unit-stride axis), the copy goes in
/// 32 × 32 tiles so both sides stay in L1, each an 8 × 8 register transpose where AVX is there. Large copies split their rows over the pool.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    /// <summary>Elements below which a movement kernel stays on the calling thread.</summary>
    private const int ParallelMovement = 1 << 16;

    public void StridedCopy(ArrayView<float> x, StridedLayout src, ArrayView<float> y, StridedLayout dst,
        bool accumulate)
    {
        int n = src.Count;
        if (n == 0) return;
        var job = new StridedCopyWork(Ptr(x), src, Ptr(y), dst, accumulate);
        if (n < ParallelMovement || Pool.Threads <= 1) job.Execute(0, 1);
        else Pool.Run(job, Pool.Threads);
    }

    private sealed class StridedCopyWork(float* x, StridedLayout src, float* y, StridedLayout dst, bool accumulate)
        : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            int len = src.Size7, rows = src.Count / len;
            int transposeAxis = TransposeAxis(src, dst);
            if (transposeAxis >= 0)
            {
                CopyTiled(part, parts, transposeAxis);
                return;
            }
            int from = (int)((long)rows * part / parts), to = (int)((long)rows * (part + 1) / parts);
            if (from >= to) return;
            // An odometer over the row axes 0–6 keeps both offsets current with additions only (a Map per row costs
            // 16 integer divisions, more than copying a short row).
            Span<int> size = stackalloc int[7], sx = stackalloc int[7], sy = stackalloc int[7], at = stackalloc int[7];
            for (int d = 0; d < 7; d++)
            {
                size[d] = src.Size(d);
                sx[d] = src.Stride(d);
                sy[d] = dst.Stride(d);
            }
            long ox = src.Map(from * len), oy = dst.Map(from * len);
            for (int d = 6, r = from; d >= 0; d--)
            {
                at[d] = r % size[d];
                r /= size[d];
            }
            for (int row = from; row < to; row++)
            {
                CopyRow(x + ox, src.Stride7, y + oy, dst.Stride7, len, accumulate);
                for (int d = 6; d >= 0; d--)
                {
                    ox += sx[d];
                    oy += sy[d];
                    if (++at[d] < size[d]) break;
                    ox -= (long)sx[d] * size[d];
                    oy -= (long)sy[d] * size[d];
                    at[d] = 0;
                }
            }
        }

        /// <summary>
        /// The axis p &lt; 7 along which the source is contiguous while the destination's last axis is (and the source's
        /// is not): copying rows would read one element per cache line, so the [p, 7] planes go by tiles.
        /// </summary>
        private static int TransposeAxis(StridedLayout src, StridedLayout dst)
        {
            if (dst.Stride7 != 1 || src.Stride7 == 1 || src.Size7 < 8) return -1;
            for (int p = 0; p < 7; p++)
                if (src.Stride(p) == 1 && src.Size(p) >= 8) return p;
            return -1;
        }

        [MethodImpl(Lanes.Hot)]
        private void CopyTiled(int part, int parts, int p)
        {
            const int Tile = 32;
            int cols = src.Size7, colsPlane = src.Size(p), planes = src.Count / (cols * colsPlane);
            int sp = dst.Stride(p), sxc = src.Stride7;
            // Enumerate the planes through a layout with axes p and 7 set to size 1.
            var outerSrc = src;
            var outerDst = dst;
            SetSize(ref outerSrc, p, 1);
            SetSize(ref outerDst, p, 1);
            outerSrc.Size7 = 1;
            outerDst.Size7 = 1;
            int tilesP = (colsPlane + Tile - 1) / Tile;
            long work = (long)planes * tilesP;
            long from = work * part / parts, to = work * (part + 1) / parts;
            for (long w = from; w < to; w++)
            {
                int plane = (int)(w / tilesP), p0 = (int)(w % tilesP) * Tile;
                float* xs = x + outerSrc.Map(plane);
                float* ys = y + outerDst.Map(plane);
                int p1 = Math.Min(colsPlane, p0 + Tile);
                for (int c0 = 0; c0 < cols; c0 += Tile)
                {
                    int c1 = Math.Min(cols, c0 + Tile);
                    int i = p0;
                    if (Avx.IsSupported)
                    {
                        // 8 × 8 blocks through registers: eight 8-float loads along the source's unit-stride axis,
                        // transposed by shuffles, stored as eight 8-float runs of the destination.
                        for (; i + 8 <= p1; i += 8)
                        {
                            int c = c0;
                            for (; c + 8 <= c1; c += 8)
                                Transpose8x8(xs + i + (long)c * sxc, sxc, ys + (long)i * sp + c, sp, accumulate);
                            for (int ii = i; ii < i + 8; ii++)
                                CopyColumnRun(xs + ii, sxc, ys + (long)ii * sp, c, c1, accumulate);
                        }
                    }
                    for (; i < p1; i++) CopyColumnRun(xs + i, sxc, ys + (long)i * sp, c0, c1, accumulate);
                }
            }
        }

        /// <summary>yr[c] (+)= xr[c·sxc] for c in [c0, c1).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopyColumnRun(float* xr, int sxc, float* yr, int c0, int c1, bool accumulate)
        {
            if (accumulate)
                for (int c = c0; c < c1; c++) yr[c] += xr[(long)c * sxc];
            else
                for (int c = c0; c < c1; c++) yr[c] = xr[(long)c * sxc];
        }

        /// <summary>
        /// y[r·sy + c] (+)= x[c·sx + r] for r, c in [0, 8): the classic unpack / shuffle / 128-bit-permute transpose.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Transpose8x8(float* x, int sx, float* y, int sy, bool accumulate)
        {
            var r0 = Avx.LoadVector256(x);
            var r1 = Avx.LoadVector256(x + sx);
            var r2 = Avx.LoadVector256(x + 2L * sx);
            var r3 = Avx.LoadVector256(x + 3L * sx);
            var r4 = Avx.LoadVector256(x + 4L * sx);
            var r5 = Avx.LoadVector256(x + 5L * sx);
            var r6 = Avx.LoadVector256(x + 6L * sx);
            var r7 = Avx.LoadVector256(x + 7L * sx);
            var t0 = Avx.UnpackLow(r0, r1);
            var t1 = Avx.UnpackHigh(r0, r1);
            var t2 = Avx.UnpackLow(r2, r3);
            var t3 = Avx.UnpackHigh(r2, r3);
            var t4 = Avx.UnpackLow(r4, r5);
            var t5 = Avx.UnpackHigh(r4, r5);
            var t6 = Avx.UnpackLow(r6, r7);
            var t7 = Avx.UnpackHigh(r6, r7);
            var s0 = Avx.Shuffle(t0, t2, 0x44);
            var s1 = Avx.Shuffle(t0, t2, 0xEE);
            var s2 = Avx.Shuffle(t1, t3, 0x44);
            var s3 = Avx.Shuffle(t1, t3, 0xEE);
            var s4 = Avx.Shuffle(t4, t6, 0x44);
            var s5 = Avx.Shuffle(t4, t6, 0xEE);
            var s6 = Avx.Shuffle(t5, t7, 0x44);
            var s7 = Avx.Shuffle(t5, t7, 0xEE);
            Store8(y, Avx.Permute2x128(s0, s4, 0x20), accumulate);
            Store8(y + sy, Avx.Permute2x128(s1, s5, 0x20), accumulate);
            Store8(y + 2L * sy, Avx.Permute2x128(s2, s6, 0x20), accumulate);
            Store8(y + 3L * sy, Avx.Permute2x128(s3, s7, 0x20), accumulate);
            Store8(y + 4L * sy, Avx.Permute2x128(s0, s4, 0x31), accumulate);
            Store8(y + 5L * sy, Avx.Permute2x128(s1, s5, 0x31), accumulate);
            Store8(y + 6L * sy, Avx.Permute2x128(s2, s6, 0x31), accumulate);
            Store8(y + 7L * sy, Avx.Permute2x128(s3, s7, 0x31), accumulate);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Store8(float* y, Vector256<float> v, bool accumulate)
        {
            if (accumulate) v = Avx.Add(v, Avx.LoadVector256(y));
            Avx.Store(y, v);
        }

        private static void SetSize(ref StridedLayout l, int d, int size)
        {
            switch (d)
            {
                case 0: l.Size0 = size; break;
                case 1: l.Size1 = size; break;
                case 2: l.Size2 = size; break;
                case 3: l.Size3 = size; break;
                case 4: l.Size4 = size; break;
                case 5: l.Size5 = size; break;
                default: l.Size6 = size; break;
            }
        }
    }

    /// <summary>y[j·sy] (+)= x[j·sx] for j in [0, len).</summary>
    [MethodImpl(Lanes.Hot)]
    private static void CopyRow(float* x, int sx, float* y, int sy, int len, bool accumulate)
    {
        if (sx == 1 && sy == 1)
        {
            if (!accumulate)
            {
                // Short runs (a cat's or a slice's rows) inline: the library copy's call and size dispatch cost more
                // than moving a few cache lines.
                if (len <= 256 && Vector256.IsHardwareAccelerated)
                {
                    int j = 0;
                    for (; j + 8 <= len; j += 8) Vector256.Store(Vector256.Load(x + j), y + j);
                    for (; j < len; j++) y[j] = x[j];
                    return;
                }
                Buffer.MemoryCopy(x, y, (long)len * sizeof(float), (long)len * sizeof(float));
                return;
            }
            if (Lanes.Wide) new AxpyBody<F512>(x, y, 1f).Run(0, len);
            else new AxpyBody<F256>(x, y, 1f).Run(0, len);
            return;
        }
        if (sx == 0 && sy == 1 && !accumulate)
        {
            new Span<float>(y, len).Fill(*x);
            return;
        }
        if (accumulate)
            for (int j = 0; j < len; j++) y[(long)j * sy] += x[(long)j * sx];
        else
            for (int j = 0; j < len; j++) y[(long)j * sy] = x[(long)j * sx];
    }

    public void StridedSum(ArrayView<float> x, StridedLayout outer, StridedLayout inner, ArrayView<float> y,
        float scale, bool accumulate)
    {
        int n = outer.Count;
        if (n == 0) return;
        var job = new StridedSumWork(Ptr(x), outer, inner, Ptr(y), scale, accumulate);
        if ((long)n * inner.Count < ParallelMovement || Pool.Threads <= 1 || n < 2) job.Execute(0, 1);
        else Pool.Run(job, Math.Min(Pool.Threads, n));
    }

    /// <summary>
    /// The sum in rows of the output's last axis: when the reduced elements of one output are contiguous, each output
    /// is a vector sum; when consecutive outputs are contiguous (a sum over leading axes, the gradient of a bias), a
    /// row of outputs accumulates whole input rows at once; otherwise a scalar loop.
    /// </summary>
    private sealed class StridedSumWork(float* x, StridedLayout outer, StridedLayout inner, float* y, float scale,
        bool accumulate) : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            int len = outer.Size7, rows = outer.Count / len, terms = inner.Count;
            int from = (int)((long)rows * part / parts), to = (int)((long)rows * (part + 1) / parts);
            bool innerRuns = inner.Stride7 == 1 && inner.Size7 >= 16;
            bool outerRuns = !innerRuns && outer.Stride7 == 1 && len >= 16;
            float* acc = outerRuns ? (float*)NativeMemory.Alloc((nuint)len, sizeof(float)) : null;
            try
            {
                for (int row = from; row < to; row++)
                {
                    float* yr = y + (long)row * len;
                    if (outerRuns)
                    {
                        SumRows(x + outer.Map(row * len), inner, acc, len);
                        for (int j = 0; j < len; j++) yr[j] = accumulate ? yr[j] + scale * acc[j] : scale * acc[j];
                        continue;
                    }
                    for (int j = 0; j < len; j++)
                    {
                        float* at = x + outer.Map(row * len + j);
                        float sum = innerRuns ? SumRuns(at, inner) : SumScalar(at, inner, terms);
                        yr[j] = accumulate ? yr[j] + scale * sum : scale * sum;
                    }
                }
            }
            finally
            {
                if (acc != null) NativeMemory.Free(acc);
            }
        }
    }

    [MethodImpl(Lanes.Hot)]
    private static float SumScalar(float* at, StridedLayout inner, int terms)
    {
        float sum = 0f;
        for (int r = 0; r < terms; r++) sum += at[inner.Map(r)];
        return sum;
    }

    /// <summary>Σ over the inner space whose last axis is contiguous: a vector sum of each run.</summary>
    [MethodImpl(Lanes.Hot)]
    private static float SumRuns(float* at, StridedLayout inner)
    {
        int len = inner.Size7, runs = inner.Count / len;
        float sum = 0f;
        for (int r = 0; r < runs; r++)
            sum += Lanes.Wide ? SumRun<F512>(at + inner.Map(r * len), len) : SumRun<F256>(at + inner.Map(r * len), len);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumRun<TV>(float* p, int len) where TV : struct, IFloatVector<TV>
    {
        var s = TV.Broadcast(0f);
        int i = 0, w = TV.Count;
        for (; i + w <= len; i += w) s += TV.Load(p + i);
        if (i < len) s += Lanes.LoadTail<TV>(p + i, len - i);
        return TV.Sum(s);
    }

    /// <summary>acc[0..len) = Σ_r at[inner(r) + j]: whole rows of consecutive outputs added at once.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void SumRows(float* at, StridedLayout inner, float* acc, int len)
    {
        new Span<float>(acc, len).Clear();
        int terms = inner.Count;
        for (int r = 0; r < terms; r++)
        {
            float* row = at + inner.Map(r);
            if (Lanes.Wide) new AxpyBody<F512>(row, acc, 1f).Run(0, len);
            else new AxpyBody<F256>(row, acc, 1f).Run(0, len);
        }
    }
}
