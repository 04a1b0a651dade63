using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels.Simd;

// Stride-1 convolutions of small images without im2col's gather. On the zero-padded image (Hp × Wp per channel)
// compute every output row at full width Wp: "wide" column p' = oh·Wp + ow. Then im2col row r = (c, kh, kw) is the
// padded image itself shifted by off(r) = c·Hp·Wp + kh·DH·Wp + kw·DW: col'[r, p'] = xpad[off(r) + p'], one contiguous
// run per row, so the GEMM packs its panels straight from the image through a row table (Gemm.MultiplyRowTable) and
// col' is never written (im2col of a 10-pixel-wide output is ten 10-float pieces per row). The products run over
// the wide columns p' < (OH − 1)·Wp + OW; the Wp − OW columns at each row's end are junk, dropped when the block is
// written to y, and zero in the gradient's wide copy (so they add nothing to dw or dx). Columns are blocked as in the
// plain path.
public sealed unsafe partial class SimdKernels
{
    /// <summary>Widest output rows (OW) the wide path takes: beyond that im2col's rows are long enough already.</summary>
    private const int WideMaxOutputWidth = 64;

    private static bool UseWide(ConvGeometry g) =>
        g.SH == 1 && g.SW == 1 && !g.IsPointwise && g.OW <= WideMaxOutputWidth;

    [ThreadStatic] private static float* wideScratch;
    [ThreadStatic] private static long wideScratchLength;

    private static float* WideScratch(long floats)
    {
        if (wideScratchLength < floats)
        {
            NativeMemory.AlignedFree(wideScratch);
            wideScratch = (float*)NativeMemory.AlignedAlloc((nuint)(floats * 4), 64);
            wideScratchLength = floats;
        }
        return wideScratch;
    }

    /// <summary>A convolution pass in wide columns (see the file's comment); kinds as <see cref="ConvolutionPass"/>.</summary>
    private sealed class WidePass : IParallelWork
    {
        private readonly float* image, weights, output;
        private readonly ConvGeometry g;
        private readonly int kind;
        private readonly bool accumulate;
        private readonly int hp, wp, columns, width, blocks;
        private readonly int[] offsets;

        public WidePass(float* image, float* weights, float* output, ConvGeometry g, int kind, bool accumulate)
        {
            this.image = image;
            this.weights = weights;
            this.output = output;
            this.g = g;
            this.kind = kind;
            this.accumulate = accumulate;
            hp = g.H + 2 * g.PH;
            wp = g.W + 2 * g.PW;
            columns = (g.OH - 1) * wp + g.OW;
            if (kind == ConvolutionPass.InputGradient)
            {
                // dcol' is written before it is added back: blocks small enough to stay in cache.
                width = Math.Min(columns, Math.Max(32, InputGradientBlockFloats / g.K / 32 * 32));
            }
            else
            {
                // Nothing is materialised (the GEMM packs straight from the image): one block per item, or a few per
                // item when there are fewer than four items to share out (an online step).
                int perItem = Math.Max(1, (4 + g.N * g.Groups - 1) / (g.N * g.Groups));
                width = Math.Min(columns, ((columns + perItem - 1) / perItem + 31) / 32 * 32);
            }
            blocks = (columns + width - 1) / width;
            offsets = new int[g.K];
            for (int r = 0; r < g.K; r++)
            {
                int kw = r % g.KW, kh = r / g.KW % g.KH, c = r / (g.KW * g.KH);
                offsets[r] = c * hp * wp + kh * g.DH * wp + kw * g.DW;
            }
        }

        public float* Bias;
        public float* Target;

        /// <summary>Few output channels: the direct loops instead of GEMMs (<see cref="DirectConvolution"/>).</summary>
        private bool Direct => g.OCg <= DirectConvolution.MaxChannels && DirectConvolution.Supported;
        public float*[]? Partials;

