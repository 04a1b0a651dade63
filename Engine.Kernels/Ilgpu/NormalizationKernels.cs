using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Batch normalization over the channels of x = [Outer, C, Inner] (<see cref="ChannelView"/>) and layer
/// normalization over the rows of x = [R, D], forward and backward. x̂ = (x − μ)·s with s = 1/√(σ² + ε) and σ² the
/// biased variance; y = γ·x̂ + β (affine) or x̂. Statistics are taken in two passes (mean, then squared deviations), so
/// a large mean does not cancel the variance.
/// </summary>
/// <remarks>
/// Backward, with M elements per group, g = γ·dy (dy without affine): batch statistics give
/// dx = s/M·(M·g − Σg − x̂·Σ g·x̂) (the mean and variance depend on x); fixed (running) statistics give dx = s·g.
/// ∂L/∂γ = Σ dy·x̂ and ∂L/∂β = Σ dy, summed over the elements sharing γ (a channel for batch norm, a column for
/// layer norm).
/// </remarks>
public static class NormalizationKernels
{
    /// <summary>
    /// One thread per channel c. Batch statistics (s.UseBatch ≠ 0): μ = Σx/M, σ² = Σ(x − μ)²/M, stats = [μ, s]; with
    /// s.UpdateRunning ≠ 0 also running = [m̄, v̄] ← (1 − m)·[m̄, v̄] + m·[μ, σ²·M/(M − 1)]. Running statistics:
    /// stats = [m̄, 1/√(v̄ + ε)].
    /// </summary>
    public static void ChannelStatistics(ArrayView<float> x, ArrayView<float> stats, ArrayView<float> running,
        ChannelView v, NormScalars s)
    {
        int channels = v.Channels, m = v.PerChannel;
        for (int c = GridStride.Start, step = GridStride.Step; c < channels; c += step)
        {
            if (s.UseBatch == 0)
            {
                stats[c] = running[c];
                stats[channels + c] = 1f / XMath.Sqrt(running[channels + c] + s.Eps);
                continue;
            }
            float sum = 0f;
            for (int j = 0; j < m; j++) sum += x[v.Index(c, j)];
            float mean = sum / m;
            float squares = 0f;
            for (int j = 0; j < m; j++)
            {
                float d = x[v.Index(c, j)] - mean;
                squares += d * d;
            }
            stats[c] = mean;
            stats[channels + c] = 1f / XMath.Sqrt(squares / m + s.Eps);
            if (s.UpdateRunning != 0)
            {
                running[c] = (1f - s.Momentum) * running[c] + s.Momentum * mean;
                running[channels + c] = (1f - s.Momentum) * running[channels + c] + s.Momentum * squares / (m - 1);
            }
        }
    }

