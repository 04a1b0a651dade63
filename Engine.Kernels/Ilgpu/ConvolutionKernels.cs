using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Convolution on ILGPU (<see cref="ConvGeometry"/> states the math) as implicit GEMM: each pass is one launch of the
/// batched matrix product (<see cref="MatMulKernels"/>: the register-blocked kernel on GPUs), the batch item being the
/// (image, group) pair, with the convolution's matrices read through operand views that compute each element from
/// the tensors as the tiles are loaded (<see cref="ImageColumns"/>, <see cref="OutputTaps"/>, …): no im2col matrix is
/// written. Forward: y = w·col(x). Input gradient: dx (+)= taps(w)·taps(dy), the transposed convolution as a gather.
/// Weight gradient: per-image products dy·col(x)ᵀ into scratch, summed over the images by a strided sum.
/// </summary>
public static class ConvolutionKernels
{
    /// <summary>Most floats the weight gradient's per-image products may hold at once (64 MB).</summary>
    public const int ScratchFloats = 16 << 20;

    /// <summary>y[n, o, p] += b[o]: thread = element of y.</summary>
    public static void AddBias(ArrayView<float> y, ArrayView<float> bias, int channels, int perChannel)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = (int)y.Length; i < end; i += step)
            y[i] += bias[i / perChannel % channels];
    }

    private static StridedLayout Items(int images, int imageStride, ConvGeometry g, int groupStride) =>
        StridedLayout.Create(stackalloc int[] { images, g.Groups }, stackalloc int[] { imageStride, groupStride }, 0);

    private static StridedLayout Line(int count, int stride) =>
        StridedLayout.Create(stackalloc int[] { count }, stackalloc int[] { stride }, 0);

    public static void ConvForward(this KernelContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> y, ConvGeometry g)
    {
        var batch = new MatMulBatch
        {
            Items = g.N * g.Groups,
            A = Items(g.N, 0, g, g.OCg * g.K),
            B = Items(g.N, g.C * g.Plane, g, g.Cg * g.Plane),
        };
        k.BatchedMatMul(w, default(AsStored), x, new ImageColumns(g), y, g.OCg, g.P, g.K, false, 1f, batch);
        if (bias.Length > 0)
            k.Load<ArrayView<float>, ArrayView<float>, int, int>(AddBias)(k.ForItems(y.Length), y, bias, g.OC, g.P);
    }

    public static void ConvBackwardInput(this KernelContext k, ArrayView<float> dy, ArrayView<float> w,
        ArrayView<float> dx, ConvGeometry g, bool accumulate)
    {
        var batch = new MatMulBatch
        {
            Items = g.N * g.Groups,
            A = Items(g.N, 0, g, g.OCg * g.K),
            B = Items(g.N, g.OC * g.P, g, g.OCg * g.P),
        };
        k.BatchedMatMul(w, new WeightTaps(g), dy, new OutputTaps(g), dx, g.Cg, g.Plane, g.OCg * g.KH * g.KW,
            accumulate, 1f, batch);
    }

    /// <summary>Images per chunk of the weight gradient: as many as keep their products [image, OC, K] under <see cref="ScratchFloats"/>.</summary>
    public static int ChunkImages(ConvGeometry g) =>
        (int)Math.Clamp(ScratchFloats / Math.Max(1L, (long)g.OC * g.K), 1, Math.Max(1, g.N));

    /// <summary>Scratch floats <see cref="ConvBackwardWeight"/> needs.</summary>
    public static long ScratchFor(ConvGeometry g) => (long)ChunkImages(g) * g.OC * g.K;

    public static void ConvBackwardWeight(this KernelContext k, ArrayView<float> x, ArrayView<float> dy,
        ArrayView<float> dw, ArrayView<float> scratch, ConvGeometry g, bool accumulate)
    {
        int chunk = ChunkImages(g), size = g.OC * g.K;
        for (int n0 = 0; n0 < g.N; n0 += chunk)
        {
            int images = Math.Min(chunk, g.N - n0);
            var batch = new MatMulBatch
            {
                Items = images * g.Groups,
                A = Items(images, g.OC * g.P, g, g.OCg * g.P),
                B = Items(images, g.C * g.Plane, g, g.Cg * g.Plane),
            };
            k.BatchedMatMul(dy.SubView((long)n0 * g.OC * g.P), default(AsStored), x.SubView((long)n0 * g.C * g.Plane),
                new ImageColumnsTransposed(g), scratch, g.OCg, g.K, g.P, false, 1f, batch);
            // dw[j] (+)= Σ_n products[n, j] over j = (group, o, r).
            k.StridedSum(scratch, Line(size, 1), Line(images, size), dw, 1f, accumulate || n0 > 0);
        }
    }
}