        /// <summary>Units: (image, group, block) for forward and the weight gradient; (image, group) for the input gradient.</summary>
        public long Units => (long)g.N * g.Groups * (kind == ConvolutionPass.InputGradient ? 1 : blocks);

        [MethodImpl(Lanes.Hot)]
        public void Execute(int part, int parts)
        {
            long units = Units;
            long from = units * part / parts, to = units * (part + 1) / parts;
            bool padded = g.PH != 0 || g.PW != 0;
            long padFloats = padded ? (long)g.Cg * hp * wp + 16 : 0;
            // Scratch: [padded image | dcol' (K × width; input gradient only) | wide output or gradient (OCg × width)].
            long colFloats = kind == ConvolutionPass.InputGradient ? (long)g.K * width : 0;
            float* scratch = WideScratch(padFloats + colFloats + (long)g.OCg * width + 8L * g.K);
            float* pad = scratch, col = scratch + padFloats, wideOut = col + colFloats;
            float* transposedWeights = wideOut + (long)g.OCg * width; // the direct forward's 8·K floats
            float* dw = Target;
            if (kind == ConvolutionPass.WeightGradient && Partials != null)
            {
                dw = Partials[part];
                new Span<float>(dw, (int)((long)g.OC * g.K)).Clear();
            }
            int per = kind == ConvolutionPass.InputGradient ? 1 : blocks;
            int lastItem = -1;
            fixed (int* off = offsets)
            {
                for (long u = from; u < to; u++)
                {
                    int item = (int)(u / per), block = (int)(u % per);
                    int n = item / g.Groups, grp = item % g.Groups;
                    float* img = image + ((long)n * g.C + (long)grp * g.Cg) * g.Plane;
                    float* outp = output + ((long)n * g.OC + (long)grp * g.OCg) * g.P;
                    float* wg = weights + (long)grp * g.OCg * g.K;
                    if (kind == ConvolutionPass.InputGradient)
                    {
                        InputItem(img, wg, outp, padded ? pad : null, col, wideOut, off);
                        continue;
                    }
                    float* src = img;
                    if (padded)
                    {
                        if (item != lastItem) PadImage(img, pad);
                        src = pad;
                    }
                    lastItem = item;
                    int p0 = block * width, cw = Math.Min(width, columns - p0);
                    // col'[r, p] = src[off(r) + p0 + p]: the GEMM packs its panels from those rows in place.
                    if (kind == ConvolutionPass.Forward)
                    {
                        if (Direct)
                            DirectConvolution.Forward(wg, g.OCg, g.K, src + p0, off, cw, wideOut, transposedWeights);
                        else
                            Gemm.MultiplyRowTable<AsStored, AsStored>(wg, g.K, src + p0, off, wideOut, cw, g.OCg, cw, g.K, false);
                        Narrow(wideOut, outp, p0, cw, Bias == null ? null : Bias + grp * g.OCg);
                    }
                    else
                    {
                        Widen(outp, wideOut, p0, cw);
                        if (Direct)
                            DirectConvolution.WeightGradient(wideOut, g.OCg, g.K, src + p0, off, cw, dw + (long)grp * g.OCg * g.K);
                        else
                            Gemm.MultiplyRowTable<AsStored, AsTransposed>(wideOut, cw, src + p0, off,
                                dw + (long)grp * g.OCg * g.K, g.K, g.OCg, g.K, cw, true);
                    }
                }
            }
        }

