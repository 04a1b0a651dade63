using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;

namespace Engine.Kernels.Simd;

// Convolution as blocked matrix products (ConvGeometry states the math). Each (image, group) is cut into blocks of
// output columns small enough that the block's im2col matrix col[K, cw] stays in the thread's L2 cache: im2col writes
// it, the packed GEMM (Gemm.MultiplyStrided) consumes it at once, and no whole im2col matrix ever exists. A pointwise
// convolution (1×1, stride 1, no padding) skips im2col: the image is its own col. Stride-1 convolutions of small
// images take the wide-row path instead (SimdKernels.WideConvolution.cs, DirectConvolution.cs).
public sealed unsafe partial class SimdKernels
{
    /// <summary>Floats of one thread's im2col block (256 KB: it stays in L2 between im2col and the GEMM's packing).</summary>
    private const int ColumnBlockFloats = 64 * 1024;

    /// <summary>Floats of the wide path's dcol' block (the input gradient's, written then added back at once).</summary>
    private const int InputGradientBlockFloats = 64 * 1024;

    [ThreadStatic] private static float* columnBlock;
    [ThreadStatic] private static long columnBlockLength;

    public void ConvForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        ConvGeometry g)
    {
        if ((long)g.N * g.OC * g.P == 0) return;
        float* b = bias.Length == 0 ? null : Ptr(bias);
        if (UseWide(g))
        {
            var wide = new WidePass(Ptr(x), Ptr(w), Ptr(y), g, ConvolutionPass.Forward, false) { Bias = b };
            Run(wide, g, wide.Units);
            return;
        }
        var pass = new ConvolutionPass(Ptr(x), Ptr(w), Ptr(y), g, ConvolutionPass.Forward, false) { Bias = b };
        RunConvolution(pass, g, byBlocks: true);
    }

    public void ConvBackwardInput(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, ConvGeometry g,
        bool accumulate)
    {
        if ((long)g.N * g.C * g.Plane == 0) return;
        if (UseWide(g))
        {
            var wide = new WidePass(Ptr(dx), Ptr(w), Ptr(dy), g, ConvolutionPass.InputGradient, accumulate);
            Run(wide, g, wide.Units);
            return;
        }
        // Column blocks of one image overlap in dx (neighbouring windows share pixels): split by image and group only.
        RunConvolution(new ConvolutionPass(Ptr(dx), Ptr(w), Ptr(dy), g, ConvolutionPass.InputGradient, accumulate), g,
            byBlocks: false);
    }

    public void ConvBackwardWeight(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw, ConvGeometry g,
        bool accumulate)
    {
        long size = (long)g.OC * g.K;
        if (size == 0) return;
        bool wide = UseWide(g);
        var plain = wide ? null : new ConvolutionPass(Ptr(x), Ptr(dw), Ptr(dy), g, ConvolutionPass.WeightGradient, accumulate);
        var widePass = wide ? new WidePass(Ptr(x), Ptr(dw), Ptr(dy), g, ConvolutionPass.WeightGradient, accumulate) : null;
        int parts = PartsFor(g, wide ? widePass!.Units : (long)g.N * g.Groups * ColumnBlocks(g));
        if (parts <= 1)
        {
            if (!accumulate) new Span<float>(Ptr(dw), (int)size).Clear();
            if (wide) widePass!.Target = Ptr(dw);
            else plain!.Target = Ptr(dw);
            ((IParallelWork?)widePass ?? plain!).Execute(0, 1);
            return;
        }
        // Each part sums its share of (image, group, block) products into its own partial gradient; the partials
        // are then added in part order, so the result does not depend on thread timing. One buffer per part, not per
        // thread: the pool may run two parts on one thread.
        var partials = new float*[parts];
        for (int part = 0; part < parts; part++) partials[part] = (float*)NativeMemory.AlignedAlloc((nuint)(size * 4), 64);
        if (wide) widePass!.Partials = partials;
        else plain!.Partials = partials;
        try
        {
            Pool.Run((IParallelWork?)widePass ?? plain!, parts);
            float* target = Ptr(dw);
            for (int part = 0; part < parts; part++)
            {
                if (part == 0 && !accumulate) Buffer.MemoryCopy(partials[part], target, size * 4, size * 4);
                else AddInto(partials[part], target, size);
            }
        }
        finally
        {
            foreach (var partial in partials) NativeMemory.AlignedFree(partial);
        }
    }

    private static void AddInto(float* x, float* y, long n)
    {
        long i = 0;
        for (; i + System.Numerics.Vector<float>.Count <= n; i += System.Numerics.Vector<float>.Count)
            System.Numerics.Vector.Store(System.Numerics.Vector.Load(y + i) + System.Numerics.Vector.Load(x + i), y + i);
        for (; i < n; i++) y[i] += x[i];
    }

    /// <summary>Parts to split a pass of <paramref name="units"/> independent units into: one when too small to hand off.</summary>
    private int PartsFor(ConvGeometry g, long units)
    {
        long work = (long)g.N * g.OC * g.K * g.P;
        return Pool.Threads <= 1 || work < Gemm.ParallelThreshold ? 1 : (int)Math.Min(Pool.Threads, units);
    }

    private void RunConvolution(ConvolutionPass pass, ConvGeometry g, bool byBlocks) =>
        Run(pass, g, (long)g.N * g.Groups * (byBlocks ? ColumnBlocks(g) : 1));

    private void Run(IParallelWork pass, ConvGeometry g, long units)
    {
        int parts = PartsFor(g, units);
        if (parts <= 1) pass.Execute(0, 1);
        else Pool.Run(pass, parts);
    }

    /// <summary>Output columns per block: the most whose im2col block fits <see cref="ColumnBlockFloats"/>, in whole GEMM panels.</summary>
    private static int BlockColumns(ConvGeometry g)
    {
        if (g.IsPointwise) return g.P;
        int columns = Math.Max(32, ColumnBlockFloats / g.K / 32 * 32);
        return Math.Min(columns, g.P);
    }

    private static int ColumnBlocks(ConvGeometry g) => (g.P + BlockColumns(g) - 1) / BlockColumns(g);

    /// <summary>
    /// One pass of a convolution over units (image, group, column block), parts taking contiguous runs of units.
    /// <c>image</c> is x (forward, weight gradient) or dx (input gradient); <c>weights</c> is w or dw; <c>output</c>
    /// is y or dy.
    /// </summary>
    private sealed class ConvolutionPass(float* image, float* weights, float* output, ConvGeometry g, int kind,
        bool accumulate) : IParallelWork
    {
        public const int Forward = 0, InputGradient = 1, WeightGradient = 2;

        /// <summary>The forward's bias [OC], or null: added to each block while it is in cache.</summary>
        public float* Bias;

        /// <summary>The weight gradient's accumulator when run on one part.</summary>
        public float* Target;

        /// <summary>Each part's partial weight gradient (thread-local buffers), when split.</summary>
        public float*[]? Partials;

        [MethodImpl(Lanes.Hot)]
        public void Execute(int part, int parts)
        {
            int blocks = kind == InputGradient ? 1 : ColumnBlocks(g);
            int width = kind == InputGradient ? g.P : BlockColumns(g);
            long units = (long)g.N * g.Groups * blocks;
            long from = units * part / parts, to = units * (part + 1) / parts;
            float* col = g.IsPointwise ? null : ColumnBuffer(g.K, Math.Min(width, BlockColumns(g)));
            float* dw = Target;
            if (kind == WeightGradient && Partials != null)
            {
                // A part's partial starts at zero and every unit adds into it.
                dw = Partials[part];
                new Span<float>(dw, (int)((long)g.OC * g.K)).Clear();
            }
            for (long u = from; u < to; u++)
            {
                int item = (int)(u / blocks), block = (int)(u % blocks);
                int n = item / g.Groups, grp = item % g.Groups;
                float* img = image + ((long)n * g.C + (long)grp * g.Cg) * g.Plane;
                float* outp = output + ((long)n * g.OC + (long)grp * g.OCg) * g.P;
                float* wg = weights + (long)grp * g.OCg * g.K;
                if (kind == Forward)
                    ForwardBlock(img, wg, Bias == null ? null : Bias + grp * g.OCg, outp, col, block * width,
                        Math.Min(width, g.P - block * width));
                else if (kind == WeightGradient)
                    WeightBlock(img, dw + (long)grp * g.OCg * g.K, outp, col, block * width,
                        Math.Min(width, g.P - block * width));
                else InputBlock(img, wg, outp, col);
            }
        }

        private void ForwardBlock(float* x, float* w, float* bias, float* y, float* col, int p0, int cw)
        {
            if (g.IsPointwise)
            {
                Gemm.MultiplyStrided<AsStored, AsStored>(w, g.K, x + p0, g.P, y + p0, g.P, g.OCg, cw, g.K, false);
            }
            else
            {
                Im2Col.Gather(g, x, col, p0, cw);
                Gemm.MultiplyStrided<AsStored, AsStored>(w, g.K, col, cw, y + p0, g.P, g.OCg, cw, g.K, false);
            }
            if (bias == null) return;
            for (int o = 0; o < g.OCg; o++)
            {
                float* row = y + (long)o * g.P + p0;
                var b = new System.Numerics.Vector<float>(bias[o]);
                int i = 0;
                for (; i + System.Numerics.Vector<float>.Count <= cw; i += System.Numerics.Vector<float>.Count)
                    System.Numerics.Vector.Store(System.Numerics.Vector.Load(row + i) + b, row + i);
                for (; i < cw; i++) row[i] += bias[o];
            }
        }

        private void WeightBlock(float* x, float* dw, float* dy, float* col, int p0, int cw)
        {
            if (g.IsPointwise)
            {
                Gemm.MultiplyStrided<AsStored, AsTransposed>(dy + p0, g.P, x + p0, g.P, dw, g.K, g.OCg, g.K, cw, true);
                return;
            }
            Im2Col.Gather(g, x, col, p0, cw);
            Gemm.MultiplyStrided<AsStored, AsTransposed>(dy + p0, g.P, col, cw, dw, g.K, g.OCg, g.K, cw, true);
        }

        private void InputBlock(float* dx, float* w, float* dy, float* col)
        {
            if (g.IsPointwise)
            {
                Gemm.MultiplyStrided<AsTransposed, AsStored>(w, g.K, dy, g.P, dx, g.P, g.K, g.P, g.OCg, accumulate);
                return;
            }
            if (!accumulate) new Span<float>(dx, g.Cg * g.Plane).Clear();
            int width = BlockColumns(g);
            for (int p0 = 0; p0 < g.P; p0 += width)
            {
                int cw = Math.Min(width, g.P - p0);
                Gemm.MultiplyStrided<AsTransposed, AsStored>(w, g.K, dy + p0, g.P, col, cw, g.K, cw, g.OCg, false);
                Im2Col.ScatterAdd(g, col, dx, p0, cw);
            }
        }
    }

    /// <summary>The thread's im2col block: <see cref="ColumnBlockFloats"/>, or more when K alone is that large.</summary>
    private static float* ColumnBuffer(int k, int columns)
    {
        long need = Math.Max((long)k * columns, ColumnBlockFloats);
        if (columnBlockLength < need)
        {
            NativeMemory.AlignedFree(columnBlock);
            columnBlock = (float*)NativeMemory.AlignedAlloc((nuint)(need * 4), 64);
            columnBlockLength = need;
        }
        return columnBlock;
    }

}
