using Engine.Kernels;
using Engine.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Engine.Tests;

/// <summary>
/// The GPU matrix product (<see cref="MatMulKernels.RegisterBlocked{TA,TB}"/>: 256-thread groups, 128×128 blocks, 8×8
/// per thread) against the double reference, in the three layouts backward uses and the fourth, on shapes that fill
/// no block, part of one, several with ragged edges, and K not a multiple of the K-step; α and accumulation included.
/// It runs on an ILGPU CPU accelerator built with 256-thread groups (the suite's own simulates 4), and also on the
/// suite's device when that is a GPU or OpenCL.
/// </summary>
public sealed class RegisterBlockedMatMulTests : IDisposable
{
    private readonly Context context;
    private readonly Accelerator accelerator;
    private readonly IlgpuKernels kernels;

    public RegisterBlockedMatMulTests()
    {
        context = Context.Create(b => b.CPU(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1))
            .EnableAlgorithms());
        accelerator = context.CreateCPUAccelerator(0);
        kernels = new IlgpuKernels(accelerator) { Context = { MatMulVariant = MatMulVariant.RegisterBlocked, ForceRegisterBlocked = true } };
    }

    public void Dispose()
    {
        accelerator.Dispose();
        context.Dispose();
    }

    public static IEnumerable<object[]> Shapes() => new[]
    {
        new object[] { 1, 1, 1 }, new object[] { 17, 1, 13 }, new object[] { 31, 37, 29 }, new object[] { 64, 33, 65 },
        new object[] { 130, 9, 257 }, new object[] { 128, 16, 128 },
    };

    private static double[] Reference(float[] a, float[] b, int m, int n, int k, bool ta, bool tb)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++) s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = s;
        }
        return c;
    }

    private static void Check(IKernels k, Accelerator acc, int m, int n, int kDim)
    {
        var a = Engine.Tests.Reference.RandomValues(m * 31 + kDim, m * kDim);
        var b = Engine.Tests.Reference.RandomValues(n * 17 + kDim, kDim * n);
        var start = Engine.Tests.Reference.RandomValues(5, m * n);
        using var da = acc.Allocate1D(a);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D<float>(m * n);
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            dc.CopyFromCPU(start);
            void Run(bool accumulate, float alpha)
            {
                switch (ta, tb)
                {
                    case (false, false): k.MatMul<AsStored, AsStored>(da.View, db.View, dc.View, m, n, kDim, accumulate, alpha); break;
                    case (false, true): k.MatMul<AsStored, AsTransposed>(da.View, db.View, dc.View, m, n, kDim, accumulate, alpha); break;
                    case (true, false): k.MatMul<AsTransposed, AsStored>(da.View, db.View, dc.View, m, n, kDim, accumulate, alpha); break;
                    default: k.MatMul<AsTransposed, AsTransposed>(da.View, db.View, dc.View, m, n, kDim, accumulate, alpha); break;
                }
            }
            var expected = Reference(a, b, m, n, kDim, ta, tb);
            Run(accumulate: false, alpha: 1f);
            Expect.Close(expected, dc.GetAsArray1D(), 1e-4, 1e-5, $"{m}×{kDim}·{kDim}×{n}, A{(ta ? "ᵀ" : "")}·B{(tb ? "ᵀ" : "")}");
            Run(accumulate: true, alpha: -0.5f); // C += −½·A·B: half of the product is left
            Expect.Close(expected.Select(v => v / 2).ToArray(), dc.GetAsArray1D(), 1e-4, 1e-5, $"{m}×{n} accumulate, α = −½");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Matches_the_reference_on_a_cpu_accelerator_with_256_thread_groups(int m, int kDim, int n) =>
        Check(kernels, accelerator, m, n, kDim);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Matches_the_reference_on_the_suites_gpu_or_opencl_device(int m, int kDim, int n)
    {
        var suite = TestDevice.Instance.Kernels as IlgpuKernels;
        if (suite == null || suite.Context.Accelerator.AcceleratorType == AcceleratorType.CPU ||
            suite.Context.Accelerator.MaxNumThreadsPerGroup < MatMulKernels.BlockThreads)
        {
            Assert.Skip("the suite's device is not a GPU or OpenCL device with 256-thread groups (ENGINE_DEVICE=cuda|opencl).");
            return;
        }
        var saved = (suite.Context.MatMulVariant, suite.Context.ForceRegisterBlocked);
        suite.Context.MatMulVariant = MatMulVariant.RegisterBlocked;
        suite.Context.ForceRegisterBlocked = true;
        try
        {
            Check(suite, suite.Context.Accelerator, m, n, kDim);
        }
        finally
        {
            (suite.Context.MatMulVariant, suite.Context.ForceRegisterBlocked) = saved;
        }
    }

    /// <summary>
    /// Every ILGPU variant runs a batch in one launch (the item is the grid's outer index): three items of B against one
    /// A repeated by a zero batch stride, B read transposed, each C_i against the reference.
    /// </summary>
    [Theory]
    [InlineData(MatMulVariant.RegisterBlocked)]
    [InlineData(MatMulVariant.Tiled)]
    [InlineData(MatMulVariant.Direct)]
    public void A_batch_with_a_broadcast_operand_runs_in_one_launch(MatMulVariant variant)
    {
        int m = 70, n = 65, kDim = 19, items = 3;
        var saved = kernels.Context.MatMulVariant;
        kernels.Context.MatMulVariant = variant;
        try
        {
            var a = Engine.Tests.Reference.RandomValues(1, m * kDim);
            var b = Engine.Tests.Reference.RandomValues(2, items * n * kDim);
            using var da = accelerator.Allocate1D(a);
            using var db = accelerator.Allocate1D(b);
            using var dc = accelerator.Allocate1D<float>(items * m * n);
            long before = kernels.Context.Launches;
            kernels.BatchedMatMul<AsStored, AsTransposed>(da.View, StridedLayout.Create(new[] { items }, new[] { 0 }, 0),
                db.View, StridedLayout.Create(new[] { items }, new[] { n * kDim }, 0), dc.View, m, n, kDim, accumulate: false);
            Assert.Equal(1, kernels.Context.Launches - before);
            var c = dc.GetAsArray1D();
            for (int i = 0; i < items; i++)
                Expect.Close(Reference(a, b.Skip(i * n * kDim).Take(n * kDim).ToArray(), m, n, kDim, false, true),
                    c.Skip(i * m * n).Take(m * n).ToArray(), 1e-4, 1e-5, $"{variant}, item {i}");
        }
        finally
        {
            kernels.Context.MatMulVariant = saved;
        }
    }

    /// <summary>
    /// The convolution's implicit GEMM on every ILGPU variant: the im2col and tap operand views feed the 128×128
    /// register-blocked tiles (and the shared-memory and direct kernels), grouped, strided, padded and dilated; forward,
    /// input and weight gradients against the double reference, each pass one product launch (the weight gradient one
    /// more for its sum over the images).
    /// </summary>
    [Theory]
    [InlineData(MatMulVariant.RegisterBlocked)]
    [InlineData(MatMulVariant.Tiled)]
    [InlineData(MatMulVariant.Direct)]
    public void Convolution_passes_run_as_implicit_gemm_on_every_variant(MatMulVariant variant) =>
        CheckConvolution(kernels, accelerator, variant, repeats: 1);

    /// <summary>
    /// The same on the suite's GPU or OpenCL device, each pass repeated: a race between a group's threads (on PoCL the
    /// tiled kernel's shared tiles once overlapped when both operand views carried fields) shows as a run that differs.
    /// </summary>
    [Theory]
    [InlineData(MatMulVariant.RegisterBlocked)]
    [InlineData(MatMulVariant.Tiled)]
    [InlineData(MatMulVariant.Direct)]
    public void Convolution_passes_are_right_on_every_run_on_the_suites_gpu_or_opencl_device(MatMulVariant variant)
    {
        var suite = TestDevice.Instance.Kernels as IlgpuKernels;
        if (suite == null || suite.Context.Accelerator.AcceleratorType == AcceleratorType.CPU)
        {
            Assert.Skip("the suite's device is not a GPU or OpenCL device (ENGINE_DEVICE=cuda|opencl).");
            return;
        }
        CheckConvolution(suite, suite.Context.Accelerator, variant, repeats: 5);
    }

    private static void CheckConvolution(IlgpuKernels kernels, Accelerator accelerator, MatMulVariant variant, int repeats)
    {
        var s = new ConvReference.Conv(3, 4, 13, 11, 6, 3, 2, SH: 2, SW: 1, PH: 1, PW: 1, DH: 1, DW: 2, G: 2);
        var g = new ConvGeometry(s.N, s.C, s.H, s.W, s.OC, s.KH, s.KW, s.SH, s.SW, s.PH, s.PW, s.DH, s.DW, s.G);
        var saved = (kernels.Context.MatMulVariant, kernels.Context.ForceRegisterBlocked);
        kernels.Context.MatMulVariant = variant;
        kernels.Context.ForceRegisterBlocked = true;
        try
        {
            var x = Engine.Tests.Reference.RandomValues(31, s.N * s.C * s.H * s.W, -1, 1);
            var w = Engine.Tests.Reference.RandomValues(32, s.OC * (s.C / s.G) * s.KH * s.KW, -1, 1);
            var dy = Engine.Tests.Reference.RandomValues(33, s.N * s.OC * s.OH * s.OW, -1, 1);
            double[] xd = Engine.Tests.Reference.ToDouble(x), wd = Engine.Tests.Reference.ToDouble(w), dyd = Engine.Tests.Reference.ToDouble(dy);
            using var dx = accelerator.Allocate1D(x);
            using var dw = accelerator.Allocate1D(w);
            using var ddy = accelerator.Allocate1D(dy);
            using var y = accelerator.Allocate1D<float>(dy.Length);
            using var gx = accelerator.Allocate1D<float>(x.Length);
            using var gw = accelerator.Allocate1D<float>(w.Length);
            for (int run = 0; run < repeats; run++)
            {
                long before = kernels.Context.Launches;
                kernels.ConvForward(dx.View, dw.View, default, y.View, g);
                kernels.ConvBackwardInput(ddy.View, dw.View, gx.View, g, accumulate: false);
                Assert.Equal(2, kernels.Context.Launches - before);
                kernels.ConvBackwardWeight(dx.View, ddy.View, gw.View, g, accumulate: false);
                Expect.Close(ConvReference.Conv2d(s, xd, wd), y.GetAsArray1D(), 1e-4, 1e-4, $"{variant}, run {run}: forward");
                Expect.Close(ConvReference.Conv2dInputGrad(s, dyd, wd), gx.GetAsArray1D(), 1e-4, 1e-4, $"{variant}, run {run}: input gradient");
                Expect.Close(ConvReference.Conv2dWeightGrad(s, xd, dyd), gw.GetAsArray1D(), 1e-4, 1e-4, $"{variant}, run {run}: weight gradient");
            }
        }
        finally
        {
            (kernels.Context.MatMulVariant, kernels.Context.ForceRegisterBlocked) = saved;
        }
    }
}
