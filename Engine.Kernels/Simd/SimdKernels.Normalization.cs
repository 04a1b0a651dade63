using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Batch and layer normalization: the math of Ilgpu/NormalizationKernels.cs (stated there), as vector loops. Batch
/// norm of [N, C] runs across the channels of each row (a register holds 16 channels); of [N, C, L] along each
/// channel's runs of L. Layer norm runs along each row. Sums run in a fixed order, so results repeat bit for bit.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    public void ChannelStatistics(ArrayView<float> x, ArrayView<float> stats, ArrayView<float> running,
        ChannelView v, NormScalars s)
    {
        if (Lanes.Wide) ChannelStatistics<F512>(Ptr(x), Ptr(stats), Ptr(running), v, s);
        else ChannelStatistics<F256>(Ptr(x), Ptr(stats), Ptr(running), v, s);
    }

    [MethodImpl(Lanes.Hot)]
    private static void ChannelStatistics<TV>(float* x, float* stats, float* running, ChannelView v, NormScalars s)
        where TV : struct, IFloatVector<TV>
    {
        int channels = v.Channels, m = v.PerChannel, w = TV.Count;
        if (s.UseBatch == 0)
        {
            for (int c = 0; c < channels; c++)
            {
                stats[c] = running[c];
                stats[channels + c] = 1f / MathF.Sqrt(running[channels + c] + s.Eps);
            }
            return;
        }
        // First the means into stats[c] and the sums of squared deviations into stats[C + c] …
        if (v.Inner == 1)
        {
            for (int c = 0; c < channels; c += w)
            {
                int r = Math.Min(w, channels - c);
                TV sum = default;
                for (int o = 0; o < v.Outer; o++) sum += Lanes.LoadTail<TV>(x + o * channels + c, r);
                var mean = sum / TV.Broadcast(m);
                TV squares = default;
                for (int o = 0; o < v.Outer; o++)
                {
                    var d = Lanes.LoadTail<TV>(x + o * channels + c, r) - mean;
                    squares += d * d;
                }
                Lanes.StoreTail(mean, stats + c, r);
                Lanes.StoreTail(squares, stats + channels + c, r);
            }
        }
        else
        {
            for (int c = 0; c < channels; c++)
            {
                TV sum = default;
                for (int o = 0; o < v.Outer; o++)
                {
                    float* run = x + (o * channels + c) * v.Inner;
                    for (int i = 0; i < v.Inner; i += w) sum += Lanes.LoadTail<TV>(run + i, Math.Min(w, v.Inner - i));
                }
                float mean = TV.Sum(sum) / m;
                TV squares = default;
                for (int o = 0; o < v.Outer; o++)
                {
                    float* run = x + (o * channels + c) * v.Inner;
                    for (int i = 0; i < v.Inner; i += w)
                    {
                        var d = Lanes.LoadTail<TV>(run + i, Math.Min(w, v.Inner - i), pad: mean) - TV.Broadcast(mean);
                        squares += d * d;
                    }
                }
                stats[c] = mean;
                stats[channels + c] = TV.Sum(squares);
            }
        }
        // … then the inverse standard deviations and the running averages, per channel.
        for (int c = 0; c < channels; c++)
        {
            float mean = stats[c], squares = stats[channels + c];
            stats[channels + c] = 1f / MathF.Sqrt(squares / m + s.Eps);
            if (s.UpdateRunning == 0) continue;
            running[c] = (1f - s.Momentum) * running[c] + s.Momentum * mean;
            running[channels + c] = (1f - s.Momentum) * running[channels + c] + s.Momentum * squares / (m - 1);
        }
    }

    public void ChannelNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> bias, ChannelView v, NormScalars s)
    {
        float* pw = s.Affine != 0 ? Ptr(weight) : null, pb = s.Affine != 0 ? Ptr(bias) : null;
        if (Lanes.Wide) ChannelNormalize<F512>(Ptr(x), Ptr(y), Ptr(stats), pw, pb, v);
        else ChannelNormalize<F256>(Ptr(x), Ptr(y), Ptr(stats), pw, pb, v);
    }

    /// <summary>y = (x − μ)·s·γ + β; γ, β null without affine.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void ChannelNormalize<TV>(float* x, float* y, float* stats, float* weight, float* bias,
        ChannelView v) where TV : struct, IFloatVector<TV>
    {
        int channels = v.Channels, w = TV.Count;
        if (v.Inner == 1)
        {
            for (int o = 0; o < v.Outer; o++)
            {
                for (int c = 0; c < channels; c += w)
                {
                    int r = Math.Min(w, channels - c), at = o * channels + c;
                    var xhat = (Lanes.LoadTail<TV>(x + at, r) - Lanes.LoadTail<TV>(stats + c, r)) *
                               Lanes.LoadTail<TV>(stats + channels + c, r);
                    if (weight != null) xhat = xhat * Lanes.LoadTail<TV>(weight + c, r) + Lanes.LoadTail<TV>(bias + c, r);
                    Lanes.StoreTail(xhat, y + at, r);
                }
            }
            return;
        }
        for (int o = 0; o < v.Outer; o++)
        {
            for (int c = 0; c < channels; c++)
            {
                int at = (o * channels + c) * v.Inner;
                TV mean = TV.Broadcast(stats[c]), inv = TV.Broadcast(stats[channels + c]);
                TV gamma = TV.Broadcast(weight != null ? weight[c] : 1f), beta = TV.Broadcast(bias != null ? bias[c] : 0f);
                for (int i = 0; i < v.Inner; i += w)
                {
                    int r = Math.Min(w, v.Inner - i);
                    var xhat = (Lanes.LoadTail<TV>(x + at + i, r) - mean) * inv;
                    if (weight != null) xhat = xhat * gamma + beta;
                    Lanes.StoreTail(xhat, y + at + i, r);
                }
            }
        }
    }

    public void ChannelNormalizeGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> dx, ArrayView<float> sums, ChannelView v, NormScalars s)
    {
        float* pw = s.Affine != 0 ? Ptr(weight) : null, pdx = s.GradInput != 0 ? Ptr(dx) : null;
        if (Lanes.Wide) ChannelNormalizeGrad<F512>(Ptr(x), Ptr(dy), Ptr(stats), pw, pdx, Ptr(sums), v, s.UseBatch != 0);
        else ChannelNormalizeGrad<F256>(Ptr(x), Ptr(dy), Ptr(stats), pw, pdx, Ptr(sums), v, s.UseBatch != 0);
    }

    /// <summary>sums = [Σdy, Σdy·x̂] per channel; then dx += γ·s/M·(M·dy − Σdy − x̂·Σdy·x̂) (batch) or γ·s·dy.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void ChannelNormalizeGrad<TV>(float* x, float* dy, float* stats, float* weight, float* dx,
        float* sums, ChannelView v, bool batch) where TV : struct, IFloatVector<TV>
    {
        int channels = v.Channels, w = TV.Count;
        float m = v.PerChannel;
        TV vm = TV.Broadcast(m), invM = TV.Broadcast(1f / m);
        if (v.Inner == 1)
        {
            for (int c = 0; c < channels; c += w)
            {
                int r = Math.Min(w, channels - c);
                TV mean = Lanes.LoadTail<TV>(stats + c, r), inv = Lanes.LoadTail<TV>(stats + channels + c, r);
                TV sumDy = default, sumDyXhat = default;
                for (int o = 0; o < v.Outer; o++)
                {
                    var d = Lanes.LoadTail<TV>(dy + o * channels + c, r);
                    sumDy += d;
                    sumDyXhat += d * ((Lanes.LoadTail<TV>(x + o * channels + c, r) - mean) * inv);
                }
                Lanes.StoreTail(sumDy, sums + c, r);
                Lanes.StoreTail(sumDyXhat, sums + channels + c, r);
                if (dx == null) continue;
                var scale = (weight != null ? Lanes.LoadTail<TV>(weight + c, r) : TV.Broadcast(1f)) * inv;
                for (int o = 0; o < v.Outer; o++)
                {
                    int at = o * channels + c;
                    var d = Lanes.LoadTail<TV>(dy + at, r);
                    var g = batch
                        ? scale * invM * (vm * d - sumDy - (Lanes.LoadTail<TV>(x + at, r) - mean) * inv * sumDyXhat)
                        : scale * d;
                    Lanes.StoreTail(Lanes.LoadTail<TV>(dx + at, r) + g, dx + at, r);
                }
            }
            return;
        }
        for (int c = 0; c < channels; c++)
        {
            TV mean = TV.Broadcast(stats[c]), inv = TV.Broadcast(stats[channels + c]);
            TV accDy = default, accDyXhat = default;
            for (int o = 0; o < v.Outer; o++)
            {
                int at = (o * channels + c) * v.Inner;
                for (int i = 0; i < v.Inner; i += w)
                {
                    int r = Math.Min(w, v.Inner - i);
                    var d = Lanes.LoadTail<TV>(dy + at + i, r);
                    accDy += d;
                    accDyXhat += d * ((Lanes.LoadTail<TV>(x + at + i, r) - mean) * inv);
                }
            }
            float sumDy = TV.Sum(accDy), sumDyXhat = TV.Sum(accDyXhat);
            sums[c] = sumDy;
            sums[channels + c] = sumDyXhat;
            if (dx == null) continue;
            TV scale = TV.Broadcast((weight != null ? weight[c] : 1f) * stats[channels + c]);
            TV vSumDy = TV.Broadcast(sumDy), vSumDyXhat = TV.Broadcast(sumDyXhat);
            for (int o = 0; o < v.Outer; o++)
            {
                int at = (o * channels + c) * v.Inner;
                for (int i = 0; i < v.Inner; i += w)
                {
                    int r = Math.Min(w, v.Inner - i);
                    var d = Lanes.LoadTail<TV>(dy + at + i, r);
                    var g = batch
                        ? scale * invM * (vm * d - vSumDy - (Lanes.LoadTail<TV>(x + at + i, r) - mean) * inv * vSumDyXhat)
                        : scale * d;
                    Lanes.StoreTail(Lanes.LoadTail<TV>(dx + at + i, r) + g, dx + at + i, r);
                }
            }
        }
    }

    public void RowNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats, ArrayView<float> weight,
        ArrayView<float> bias, AxisView v, NormScalars s)
    {
        float* pw = s.Affine != 0 ? Ptr(weight) : null, pb = s.Affine != 0 ? Ptr(bias) : null;
        // A band of rows per worker; a large result streamed past the caches.
        bool stream = Lanes.Streams((long)v.Outer * v.Len, Ptr(x), Ptr(y));
        if (Lanes.Wide) Lanes.ForRows(v.Outer, v.Len, new RowNormalizeRows<F512>(Ptr(x), Ptr(y), Ptr(stats), pw, pb, v.Outer, v.Len, s.Eps, stream), Pool);
        else Lanes.ForRows(v.Outer, v.Len, new RowNormalizeRows<F256>(Ptr(x), Ptr(y), Ptr(stats), pw, pb, v.Outer, v.Len, s.Eps, stream), Pool);
    }

    private readonly struct RowNormalizeRows<TV>(float* x, float* y, float* stats, float* weight, float* bias, int rows,
        int cols, float eps, bool stream) : IRangeBody where TV : struct, IFloatVector<TV>
    {
        public void Run(int from, int to) => RowNormalize<TV>(x, y, stats, weight, bias, rows, cols, eps, from, to, stream);
    }

    /// <summary>(x − μ)·s·γ + β at [i, i + count) of a row (γ, β null: no affine).</summary>
    private readonly struct NormalizedAt<TV>(float* xr, TV mean, TV inv, float* weight, float* bias) : IVectorAt<TV>
        where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV At(int i, int count)
        {
            var xhat = (Lanes.LoadTail<TV>(xr + i, count) - mean) * inv;
            return weight != null ? xhat * Lanes.LoadTail<TV>(weight + i, count) + Lanes.LoadTail<TV>(bias + i, count) : xhat;
        }
    }

    /// <summary>Per row of [from, to): μ, s = 1/√(σ² + ε) into stats = [μ…, s…]; y = (x − μ)·s·γ + β (γ, β per column).</summary>
    [MethodImpl(Lanes.Hot)]
    private static void RowNormalize<TV>(float* x, float* y, float* stats, float* weight, float* bias, int rows,
        int cols, float eps, int from, int to, bool stream) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int row = from; row < to; row++)
        {
            float* xr = x + (long)row * cols, yr = y + (long)row * cols;
            // Four partial sums per pass: one accumulator would chain every add on the last (4 cycles each).
            TV s0 = default, s1 = default, s2 = default, s3 = default;
            int d = 0;
            for (; d + 4 * w <= cols; d += 4 * w)
            {
                s0 += TV.Load(xr + d);
                s1 += TV.Load(xr + d + w);
                s2 += TV.Load(xr + d + 2 * w);
                s3 += TV.Load(xr + d + 3 * w);
            }
            for (; d < cols; d += w) s0 += Lanes.LoadTail<TV>(xr + d, Math.Min(w, cols - d));
            float mean = TV.Sum((s0 + s1) + (s2 + s3)) / cols;
            TV vMean = TV.Broadcast(mean);
            (s0, s1, s2, s3) = (default, default, default, default);
            for (d = 0; d + 4 * w <= cols; d += 4 * w)
            {
                var d0 = TV.Load(xr + d) - vMean;
                var d1 = TV.Load(xr + d + w) - vMean;
                var d2 = TV.Load(xr + d + 2 * w) - vMean;
                var d3 = TV.Load(xr + d + 3 * w) - vMean;
                s0 = TV.MultiplyAdd(d0, d0, s0);
                s1 = TV.MultiplyAdd(d1, d1, s1);
                s2 = TV.MultiplyAdd(d2, d2, s2);
                s3 = TV.MultiplyAdd(d3, d3, s3);
            }
            for (; d < cols; d += w)
            {
                var dev = Lanes.LoadTail<TV>(xr + d, Math.Min(w, cols - d), pad: mean) - vMean;
                s0 = TV.MultiplyAdd(dev, dev, s0);
            }
            float inv = 1f / MathF.Sqrt(TV.Sum((s0 + s1) + (s2 + s3)) / cols + eps);
            stats[row] = mean;
            stats[rows + row] = inv;
            var at = new NormalizedAt<TV>(xr, vMean, TV.Broadcast(inv), weight, bias);
            if (stream)
            {
                Lanes.StreamRange<TV, NormalizedAt<TV>>(yr, 0, cols, at);
                continue;
            }
            for (d = 0; d < cols; d += w)
            {
                int r = Math.Min(w, cols - d);
                Lanes.StoreTail(at.At(d, r), yr + d, r);
            }
        }
    }

    public void RowNormalizeGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> dx, ArrayView<float> sums, AxisView v, NormScalars s)
    {
        float* pw = s.Affine != 0 ? Ptr(weight) : null, pdx = s.GradInput != 0 ? Ptr(dx) : null;
        if (Lanes.Wide) RowNormalizeGrad<F512>(Ptr(x), Ptr(dy), Ptr(stats), pw, pdx, Ptr(sums), v.Outer, v.Len);
        else RowNormalizeGrad<F256>(Ptr(x), Ptr(dy), Ptr(stats), pw, pdx, Ptr(sums), v.Outer, v.Len);
    }

    /// <summary>sums = [Σ_r dy, Σ_r dy·x̂] per column; dx += s/D·(D·g − Σg − x̂·Σg·x̂) per row, g = γ·dy.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void RowNormalizeGrad<TV>(float* x, float* dy, float* stats, float* weight, float* dx,
        float* sums, int rows, int cols) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        new Span<float>(sums, 2 * cols).Clear();
        for (int row = 0; row < rows; row++)
        {
            float* xr = x + row * cols, dyr = dy + row * cols;
            TV mean = TV.Broadcast(stats[row]), inv = TV.Broadcast(stats[rows + row]);
            TV accG = default, accGXhat = default;
            for (int d = 0; d < cols; d += w)
            {
                int r = Math.Min(w, cols - d);
                var dyv = Lanes.LoadTail<TV>(dyr + d, r);
                var xhat = (Lanes.LoadTail<TV>(xr + d, r) - mean) * inv;
                Lanes.StoreTail(Lanes.LoadTail<TV>(sums + d, r) + dyv, sums + d, r);
                Lanes.StoreTail(Lanes.LoadTail<TV>(sums + cols + d, r) + dyv * xhat, sums + cols + d, r);
                var g = weight != null ? Lanes.LoadTail<TV>(weight + d, r) * dyv : dyv;
                accG += g;
                accGXhat += g * xhat;
            }
            if (dx == null) continue;
            TV sumG = TV.Broadcast(TV.Sum(accG)), sumGXhat = TV.Broadcast(TV.Sum(accGXhat));
            TV n = TV.Broadcast(cols), scale = inv / n;
            float* dxr = dx + row * cols;
            for (int d = 0; d < cols; d += w)
            {
                int r = Math.Min(w, cols - d);
                var dyv = Lanes.LoadTail<TV>(dyr + d, r);
                var g = weight != null ? Lanes.LoadTail<TV>(weight + d, r) * dyv : dyv;
                var xhat = (Lanes.LoadTail<TV>(xr + d, r) - mean) * inv;
                Lanes.StoreTail(Lanes.LoadTail<TV>(dxr + d, r) + scale * (n * g - sumG - xhat * sumGXhat), dxr + d, r);
            }
        }
    }
}
