using Engine.Kernels;
using Engine.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Engine.Tests;

/// <summary>
/// The shared-memory attention kernels (<see cref="AttentionTiledKernels"/>) against a plain double reference: o and
/// lse from the forward, and dq, dk, dv added by the backward onto targets that already hold values; causal and
/// not, L and S of 1, 31, 33, 70 (none a multiple of the 8-row tile or of the group's rows), L ≠ S, head widths 8, 24,
/// 64, 128 with value widths equal and different, 1 and 2 heads, and a head of 130 (over the tiles' 128: the per-row
/// fallback). They run on an ILGPU CPU accelerator built with 64-thread groups (the suite's own has 4, too few for the
/// tiles), so the rows per group (64, 32, 16) are what a GPU gets, and also on the suite's device when that is a GPU or
/// OpenCL. Tolerance |a − r| ≤ atol + rtol·|r|: 1e-5 + 1e-4 for o and lse, 2e-5 + 1e-3 for the gradients.
/// </summary>
public sealed class TiledAttentionKernelTests : IDisposable
{
    private readonly Context context;
    private readonly Accelerator accelerator;
    private readonly IlgpuKernels kernels;

    public TiledAttentionKernelTests()
    {
        context = Context.Create(b => b
            .CPU(new CPUDevice(numThreadsPerWarp: 16, numWarpsPerMultiprocessor: 4, numMultiprocessors: 1))
            .EnableAlgorithms());
        accelerator = context.CreateCPUAccelerator(0);
        kernels = new IlgpuKernels(accelerator) { Context = { AttentionVariant = AttentionVariant.Tiled } };
    }

    public void Dispose()
    {
        accelerator.Dispose();
        context.Dispose();
    }

    /// <summary>heads, L, S, E, Ev, causal.</summary>
    public static TheoryData<int, int, int, int, int, bool> Shapes => new()
    {
        { 1, 1, 1, 8, 8, true }, { 1, 1, 1, 8, 8, false }, { 1, 31, 1, 8, 8, true }, { 2, 31, 33, 24, 24, true },
        { 1, 33, 31, 24, 16, false }, { 1, 70, 70, 64, 64, true }, { 1, 33, 70, 64, 40, false },
        { 1, 70, 33, 128, 128, true }, { 1, 17, 31, 128, 8, false }, { 1, 9, 11, 130, 8, true },
    };

