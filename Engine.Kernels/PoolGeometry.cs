using ILGPU;

namespace Engine.Kernels;

/// <summary>
/// The windows of a 2-D pooling over <see cref="Planes"/> planes of H×W (a 1-D one is H = KH = 1), output OH×OW per
/// plane. A fixed window (as <c>max_pool2d</c>/<c>avg_pool2d</c>) covers rows oh·SH − PH + kh·DH for kh &lt; KH (and the
/// same for columns), skipping those outside the plane; an adaptive one (<see cref="Adaptive"/> = 1, as
/// <c>adaptive_avg_pool2d</c>) covers rows ⌊oh·H/OH⌋ … ⌈(oh + 1)·H/OH⌉ − 1.
/// </summary>
public struct PoolGeometry
{
    public int Planes, H, W, OH, OW;
    public int KH, KW, SH, SW, PH, PW, DH, DW;

    /// <summary>1: adaptive windows (the K/S/P/D fields are unused).</summary>
    public int Adaptive;

    /// <summary>Average pooling: 1 divides by the window's size including padding, 0 by the taps inside the plane.</summary>
    public int CountIncludePad;

    /// <summary>Average pooling: a fixed divisor (PyTorch's divisor_override), 0 for none.</summary>
    public int Divisor;

    /// <summary>First row (column) of output row <paramref name="o"/>'s window, its tap step and tap count, before clipping.</summary>
    public readonly void RowWindow(int o, out int start, out int step, out int taps) =>
        Window(o, H, OH, KH, SH, PH, DH, out start, out step, out taps);

    public readonly void ColumnWindow(int o, out int start, out int step, out int taps) =>
        Window(o, W, OW, KW, SW, PW, DW, out start, out step, out taps);

    private readonly void Window(int o, int input, int output, int kernel, int stride, int pad, int dilation,
        out int start, out int step, out int taps)
    {
        if (Adaptive != 0)
        {
            start = o * input / output;
            int end = ((o + 1) * input + output - 1) / output;
            step = 1;
            taps = end - start;
        }
        else
        {
            start = o * stride - pad;
            step = dilation;
            taps = kernel;
        }
    }

    /// <summary>
    /// The divisor of an average window: the override, else (with count_include_pad) the window's extent clipped to
    /// the padded plane, as PyTorch counts it, else the taps inside the plane.
    /// </summary>
    public readonly int AverageDivisor(int oh, int ow)
    {
        if (Divisor != 0) return Divisor;
        RowWindow(oh, out int r0, out int rs, out int rn);
        ColumnWindow(ow, out int c0, out int cs, out int cn);
        if (Adaptive == 0 && CountIncludePad != 0)
        {
            int rows = Math.Min(r0 + rn, H + PH) - r0, cols = Math.Min(c0 + cn, W + PW) - c0;
            return rows * cols;
        }
        return Inside(r0, rs, rn, H) * Inside(c0, cs, cn, W);
    }

    /// <summary>How many of the taps start + t·step (t &lt; taps) fall inside [0, size).</summary>
    public static int Inside(int start, int step, int taps, int size)
    {
        int count = 0;
        for (int t = 0; t < taps; t++)
        {
            int i = start + t * step;
            if (i >= 0 && i < size) count++;
        }
        return count;
    }

    // The window math both backends run: the ILGPU kernels per output (or plane) thread, the SIMD backend per plane
    // on its pool.

    /// <summary>max over output (oh, ow)'s window of the plane at <paramref name="plane"/>; NaN wins (the last one, as PyTorch's CPU kernel); index = h·W + w.</summary>
    public readonly float MaxAt(ArrayView<float> x, int plane, int oh, int ow, out int index)
    {
        RowWindow(oh, out int r0, out int rs, out int rn);
        ColumnWindow(ow, out int c0, out int cs, out int cn);
        float best = float.NegativeInfinity;
        index = -1;
        for (int i = 0; i < rn; i++)
        {
            int h = r0 + i * rs;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < cn; j++)
            {
                int w = c0 + j * cs;
                if (w < 0 || w >= W) continue;
                float v = x[plane * H * W + h * W + w];
                if (index < 0 || v > best || float.IsNaN(v))
                {
                    best = v;
                    index = h * W + w;
                }
            }
        }
        return best;
    }

    /// <summary>Σ over output (oh, ow)'s window inside the plane, divided by <see cref="AverageDivisor"/>.</summary>
    public readonly float AverageAt(ArrayView<float> x, int plane, int oh, int ow)
    {
        RowWindow(oh, out int r0, out int rs, out int rn);
        ColumnWindow(ow, out int c0, out int cs, out int cn);
        float sum = 0f;
        for (int i = 0; i < rn; i++)
        {
            int h = r0 + i * rs;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < cn; j++)
            {
                int w = c0 + j * cs;
                if (w >= 0 && w < W) sum += x[plane * H * W + h * W + w];
            }
        }
        return sum / AverageDivisor(oh, ow);
    }

    /// <summary>One plane of the average pool's backward: dx += dy/divisor at each tap, outputs in order.</summary>
    public readonly void AverageGradPlane(ArrayView<float> dy, ArrayView<float> dx, int plane)
    {
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            RowWindow(oh, out int r0, out int rs, out int rn);
            ColumnWindow(ow, out int c0, out int cs, out int cn);
            float share = dy[(plane * OH + oh) * OW + ow] / AverageDivisor(oh, ow);
            for (int i = 0; i < rn; i++)
            {
                int h = r0 + i * rs;
                if (h < 0 || h >= H) continue;
                for (int j = 0; j < cn; j++)
                {
                    int w = c0 + j * cs;
                    if (w >= 0 && w < W) dx[plane * H * W + h * W + w] += share;
                }
            }
        }
    }

    /// <summary>One plane of the max pool's backward: dx[indices[j]] += dy[j], outputs in order.</summary>
    public readonly void MaxGradPlane(ArrayView<float> dy, ArrayView<int> indices, ArrayView<float> dx, int plane)
    {
        for (int o = plane * OH * OW, end = o + OH * OW; o < end; o++)
        {
            int index = indices[o];
            if (index >= 0) dx[plane * H * W + index] += dy[o];
        }
    }
}
