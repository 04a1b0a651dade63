using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;

namespace Engine.Kernels.Simd;

// Pooling: PoolGeometry's windows (the ILGPU kernels run its per-output methods), here over host pointers with each
// output row's and column's window clipped to the plane once per plane, planes split over the pool.
public sealed unsafe partial class SimdKernels
{
    public void MaxPool(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolGeometry g) =>
        Planes(g, new PoolPlanes(Ptr(x), Ptr(y), Ptr(indices), g, PoolPlanes.MaxForward));

    public void MaxPoolGrad(ArrayView<float> dy, ArrayView<int> indices, ArrayView<float> dx, PoolGeometry g) =>
        Planes(g, new PoolPlanes(Ptr(dx), Ptr(dy), Ptr(indices), g, PoolPlanes.MaxBackward));

    public void AvgPool(ArrayView<float> x, ArrayView<float> y, PoolGeometry g) =>
        Planes(g, new PoolPlanes(Ptr(x), Ptr(y), null, g, PoolPlanes.AvgForward));

    public void AvgPoolGrad(ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g) =>
        Planes(g, new PoolPlanes(Ptr(dx), Ptr(dy), null, g, PoolPlanes.AvgBackward));

    private void Planes(PoolGeometry g, PoolPlanes work)
    {
        if ((long)g.Planes * g.OH * g.OW == 0) return;
        long taps = (long)g.Planes * g.OH * g.OW * Math.Max(1, g.KH * g.KW);
        if (Pool.Threads > 1 && g.Planes > 1 && taps >= 1 << 15) Pool.Run(work, Math.Min(Pool.Threads, g.Planes));
        else work.Execute(0, 1);
    }

    /// <summary>
    /// A pooling pass over a contiguous run of planes per part: <c>image</c> is x (forward) or dx (backward),
    /// <c>pooled</c> is y or dy. Each window is its taps start + t·step inside the plane (t in [first, last)).
    /// </summary>
    private sealed class PoolPlanes(float* image, float* pooled, int* indices, PoolGeometry g, int kind) : IParallelWork
    {
        public const int MaxForward = 0, MaxBackward = 1, AvgForward = 2, AvgBackward = 3;

        private readonly Window[] rows = Windows(g, g.OH, rows: true), cols = Windows(g, g.OW, rows: false);

        private readonly struct Window(int start, int step, int first, int last)
        {
            public readonly int Start = start, Step = step, First = first, Last = last;
        }

        private static Window[] Windows(PoolGeometry g, int count, bool rows)
        {
            var w = new Window[count];
            int size = rows ? g.H : g.W;
            for (int o = 0; o < count; o++)
            {
                int start, step, taps;
                if (rows) g.RowWindow(o, out start, out step, out taps);
                else g.ColumnWindow(o, out start, out step, out taps);
                int first = 0, last = taps;
                while (first < taps && start + first * step < 0) first++;
                while (last > first && start + (last - 1) * step >= size) last--;
                w[o] = new Window(start, step, first, last);
            }
            return w;
        }

        /// <summary>An average window's divisor is a row factor times a column factor (or the override, as rows × 1).</summary>
        private readonly float[] rowDivisor = Divisors(g, rows: true), colDivisor = Divisors(g, rows: false);

        private static float[] Divisors(PoolGeometry g, bool rows)
        {
            var d = new float[rows ? g.OH : g.OW];
            for (int o = 0; o < d.Length; o++)
            {
                int start, step, taps;
                if (rows) g.RowWindow(o, out start, out step, out taps);
                else g.ColumnWindow(o, out start, out step, out taps);
                int size = rows ? g.H : g.W, pad = rows ? g.PH : g.PW;
                d[o] = g.Divisor != 0 ? (rows ? g.Divisor : 1)
                    : g.Adaptive == 0 && g.CountIncludePad != 0 ? Math.Min(start + taps, size + pad) - start
                    : PoolGeometry.Inside(start, step, taps, size);
            }
            return d;
        }

        [MethodImpl(Lanes.Hot)]
        public void Execute(int part, int parts)
        {
            int from = (int)((long)g.Planes * part / parts), to = (int)((long)g.Planes * (part + 1) / parts);
            int plane = g.H * g.W, perPlane = g.OH * g.OW;
            for (int p = from; p < to; p++)
            {
                float* x = image + (long)p * plane;
                float* y = pooled + (long)p * perPlane;
                int* idx = indices == null ? null : indices + (long)p * perPlane;
                switch (kind)
                {
                    case MaxForward:
                        if (windowStarts != null && Avx2.IsSupported)
                            fixed (int* starts = windowStarts) MaxPlaneWhole(x, y, idx, starts);
                        else MaxPlane(x, y, idx);
                        break;
                    case MaxBackward:
                        for (int o = 0; o < perPlane; o++)
                            if (idx[o] >= 0) x[idx[o]] += y[o];
                        break;
                    default: AveragePlane(x, y, kind == AvgBackward); break;
                }
            }
        }

