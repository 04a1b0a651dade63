using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Kernels.Simd;

/// <summary>
/// A block of an (image, group)'s im2col matrix: col[r, p − p0] for rows r = (c, kh, kw) &lt; K and output columns
/// p0 ≤ p &lt; p0 + cw, row-major with row length cw (<see cref="ConvGeometry.ColumnSource"/> says which pixel each
/// entry is). <see cref="Gather"/> builds it from the image (zeros in the padding); <see cref="ScatterAdd"/> adds it
/// back into an image gradient (col2im). Both walk one output row at a time: along it the pixels are W-strided by SW,
/// so with stride 1 each row segment is one contiguous copy (or add) between two runs of padding.
/// </summary>
public static unsafe class Im2Col
{
    public static void Gather(ConvGeometry g, float* image, float* col, int p0, int cw) =>
        Walk(g, image, col, p0, cw, new GatherRun());

    public static void ScatterAdd(ConvGeometry g, float* col, float* image, int p0, int cw) =>
        Walk(g, image, col, p0, cw, new ScatterAddRun());

    private interface IRun
    {
        /// <summary>col[i·1] ↔ image[i·stride] for i &lt; count.</summary>
        void Pixels(float* col, float* image, int count, int stride);

        /// <summary>count entries of col that are padding.</summary>
        void Padding(float* col, int count);
    }

    private static readonly Vector512<int> Lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    private readonly struct GatherRun : IRun
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Pixels(float* col, float* image, int count, int stride)
        {
            int i = 0;
            if (stride == 1 && Avx512F.IsSupported)
            {
                // Rows of small images are short (10–28 pixels): whole vectors, then one masked move for the rest.
                for (; i + 16 <= count; i += 16) Vector512.Store(Vector512.Load(image + i), col + i);
                if (i < count)
                {
                    var mask = Vector512.LessThan(Lane, Vector512.Create(count - i)).AsSingle();
                    Avx512F.MaskStore(col + i, mask, Avx512F.MaskLoad(image + i, mask, Vector512<float>.Zero));
                }
                return;
            }
            for (; i < count; i++) col[i] = image[(long)i * stride];
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Padding(float* col, int count)
        {
            for (int i = 0; i < count; i++) col[i] = 0f;
        }
    }

    private readonly struct ScatterAddRun : IRun
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Pixels(float* col, float* image, int count, int stride)
        {
            int i = 0;
            if (stride == 1)
                for (int w = System.Numerics.Vector<float>.Count; i + w <= count; i += w)
                    System.Numerics.Vector.Store(System.Numerics.Vector.Load(image + i) + System.Numerics.Vector.Load(col + i), image + i);
            for (; i < count; i++) image[(long)i * stride] += col[i];
        }

        public void Padding(float* col, int count)
        {
        }
    }

    [MethodImpl(Lanes.Hot)]
    private static void Walk<TRun>(ConvGeometry g, float* image, float* col, int p0, int cw, TRun run)
        where TRun : struct, IRun
    {
        int plane = g.H * g.W, end = p0 + cw;
        int firstRow = p0 / g.OW, lastRow = (end - 1) / g.OW;
        for (int r = 0; r < g.K; r++)
        {
            int kw = r % g.KW, kh = r / g.KW % g.KH, c = r / (g.KW * g.KH);
            float* channel = image + (long)c * plane;
            float* dst = col + (long)r * cw - p0;
            int colOffset = kw * g.DW - g.PW;
            // Output columns ow whose pixel column iw = ow·SW + colOffset lies in [0, W): [inFrom, inTo).
            int inFrom = colOffset >= 0 ? 0 : (-colOffset + g.SW - 1) / g.SW;
            int inTo = g.W - colOffset <= 0 ? 0 : (g.W - colOffset - 1) / g.SW + 1;
            inFrom = Math.Min(inFrom, g.OW);
            inTo = Math.Clamp(inTo, inFrom, g.OW);
            for (int oh = firstRow; oh <= lastRow; oh++)
            {
                int rowStart = oh * g.OW;
                int from = Math.Max(rowStart, p0) - rowStart, to = Math.Min(rowStart + g.OW, end) - rowStart;
                float* d = dst + rowStart;
                int ih = oh * g.SH - g.PH + kh * g.DH;
                if (ih < 0 || ih >= g.H)
                {
                    run.Padding(d + from, to - from);
                    continue;
                }
                int a = Math.Clamp(inFrom, from, to), b = Math.Clamp(inTo, a, to);
                if (a > from) run.Padding(d + from, a - from);
                if (b > a) run.Pixels(d + a, channel + (long)ih * g.W + a * g.SW + colOffset, b - a, g.SW);
                if (to > b) run.Padding(d + b, to - b);
            }
        }
    }
}