        /// <summary>dx of one (image, group): dcol' = wᵀ·dy' per block, added back along each row's shift.</summary>
        private void InputItem(float* dx, float* w, float* dy, float* pad, float* col, float* wideGrad, int* off)
        {
            float* target = pad != null ? pad : dx;
            long planeFloats = pad != null ? (long)g.Cg * hp * wp : (long)g.Cg * g.Plane;
            if (pad != null || !accumulate) new Span<float>(target, (int)planeFloats).Clear();
            for (int p0 = 0; p0 < columns; p0 += width)
            {
                int cw = Math.Min(width, columns - p0);
                Widen(dy, wideGrad, p0, cw);
                if (Direct)
                {
                    DirectConvolution.InputGradient(w, g.OCg, g.K, wideGrad, cw, target + p0, off);
                    continue;
                }
                Gemm.MultiplyStrided<AsTransposed, AsStored>(w, g.K, wideGrad, cw, col, cw, g.K, cw, g.OCg, false);
                for (int r = 0; r < g.K; r++) Add(col + (long)r * cw, target + off[r] + p0, cw);
            }
            if (pad == null) return;
            for (int c = 0; c < g.Cg; c++)
            for (int h = 0; h < g.H; h++)
            {
                float* from = pad + ((long)c * hp + h + g.PH) * wp + g.PW;
                float* to = dx + ((long)c * g.H + h) * g.W;
                if (accumulate) Add(from, to, g.W);
                else Unsafe.CopyBlockUnaligned(to, from, (uint)g.W * 4);
            }
        }

        private static void Add(float* x, float* y, int n)
        {
            int i = 0;
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
                Vector.Store(Vector.Load(y + i) + Vector.Load(x + i), y + i);
            for (; i < n; i++) y[i] += x[i];
        }

        /// <summary>The group's channels into the zero-bordered Hp × Wp planes.</summary>
        private void PadImage(float* x, float* pad)
        {
            new Span<float>(pad, g.Cg * hp * wp).Clear();
            for (int c = 0; c < g.Cg; c++)
            for (int h = 0; h < g.H; h++)
                Unsafe.CopyBlockUnaligned(pad + ((long)c * hp + h + g.PH) * wp + g.PW, x + ((long)c * g.H + h) * g.W,
                    (uint)g.W * 4);
        }

        /// <summary>y[o, oh·OW + ow] = wide[o, p' − p0] (+ b[o]) for the block's wide columns p' = oh·Wp + ow with ow &lt; OW.</summary>
        private void Narrow(float* wide, float* y, int p0, int cw, float* bias)
        {
            for (int o = 0; o < g.OCg; o++)
            {
                float b = bias == null ? 0f : bias[o];
                float* src = wide + (long)o * cw;
                float* dst = y + (long)o * g.P;
                for (int p = p0, end = p0 + cw; p < end;)
                {
                    int oh = p / wp, ow = p % wp;
                    int run = Math.Min(wp - ow, end - p);
                    int keep = Math.Min(run, Math.Max(0, g.OW - ow));
                    float* s = src + (p - p0), d = dst + oh * g.OW + ow;
                    int i = 0;
                    for (var vb = new Vector<float>(b); i + Vector<float>.Count <= keep; i += Vector<float>.Count)
                        Vector.Store(Vector.Load(s + i) + vb, d + i);
                    for (; i < keep; i++) d[i] = s[i] + b;
                    p += run;
                }
            }
        }

        /// <summary>wide[o, p' − p0] = dy[o, oh·OW + ow], or 0 in the junk columns ow ≥ OW.</summary>
        private void Widen(float* dy, float* wide, int p0, int cw)
        {
            for (int o = 0; o < g.OCg; o++)
            {
                float* src = dy + (long)o * g.P;
                float* dst = wide + (long)o * cw;
                for (int p = p0, end = p0 + cw; p < end;)
                {
                    int oh = p / wp, ow = p % wp;
                    int run = Math.Min(wp - ow, end - p);
                    int keep = Math.Min(run, Math.Max(0, g.OW - ow));
                    float* d = dst + (p - p0), s = src + oh * g.OW + ow;
                    int i = 0;
                    for (; i + Vector<float>.Count <= keep; i += Vector<float>.Count) Vector.Store(Vector.Load(s + i), d + i);
                    for (; i < keep; i++) d[i] = s[i];
                    for (; i < run; i++) d[i] = 0f;
                    p += run;
                }
            }
        }
    }
}
