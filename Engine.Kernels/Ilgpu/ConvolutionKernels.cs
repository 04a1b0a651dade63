using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Convolution on ILGPU (<see cref="ConvGeometry"/> states the math): for a chunk of images at a time, <see cref="Im2Col"/>
/// writes each (image, group)'s im2col matrix into a scratch buffer and the batched matrix product
/// (<see cref="MatMulKernels"/>: the register-blocked kernel on GPUs) multiplies the whole chunk in one launch, the
/// (image, group) pair being the product's batch item; <see cref="Col2Im"/> folds the input gradient's columns back into
/// pixels, and a strided sum adds the weight gradient's per-image products. Chunks keep the scratch under
/// <see cref="ScratchFloats"/>.
/// </summary>
public static class ConvolutionKernels
{
    /// <summary>Most floats the im2col scratch of one chunk may hold (64 MB).</summary>
    public const int ScratchFloats = 16 << 20;

    /// <summary>
    /// col[i, r, p] = x[n, g·Cg + c, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW] (0 in the padding) for the chunk's items
    /// i = (n − n0)·G + g, rows r = (c, kh, kw), columns p = (oh, ow). Thread = element of col.
    /// </summary>
    public static void Im2Col(ArrayView<float> x, ArrayView<float> col, ConvGeometry g, int n0, int items)
    {
        int perItem = g.K * g.P;
        for (int e = GridStride.Start, step = GridStride.Step, end = items * perItem; e < end; e += step)
        {
            int i = e / perItem, rp = e % perItem;
            int n = n0 + i / g.Groups, grp = i % g.Groups;
            int source = g.ColumnSource(rp / g.P, rp % g.P);
            col[e] = source < 0 ? 0f : x[(n * g.C + grp * g.Cg) * g.Plane + source];
        }
    }

    /// <summary>
    /// dx[n, g·Cg + c, ih, iw] (+)= Σ col[i, (c, kh, kw), (oh, ow)] over the taps with oh·SH − PH + kh·DH = ih and
    /// ow·SW − PW + kw·DW = iw (col2im as a gather: thread = pixel of dx, its taps in (kh, kw) order, no atomics).
    /// </summary>
    public static void Col2Im(ArrayView<float> col, ArrayView<float> dx, ConvGeometry g, int n0, int items, int accumulate)
    {
        int perImage = g.C * g.Plane;
        for (int e = GridStride.Start, step = GridStride.Step, end = items / g.Groups * perImage; e < end; e += step)
        {
            int n = n0 + e / perImage, rest = e % perImage;
            int channel = rest / g.Plane, ih = rest % g.Plane / g.W, iw = rest % g.W;
            int grp = channel / g.Cg, c = channel % g.Cg;
            int item = (n - n0) * g.Groups + grp;
            float sum = 0f;
            for (int kh = 0; kh < g.KH; kh++)
            {
                int th = ih + g.PH - kh * g.DH;
                if (th < 0 || th % g.SH != 0 || th / g.SH >= g.OH) continue;
                for (int kw = 0; kw < g.KW; kw++)
                {
                    int tw = iw + g.PW - kw * g.DW;
                    if (tw < 0 || tw % g.SW != 0 || tw / g.SW >= g.OW) continue;
                    int row = (c * g.KH + kh) * g.KW + kw;
                    sum += col[(item * g.K + row) * g.P + th / g.SH * g.OW + tw / g.SW];
                }
            }
            int target = n * perImage + rest;
            dx[target] = accumulate != 0 ? dx[target] + sum : sum;
        }
    }

    /// <summary>Images per chunk: as many as keep the chunk's im2col matrices under <see cref="ScratchFloats"/> (at least one).</summary>
    public static int ChunkImages(ConvGeometry g) =>
        (int)Math.Clamp(ScratchFloats / Math.Max(1L, (long)g.Groups * g.K * g.P), 1, g.N);

    private static StridedLayout Items(int items, int stride) =>
        StridedLayout.Create(stackalloc int[] { items }, stackalloc int[] { stride }, 0);