    /// <summary>
    /// o, lse and the gradients of Σ dO·o, in doubles: s_ij = scale·q_i·k_j over the keys i sees, p = softmax(s),
    /// o_i = Σ_j p_ij·v_j, ds_ij = p_ij·(dO_i·v_j − dO_i·o_i), dq_i = scale·Σ_j ds_ij·k_j, dk_j = scale·Σ_i ds_ij·q_i,
    /// dv_j = Σ_i p_ij·dO_i.
    /// </summary>
    private static (double[] O, double[] Lse, double[] Dq, double[] Dk, double[] Dv) Expected(float[] q,
        float[] k, float[] v, float[] dOut, int heads, int l, int s, int e, int ev, bool causal, double scale)
    {
        var o = new double[heads * l * ev];
        var lse = new double[heads * l];
        var dq = new double[q.Length];
        var dk = new double[k.Length];
        var dv = new double[v.Length];
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < l; i++)
        {
            int row = h * l + i, seen = causal ? Math.Min(s, i + 1) : s;
            var p = new double[seen];
            double max = double.NegativeInfinity, sum = 0, rowDot = 0;
            for (int j = 0; j < seen; j++)
            {
                double dot = 0;
                for (int c = 0; c < e; c++) dot += (double)q[row * e + c] * k[(h * s + j) * e + c];
                p[j] = dot * scale;
                max = Math.Max(max, p[j]);
            }
            for (int j = 0; j < seen; j++) sum += p[j] = Math.Exp(p[j] - max);
            lse[row] = max + Math.Log(sum);
            for (int j = 0; j < seen; j++)
            {
                p[j] /= sum;
                for (int c = 0; c < ev; c++) o[row * ev + c] += p[j] * v[(h * s + j) * ev + c];
            }
            for (int c = 0; c < ev; c++) rowDot += dOut[row * ev + c] * o[row * ev + c];
            for (int j = 0; j < seen; j++)
            {
                int key = h * s + j;
                double dp = 0;
                for (int c = 0; c < ev; c++)
                {
                    dp += (double)dOut[row * ev + c] * v[key * ev + c];
                    dv[key * ev + c] += p[j] * dOut[row * ev + c];
                }
                double ds = p[j] * (dp - rowDot) * scale;
                for (int c = 0; c < e; c++)
                {
                    dq[row * e + c] += ds * k[key * e + c];
                    dk[key * e + c] += ds * q[row * e + c];
                }
            }
        }
        return (o, lse, dq, dk, dv);
    }

    private static double[] Plus(float[] prior, double[] grad) => prior.Select((p, i) => p + grad[i]).ToArray();

    private static void Check(IKernels k, Accelerator acc, int heads, int l, int s, int e, int ev, bool causal)
    {
        int seed = heads + 3 * l + 7 * s + 11 * e + 13 * ev + (causal ? 1 : 0);
        var q = Reference.RandomValues(seed, heads * l * e, -2, 2);
        var key = Reference.RandomValues(seed + 1, heads * s * e, -2, 2);
        var v = Reference.RandomValues(seed + 2, heads * s * ev, -1, 1);
        var dOut = Reference.RandomValues(seed + 3, heads * l * ev, -1, 1);
        var priorQ = Reference.RandomValues(seed + 4, q.Length, -1, 1);
        var priorK = Reference.RandomValues(seed + 5, key.Length, -1, 1);
        var priorV = Reference.RandomValues(seed + 6, v.Length, -1, 1);
        float scale = 1f / MathF.Sqrt(e);
        var shape = new AttentionShape(heads, l, s, e, ev, scale, causal ? 1 : 0);
        using var dq = acc.Allocate1D(q);
        using var dk = acc.Allocate1D(key);
        using var dv = acc.Allocate1D(v);
        using var dd = acc.Allocate1D(dOut);
        using var o = acc.Allocate1D<float>(heads * l * ev);
        using var stats = acc.Allocate1D<float>(2 * heads * l);
        using var gq = acc.Allocate1D(priorQ);
        using var gk = acc.Allocate1D(priorK);
        using var gv = acc.Allocate1D(priorV);
        k.AttentionForward(dq.View, dk.View, dv.View, o.View, stats.View, shape);
        k.AttentionBackward(dq.View, dk.View, dv.View, o.View, dd.View, stats.View, gq.View, gk.View, gv.View, shape);
        k.Synchronize();
        var r = Expected(q, key, v, dOut, heads, l, s, e, ev, causal, scale);
        string what = $"heads {heads} L={l} S={s} E={e} Ev={ev} causal={causal}";
        Expect.Close(r.O, o.GetAsArray1D(), 1e-5, 1e-4, $"o, {what}");
        Expect.Close(r.Lse, stats.GetAsArray1D().Take(heads * l).ToArray(), 1e-5, 1e-4, $"lse, {what}");
        Expect.Close(Plus(priorQ, r.Dq), gq.GetAsArray1D(), 2e-5, 1e-3, $"dq, {what}");
        Expect.Close(Plus(priorK, r.Dk), gk.GetAsArray1D(), 2e-5, 1e-3, $"dk, {what}");
        Expect.Close(Plus(priorV, r.Dv), gv.GetAsArray1D(), 2e-5, 1e-3, $"dv, {what}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Match_the_reference_on_a_cpu_accelerator_with_64_thread_groups(int heads, int l, int s, int e, int ev,
        bool causal)
    {
        // The tiles take every width up to 128; 130 runs the per-row kernels.
        var shape = new AttentionShape(heads, l, s, e, ev, 1f, causal ? 1 : 0);
        int max = accelerator.MaxNumThreadsPerGroup;
        bool tiled = e <= AttentionTiledKernels.MaxWidth;
        Assert.Equal(tiled, AttentionTiledKernels.ForwardRows(shape, max) > 0);
        Assert.Equal(tiled, AttentionTiledKernels.QueryGradRows(shape, max) > 0);
        Assert.Equal(tiled, AttentionTiledKernels.KeyGradRows(shape, max) > 0);
        Assert.True(accelerator.MaxSharedMemoryPerGroup >= AttentionTiledKernels.PoolBytes);
        Check(kernels, accelerator, heads, l, s, e, ev, causal);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Match_the_reference_on_the_suites_gpu_or_opencl_device(int heads, int l, int s, int e, int ev, bool causal)
    {
        var suite = TestDevice.Instance.Kernels as IlgpuKernels;
        if (suite == null || suite.Context.Accelerator.AcceleratorType == AcceleratorType.CPU)
        {
            Assert.Skip("the suite's device is not a GPU or OpenCL device (ENGINE_DEVICE=cuda|opencl).");
            return;
        }
        Assert.Equal(AttentionVariant.Tiled, suite.Context.AttentionVariant);
        Check(suite, suite.Context.Accelerator, heads, l, s, e, ev, causal);
    }

    /// <summary>
    /// Rows per group: as many as the pool (40 KB) and the accelerator allow, at least 16; none (the per-row kernels)
    /// for a width over 128, no keys, or groups of 4 threads (the suite's ILGPU CPU accelerator).
    /// </summary>
    [Fact]
    public void Rows_per_group_follow_the_widths_and_the_accelerator()
    {
        AttentionShape Shape(int e, int ev, int keys = 10) => new(1, 10, keys, e, ev, 1f, 0);
        int[] Rows(AttentionShape a, int max) => new[]
        {
            AttentionTiledKernels.ForwardRows(a, max), AttentionTiledKernels.QueryGradRows(a, max),
            AttentionTiledKernels.KeyGradRows(a, max),
        };
        Assert.Equal(new[] { 64, 64, 64 }, Rows(Shape(24, 24), 1024));
        Assert.Equal(new[] { 64, 32, 32 }, Rows(Shape(64, 64), 1024));
        Assert.Equal(new[] { 32, 16, 16 }, Rows(Shape(128, 128), 1024));
        Assert.Equal(new[] { 32, 32, 32 }, Rows(Shape(64, 64), 32));
        Assert.Equal(new[] { 0, 0, 0 }, Rows(Shape(129, 8), 1024));
        Assert.Equal(new[] { 0, 0, 0 }, Rows(Shape(8, 129), 1024));
        Assert.Equal(new[] { 0, 0, 0 }, Rows(Shape(8, 8, keys: 0), 1024));
        Assert.Equal(new[] { 0, 0, 0 }, Rows(Shape(8, 8), 4));
        // The pool is sized for the widest backward: dk, dv at E = Ev = 128 with 16 rows.
        Assert.Equal(AttentionTiledKernels.PoolFloats, AttentionTiledKernels.KeyGradFloats(16, 128, 128));
    }

    /// <summary>An empty dk (k needs no gradient) is skipped; dq and dv are what they are with all three.</summary>
    [Fact]
    public void An_empty_gradient_target_is_skipped()
    {
        int l = 20, s = 19, e = 16, ev = 12;
        var q = Reference.RandomValues(1, l * e);
        var key = Reference.RandomValues(2, s * e);
        var v = Reference.RandomValues(3, s * ev);
        var dOut = Reference.RandomValues(4, l * ev);
        var shape = new AttentionShape(1, l, s, e, ev, 0.25f, 1);
        using var dq = accelerator.Allocate1D(q);
        using var dk = accelerator.Allocate1D(key);
        using var dv = accelerator.Allocate1D(v);
        using var dd = accelerator.Allocate1D(dOut);
        using var o = accelerator.Allocate1D<float>(l * ev);
        using var stats = accelerator.Allocate1D<float>(2 * l);
        using var gq = accelerator.Allocate1D(new float[l * e]);
        using var gv = accelerator.Allocate1D(new float[s * ev]);
        kernels.AttentionForward(dq.View, dk.View, dv.View, o.View, stats.View, shape);
        kernels.AttentionBackward(dq.View, dk.View, dv.View, o.View, dd.View, stats.View, gq.View, gq.View.SubView(0, 0),
            gv.View, shape);
        var r = Expected(q, key, v, dOut, 1, l, s, e, ev, true, 0.25);
        Expect.Close(r.Dq, gq.GetAsArray1D(), 2e-5, 1e-3, "dq");
        Expect.Close(r.Dv, gv.GetAsArray1D(), 2e-5, 1e-3, "dv");
    }
}