    /// <summary>y[i] = (x[i] − μ_c)·s_c·γ_c + β_c (or without γ, β), c the channel of i; one thread per element.</summary>
    public static void ChannelNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> bias, ChannelView v, NormScalars s)
    {
        int channels = v.Channels;
        for (int i = GridStride.Start, step = GridStride.Step, end = v.Count; i < end; i += step)
        {
            int c = v.ChannelOf(i);
            float xhat = (x[i] - stats[c]) * stats[channels + c];
            y[i] = s.Affine != 0 ? xhat * weight[c] + bias[c] : xhat;
        }
    }

    /// <summary>sums = [Σ dy, Σ dy·x̂] per channel; one thread per channel.</summary>
    public static void ChannelGradSums(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> sums, ChannelView v)
    {
        int channels = v.Channels, m = v.PerChannel;
        for (int c = GridStride.Start, step = GridStride.Step; c < channels; c += step)
        {
            float mean = stats[c], inv = stats[channels + c], sumDy = 0f, sumDyXhat = 0f;
            for (int j = 0; j < m; j++)
            {
                int i = v.Index(c, j);
                sumDy += dy[i];
                sumDyXhat += dy[i] * (x[i] - mean) * inv;
            }
            sums[c] = sumDy;
            sums[channels + c] = sumDyXhat;
        }
    }

    /// <summary>
    /// dx[i] += γ_c·s_c/M·(M·dy[i] − Σdy − x̂[i]·Σ dy·x̂) with batch statistics, γ_c·s_c·dy[i] with running ones (γ = 1
    /// without affine); one thread per element, after <see cref="ChannelGradSums"/>.
    /// </summary>
    public static void ChannelNormalizeBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> sums, ArrayView<float> dx, ChannelView v, NormScalars s)
    {
        int channels = v.Channels;
        float m = v.PerChannel;
        for (int i = GridStride.Start, step = GridStride.Step, end = v.Count; i < end; i += step)
        {
            int c = v.ChannelOf(i);
            float scale = (s.Affine != 0 ? weight[c] : 1f) * stats[channels + c];
            if (s.UseBatch == 0)
            {
                dx[i] += scale * dy[i];
                continue;
            }
            float xhat = (x[i] - stats[c]) * stats[channels + c];
            dx[i] += scale / m * (m * dy[i] - sums[c] - xhat * sums[channels + c]);
        }
    }

    /// <summary>
    /// Layer norm forward over the D = v.Len columns of each row: μ, σ² of the row, stats = [μ_r…, s_r…],
    /// y = x̂·γ + β with γ, β indexed by column. One thread per row.
    /// </summary>
    public static void RowNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> bias, AxisView v, NormScalars s)
    {
        int rows = v.Outer, cols = v.Len;
        for (int r = GridStride.Start, step = GridStride.Step; r < rows; r += step)
        {
            int at = r * cols;
            float sum = 0f;
            for (int d = 0; d < cols; d++) sum += x[at + d];
            float mean = sum / cols;
            float squares = 0f;
            for (int d = 0; d < cols; d++)
            {
                float dev = x[at + d] - mean;
                squares += dev * dev;
            }
            float inv = 1f / XMath.Sqrt(squares / cols + s.Eps);
            stats[r] = mean;
            stats[rows + r] = inv;
            for (int d = 0; d < cols; d++)
            {
                float xhat = (x[at + d] - mean) * inv;
                y[at + d] = s.Affine != 0 ? xhat * weight[d] + bias[d] : xhat;
            }
        }
    }

    /// <summary>dx[r, d] += s_r/D·(D·g − Σg − x̂·Σ g·x̂) with g = γ_d·dy[r, d]; one thread per row.</summary>
    public static void RowNormalizeBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> dx, AxisView v, NormScalars s)
    {
        int rows = v.Outer, cols = v.Len;
        for (int r = GridStride.Start, step = GridStride.Step; r < rows; r += step)
        {
            int at = r * cols;
            float mean = stats[r], inv = stats[rows + r], sumG = 0f, sumGXhat = 0f;
            for (int d = 0; d < cols; d++)
            {
                float g = s.Affine != 0 ? weight[d] * dy[at + d] : dy[at + d];
                sumG += g;
                sumGXhat += g * (x[at + d] - mean) * inv;
            }
            for (int d = 0; d < cols; d++)
            {
                float g = s.Affine != 0 ? weight[d] * dy[at + d] : dy[at + d];
                float xhat = (x[at + d] - mean) * inv;
                dx[at + d] += inv / cols * (cols * g - sumG - xhat * sumGXhat);
            }
        }
    }

    /// <summary>sums = [Σ_r dy[r, d], Σ_r dy[r, d]·x̂[r, d]] per column d; one thread per column.</summary>
    public static void ColumnGradSums(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> sums, AxisView v)
    {
        int rows = v.Outer, cols = v.Len;
        for (int d = GridStride.Start, step = GridStride.Step; d < cols; d += step)
        {
            float sumDy = 0f, sumDyXhat = 0f;
            for (int r = 0; r < rows; r++)
            {
                int i = r * cols + d;
                sumDy += dy[i];
                sumDyXhat += dy[i] * (x[i] - stats[r]) * stats[rows + r];
            }
            sums[d] = sumDy;
            sums[cols + d] = sumDyXhat;
        }
    }

    public static void ChannelStatistics(this KernelContext k, ArrayView<float> x, ArrayView<float> stats,
        ArrayView<float> running, ChannelView v, NormScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelView, NormScalars>(ChannelStatistics)(
            k.ForItems(v.Channels), x, stats, running, v, s);

    public static void ChannelNormalize(this KernelContext k, ArrayView<float> x, ArrayView<float> y,
        ArrayView<float> stats, ArrayView<float> weight, ArrayView<float> bias, ChannelView v, NormScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelView,
            NormScalars>(ChannelNormalize)(k.ForItems(v.Count), x, y, stats, weight, bias, v, s);

    public static void ChannelNormalizeGrad(this KernelContext k, ArrayView<float> x, ArrayView<float> dy,
        ArrayView<float> stats, ArrayView<float> weight, ArrayView<float> dx, ArrayView<float> sums, ChannelView v,
        NormScalars s)
    {
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelView>(ChannelGradSums)(
            k.ForItems(v.Channels), x, dy, stats, sums, v);
        if (s.GradInput == 0) return;
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ChannelView, NormScalars>(ChannelNormalizeBackward)(
            k.ForItems(v.Count), x, dy, stats, weight, sums, dx, v, s);
    }

    public static void RowNormalize(this KernelContext k, ArrayView<float> x, ArrayView<float> y,
        ArrayView<float> stats, ArrayView<float> weight, ArrayView<float> bias, AxisView v, NormScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AxisView,
            NormScalars>(RowNormalize)(k.ForItems(v.Outer), x, y, stats, weight, bias, v, s);

    public static void RowNormalizeGrad(this KernelContext k, ArrayView<float> x, ArrayView<float> dy,
        ArrayView<float> stats, ArrayView<float> weight, ArrayView<float> dx, ArrayView<float> sums, AxisView v,
        NormScalars s)
    {
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AxisView>(ColumnGradSums)(
            k.ForItems(v.Len), x, dy, stats, sums, v);
        if (s.GradInput == 0) return;
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AxisView,
            NormScalars>(RowNormalizeBackward)(k.ForItems(v.Outer), x, dy, stats, weight, dx, v, s);
    }
}