    /// <summary>w's group for item (n, g): the same G weight blocks for every image.</summary>
    private static StridedLayout WeightItems(ConvGeometry g, int images) =>
        StridedLayout.Create(stackalloc int[] { images, g.Groups }, stackalloc int[] { 0, g.OCg * g.K }, 0);

    /// <summary>y[n, o, p] += b[o]: thread = element of y.</summary>
    public static void AddBias(ArrayView<float> y, ArrayView<float> bias, int channels, int perChannel)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = (int)y.Length; i < end; i += step)
            y[i] += bias[i / perChannel % channels];
    }

    public static void ConvForward(this KernelContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> y, ArrayView<float> scratch, ConvGeometry g)
    {
        int chunk = ChunkImages(g);
        for (int n0 = 0; n0 < g.N; n0 += chunk)
        {
            int images = Math.Min(chunk, g.N - n0), items = images * g.Groups;
            k.Load<ArrayView<float>, ArrayView<float>, ConvGeometry, int, int>(Im2Col)(
                k.ForItems((long)items * g.K * g.P), x, scratch, g, n0, items);
            k.BatchedMatMul<AsStored, AsStored>(w, scratch, y.SubView((long)n0 * g.OC * g.P), g.OCg, g.P, g.K, false, 1f,
                new MatMulBatch { Items = items, A = WeightItems(g, images), B = Items(items, g.K * g.P) });
        }
        if (bias.Length > 0)
            k.Load<ArrayView<float>, ArrayView<float>, int, int>(AddBias)(k.ForItems(y.Length), y, bias, g.OC, g.P);
    }

    public static void ConvBackwardInput(this KernelContext k, ArrayView<float> dy, ArrayView<float> w,
        ArrayView<float> dx, ArrayView<float> scratch, ConvGeometry g, bool accumulate)
    {
        int chunk = ChunkImages(g);
        for (int n0 = 0; n0 < g.N; n0 += chunk)
        {
            int images = Math.Min(chunk, g.N - n0), items = images * g.Groups;
            k.BatchedMatMul<AsTransposed, AsStored>(w, dy.SubView((long)n0 * g.OC * g.P), scratch, g.K, g.P, g.OCg,
                false, 1f, new MatMulBatch { Items = items, A = WeightItems(g, images), B = Items(items, g.OCg * g.P) });
            k.Load<ArrayView<float>, ArrayView<float>, ConvGeometry, int, int, int>(Col2Im)(
                k.ForItems((long)images * g.C * g.Plane), scratch, dx, g, n0, items, accumulate ? 1 : 0);
        }
    }

    /// <summary>Needs scratch for the chunk's im2col matrices and then its per-image products [items, OCg, K].</summary>
    public static void ConvBackwardWeight(this KernelContext k, ArrayView<float> x, ArrayView<float> dy,
        ArrayView<float> dw, ArrayView<float> scratch, ConvGeometry g, bool accumulate)
    {
        int chunk = ChunkImages(g);
        long colFloats = (long)chunk * g.Groups * g.K * g.P;
        var products = scratch.SubView(colFloats);
        for (int n0 = 0; n0 < g.N; n0 += chunk)
        {
            int images = Math.Min(chunk, g.N - n0), items = images * g.Groups;
            k.Load<ArrayView<float>, ArrayView<float>, ConvGeometry, int, int>(Im2Col)(
                k.ForItems((long)items * g.K * g.P), x, scratch, g, n0, items);
            k.BatchedMatMul<AsStored, AsTransposed>(dy.SubView((long)n0 * g.OC * g.P), scratch, products, g.OCg, g.K,
                g.P, false, 1f, new MatMulBatch { Items = items, A = Items(items, g.OCg * g.P), B = Items(items, g.K * g.P) });
            // dw[j] (+)= Σ_n products[n, j] over j = (g, o, r).
            int size = g.OC * g.K;
            k.StridedSum(products, Items(size, 1), Items(images, size), dw, 1f, accumulate || n0 > 0);
        }
    }

    /// <summary>Scratch floats <see cref="ConvBackwardWeight"/> needs (the others need the im2col part only).</summary>
    public static long ScratchFor(ConvGeometry g)
    {
        long chunk = ChunkImages(g);
        return chunk * g.Groups * g.K * g.P + chunk * g.OC * g.K;
    }
}