        /// <summary>
        /// Where every window lies wholly inside the plane (fixed windows, no padding reaching in): each output's first
        /// tap's offset in its plane, so a window's taps are that plus (i·DH·W + j·DW). Null otherwise.
        /// </summary>
        private readonly int[]? windowStarts = WindowStarts(g);

        private static int[]? WindowStarts(PoolGeometry g)
        {
            if (g.Adaptive != 0) return null;
            var starts = new int[g.OH * g.OW];
            for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++)
            {
                int r0 = oh * g.SH - g.PH, c0 = ow * g.SW - g.PW;
                if (r0 < 0 || c0 < 0 || r0 + (g.KH - 1) * g.DH >= g.H || c0 + (g.KW - 1) * g.DW >= g.W) return null;
                starts[oh * g.OW + ow] = r0 * g.W + c0;
            }
            return starts;
        }

        /// <summary>
        /// A plane whose windows are all whole, eight outputs at a time (AVX2 gathers of each tap): best = v where
        /// v &gt; best or v is NaN (the first tap always), with its index, the scalar rule lane by lane.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void MaxPlaneWhole(float* x, float* y, int* idx, int* starts)
        {
            int count = g.OH * g.OW, o = 0;
            for (; o + 8 <= count; o += 8)
            {
                var first = Vector256.Load(starts + o);
                var best = Avx2.GatherVector256(x, first, 4);
                var at = first;
                for (int i = 0; i < g.KH; i++)
                for (int j = i == 0 ? 1 : 0; j < g.KW; j++)
                {
                    var e = first + Vector256.Create(i * g.DH * g.W + j * g.DW);
                    var v = Avx2.GatherVector256(x, e, 4);
                    var take = Vector256.GreaterThan(v, best) | ~Vector256.Equals(v, v);
                    best = Vector256.ConditionalSelect(take, v, best);
                    at = Vector256.ConditionalSelect(take.AsInt32(), e, at);
                }
                best.Store(y + o);
                at.Store(idx + o);
            }
            for (; o < count; o++)
            {
                float best = float.NegativeInfinity;
                int at = -1;
                for (int i = 0; i < g.KH; i++)
                for (int j = 0; j < g.KW; j++)
                {
                    int e = starts[o] + i * g.DH * g.W + j * g.DW;
                    float v = x[e];
                    bool take = (at < 0) | (v > best) | float.IsNaN(v);
                    best = take ? v : best;
                    at = take ? e : at;
                }
                y[o] = best;
                idx[o] = at;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void MaxPlane(float* x, float* y, int* idx)
        {
            for (int oh = 0, o = 0; oh < g.OH; oh++)
            {
                var r = rows[oh];
                for (int ow = 0; ow < g.OW; ow++, o++)
                {
                    var c = cols[ow];
                    float best = float.NegativeInfinity;
                    int at = -1;
                    for (int i = r.First; i < r.Last; i++)
                    {
                        float* row = x + (r.Start + i * r.Step) * g.W + c.Start;
                        for (int j = c.First; j < c.Last; j++)
                        {
                            // Branch-free (conditional moves): which tap wins is data-dependent and unpredictable.
                            float v = row[j * c.Step];
                            bool take = (at < 0) | (v > best) | float.IsNaN(v);
                            best = take ? v : best;
                            at = take ? (int)(row + j * c.Step - x) : at;
                        }
                    }
                    y[o] = best;
                    idx[o] = at;
                }
            }
        }

        /// <summary>Forward: y = Σ window / divisor; backward (<paramref name="grad"/>): x += y / divisor over each window.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void AveragePlane(float* x, float* y, bool grad)
        {
            for (int oh = 0, o = 0; oh < g.OH; oh++)
            {
                var r = rows[oh];
                for (int ow = 0; ow < g.OW; ow++, o++)
                {
                    var c = cols[ow];
                    float divisor = rowDivisor[oh] * colDivisor[ow];
                    if (grad)
                    {
                        float share = y[o] / divisor;
                        for (int i = r.First; i < r.Last; i++)
                        {
                            float* row = x + (r.Start + i * r.Step) * g.W + c.Start;
                            for (int j = c.First; j < c.Last; j++) row[j * c.Step] += share;
                        }
                        continue;
                    }
                    float sum = 0f;
                    for (int i = r.First; i < r.Last; i++)
                    {
                        float* row = x + (r.Start + i * r.Step) * g.W + c.Start;
                        for (int j = c.First; j < c.Last; j++) sum += row[j * c.Step];
                    }
                    y[o] = sum / divisor;
                }
            }
        }
    }
}
