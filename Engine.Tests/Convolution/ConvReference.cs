namespace Engine.Tests;

/// <summary>Plain double-precision references for the convolution and pooling ops: the definitions, as loops.</summary>
public static class ConvReference
{
    /// <summary>A 2-D convolution's shape: x [N, C, H, W], w [OC, C/G, KH, KW], zero padding.</summary>
    public sealed record Conv(int N, int C, int H, int W, int OC, int KH, int KW, int SH = 1, int SW = 1, int PH = 0,
        int PW = 0, int DH = 1, int DW = 1, int G = 1)
    {
        public int OH => (H + 2 * PH - DH * (KH - 1) - 1) / SH + 1;
        public int OW => (W + 2 * PW - DW * (KW - 1) - 1) / SW + 1;
        public int[] XShape => new[] { N, C, H, W };
        public int[] WShape => new[] { OC, C / G, KH, KW };
        public int[] YShape => new[] { N, OC, OH, OW };

        public override string ToString() =>
            $"x[{N},{C},{H},{W}] w[{OC},{C / G},{KH},{KW}] s({SH},{SW}) p({PH},{PW}) d({DH},{DW}) g{G}";
    }

    /// <summary>Calls <paramref name="tap"/>(y index, x index, w index) for every product of the convolution's sum.</summary>
    private static void Taps(Conv s, Action<int, int, int> tap)
    {
        int cg = s.C / s.G, ocg = s.OC / s.G;
        for (int n = 0; n < s.N; n++)
        for (int o = 0; o < s.OC; o++)
        for (int i = 0; i < s.OH; i++)
        for (int j = 0; j < s.OW; j++)
        for (int c = 0; c < cg; c++)
        for (int kh = 0; kh < s.KH; kh++)
        for (int kw = 0; kw < s.KW; kw++)
        {
            int ih = i * s.SH - s.PH + kh * s.DH, iw = j * s.SW - s.PW + kw * s.DW;
            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
            int channel = o / ocg * cg + c;
            tap(((n * s.OC + o) * s.OH + i) * s.OW + j, ((n * s.C + channel) * s.H + ih) * s.W + iw,
                ((o * cg + c) * s.KH + kh) * s.KW + kw);
        }
    }

    public static double[] Conv2d(Conv s, double[] x, double[] w, double[]? b = null)
    {
        var y = new double[s.N * s.OC * s.OH * s.OW];
        if (b != null)
            for (int e = 0; e < y.Length; e++) y[e] = b[e / (s.OH * s.OW) % s.OC];
        Taps(s, (yi, xi, wi) => y[yi] += x[xi] * w[wi]);
        return y;
    }

    /// <summary>∂⟨dy, conv(x, w)⟩/∂x.</summary>
    public static double[] Conv2dInputGrad(Conv s, double[] dy, double[] w)
    {
        var dx = new double[s.N * s.C * s.H * s.W];
        Taps(s, (yi, xi, wi) => dx[xi] += dy[yi] * w[wi]);
        return dx;
    }

    /// <summary>∂⟨dy, conv(x, w)⟩/∂w.</summary>
    public static double[] Conv2dWeightGrad(Conv s, double[] x, double[] dy)
    {
        var dw = new double[s.OC * (s.C / s.G) * s.KH * s.KW];
        Taps(s, (yi, xi, wi) => dw[wi] += dy[yi] * x[xi]);
        return dw;
    }

    /// <summary>
    /// PyTorch's pooling windows, written from its definitions: fixed windows (kernel, stride, padding, dilation) or
    /// adaptive ones (⌊o·in/out⌋ … ⌈(o + 1)·in/out⌉); max takes the first largest (NaN wins), average divides by the
    /// padded window clipped to the padded plane (count_include_pad), by the taps inside, or by an override.
    /// </summary>
    public static double[] Pool2d(double[] x, int planes, int h, int w, int oh, int ow, bool max, bool adaptive,
        int kh = 1, int kw = 1, int sh = 1, int sw = 1, int ph = 0, int pw = 0, int dh = 1, int dw = 1,
        bool countIncludePad = true, int divisor = 0)
    {
        var y = new double[planes * oh * ow];
        for (int p = 0; p < planes; p++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            var rows = new List<int>();
            var cols = new List<int>();
            int padRows, padCols;
            if (adaptive)
            {
                for (int r = i * h / oh; r < ((i + 1) * h + oh - 1) / oh; r++) rows.Add(r);
                for (int c = j * w / ow; c < ((j + 1) * w + ow - 1) / ow; c++) cols.Add(c);
                padRows = rows.Count;
                padCols = cols.Count;
            }
            else
            {
                for (int t = 0; t < kh; t++) rows.Add(i * sh - ph + t * dh);
                for (int t = 0; t < kw; t++) cols.Add(j * sw - pw + t * dw);
                padRows = Math.Min(i * sh - ph + kh, h + ph) - (i * sh - ph);
                padCols = Math.Min(j * sw - pw + kw, w + pw) - (j * sw - pw);
            }
            double best = double.NegativeInfinity, sum = 0;
            int inside = 0;
            bool any = false;
            foreach (int r in rows)
            foreach (int c in cols)
            {
                if (r < 0 || r >= h || c < 0 || c >= w) continue;
                double v = x[(p * h + r) * w + c];
                if (!any || v > best || double.IsNaN(v)) best = double.IsNaN(best) ? best : v;
                any = true;
                sum += v;
                inside++;
            }
            y[(p * oh + i) * ow + j] = max ? best
                : sum / (divisor != 0 ? divisor : !adaptive && countIncludePad ? padRows * padCols : inside);
        }
        return y;
    }
}
