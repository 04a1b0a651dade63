using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Movement and strided reduction, the math of <see cref="MovementKernels"/>: the index space is walked in rows of its
/// last dimension (layouts arrive coalesced, so that is the longest run contiguous in every operand); a row whose
/// elements are contiguous on both sides is a vector copy, a repeated source a broadcast, anything else a scalar loop.
/// When the destination's run is the source's column (a permute that moves the unit-stride axis), the copy goes in
/// 32 × 32 tiles so both sides stay in L1. Large copies split their rows over the pool.
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
            for (int row = from; row < to; row++)
                CopyRow(x + src.Map(row * len), src.Stride7, y + dst.Map(row * len), dst.Stride7, len, accumulate);
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
                    for (int i = p0; i < p1; i++)
                    {
                        float* yr = ys + (long)i * sp;
                        float* xr = xs + i;
                        if (accumulate)
                            for (int c = c0; c < c1; c++) yr[c] += xr[(long)c * sxc];
                        else
                            for (int c = c0; c < c1; c++) yr[c] = xr[(long)c * sxc];
                    }
                }
            }
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
