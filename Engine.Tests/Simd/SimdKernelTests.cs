using ILGPU.Runtime;
using Engine.Kernels;
using Engine.Kernels.Simd;

namespace Engine.Tests.Simd;

/// <summary>
/// The SIMD backend's own checks, whatever device the suite runs on: every element-wise and reduction primitive at
/// every length 0..257 (vector bodies and every tail) against the double-precision reference, at both register widths;
/// the same primitives on the SIMD backend and on ILGPU's kernels agree; the GEMM on shapes that are not multiples of
/// any of its block sizes, in the three layouts, accumulating or not, on one thread and on several; the fused per-sample
/// dense step's kernels; host tensors' alignment.
/// </summary>
public class SimdKernelTests
{
    private static Device Simd => TestDevice.Simd;

    /// <summary>Runs <paramref name="body"/> once with 512-bit and once with 256-bit registers (where 512 is accelerated).</summary>
    private static void AtBothWidths(Action<string> body)
    {
        bool saved = Lanes.Wide;
        try
        {
            foreach (bool wide in saved ? new[] { true, false } : new[] { false })
            {
                Lanes.Wide = wide;
                body(wide ? "512-bit" : "256-bit");
            }
        }
        finally
        {
            Lanes.Wide = saved;
        }
    }

    private static double Derivative(Func<double, double> f, double x)
    {
        double h = 1e-5 * Math.Max(1, Math.Abs(x));
        return (f(x + h) - f(x - h)) / (2 * h);
    }

    [Fact]
    public void Unary_ops_and_their_gradients_match_the_reference_at_every_length() => AtBothWidths(width =>
    {
        foreach (var c in UnaryCase.All)
        {
            for (int n = 1; n <= 257; n++)
            {
                var x = Reference.RandomValues(n * 31 + 7, n).Select(v => (float)c.Domain(v)).ToArray();
                using var scope = new DisposeScope();
                var t = Tensor.FromArray(Simd, x, new[] { n }, requiresGrad: true);
                var y = c.Op(t);
                Expect.Close(x.Select(v => c.Reference(v)).ToArray(), y.ToArray(), 1e-5, 1e-5, $"{c.Name} n={n} {width}");
                y.Sum().Backward();
                Expect.Close(x.Select(v => Derivative(c.Reference, v)).ToArray(), t.Grad!.ToArray(), 1e-3, 1e-3,
                    $"d {c.Name} n={n} {width}");
            }
        }
    });

    /// <summary>
    /// Outputs past <see cref="Lanes.StreamingElements"/> are written with non-temporal stores from the first
    /// register-aligned address: a result starting 3 floats past an aligned address (a masked head), split over the
    /// threads, with a tail; every element against the reference, the floats around it untouched; in place too.
    /// </summary>
    [Fact]
    public void Large_element_wise_outputs_streamed_past_the_cache_are_exact_with_any_alignment() => AtBothWidths(width =>
    {
        int n = Lanes.StreamingElements + 37;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (i % 1001 - 500) * 0.01f;
        using var scope = new DisposeScope();
        var input = Tensor.FromArray(Simd, x, new[] { n });
        var output = Tensor.Full(Simd, new[] { n + 8 }, 7f);
        var target = output.Elements.SubView(3, n); // 3 floats into the buffer
        var k = Simd.Kernels;
        k.Unary<Engine.Kernels.AffineOp>(input.Elements, target, 2f, 1f);
        var y = output.ToArray();
        Assert.Equal(new[] { 7f, 7f, 7f }, y[..3]);
        Assert.Equal(new[] { 7f, 7f, 7f, 7f, 7f }, y[^5..]);
        for (int i = 0; i < n; i++)
            if (y[i + 3] != 2f * x[i] + 1f) Assert.Fail($"{width}: element {i}: expected {2f * x[i] + 1f}, got {y[i + 3]}");
        k.Unary<Engine.Kernels.ReluOp>(target, target); // in place: normal stores
        y = output.ToArray();
        for (int i = 0; i < n; i++)
            if (y[i + 3] != Math.Max(0f, 2f * x[i] + 1f)) Assert.Fail($"{width}: relu element {i}: got {y[i + 3]}");
    });

    /// <summary>Length 0, which no tensor has but a view of one can: every kind of loop leaves memory untouched.</summary>
    [Fact]
    public void Zero_length_buffers_are_no_ops() => AtBothWidths(width =>
    {
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Simd, new[] { 1f, 2f, 3f }, new[] { 3 });
        var empty = t.Elements.SubView(0, 0);
        var k = Simd.Kernels;
        k.Unary<Engine.Kernels.TanhOp>(empty, empty);
        k.UnaryGrad<Engine.Kernels.GeluOp>(empty, empty, empty, empty);
        k.Accumulate(empty, empty, 2f);
        k.Fill(empty, 9f);
        k.AdamStep(empty, empty, empty, empty, empty, new UpdateScalars { Lr = 1f, Beta1 = 0.9f, Beta2 = 0.999f, C1 = 1f, C2 = 1f });
        k.SumAll<Identity>(empty, empty, t.Elements.SubView(2, 1), 1f);
        Assert.Equal(new[] { 1f, 2f, 0f }, t.ToArray());
    });

    [Fact]
    public void Binary_ops_and_broadcasts_match_the_reference_at_every_length() => AtBothWidths(width =>
    {
        for (int n = 1; n <= 257; n++)
        {
            var a = Reference.RandomValues(n, 3 * n);
            var b = Reference.RandomValues(n + 1000, 3 * n).Select(v => v + (v >= 0 ? 0.5f : -0.5f)).ToArray();
            var row = b.Take(n).ToArray();
            var col = b.Take(3).ToArray();
            using var scope = new DisposeScope();
            var ta = Tensor.FromArray(Simd, a, new[] { 3, n }, requiresGrad: true);
            var tb = Tensor.FromArray(Simd, b, new[] { 3, n }, requiresGrad: true);
            var tr = Tensor.FromArray(Simd, row, new[] { n }, requiresGrad: true);
            var tc = Tensor.FromArray(Simd, col, new[] { 3, 1 }, requiresGrad: true);
            Expect.Close(a.Select((v, i) => (double)v / b[i]).ToArray(), (ta / tb).ToArray(), 1e-6, 1e-5, $"a/b n={n} {width}");
            Expect.Close(a.Select((v, i) => (double)v * row[i % n]).ToArray(), (ta * tr).ToArray(), 1e-6, 1e-5, $"a*row n={n}");
            Expect.Close(a.Select((v, i) => (double)v - col[i / n]).ToArray(), (ta - tc).ToArray(), 1e-6, 1e-5, $"a-col n={n}");
            ((ta / tb) + (ta * tr) - (ta - tc)).Sum().Backward();
            // d/da = 1/b + row − 1; d/db = −a/b²; d/drow = Σ_rows a; d/dcol = Σ_cols 1 per row = n.
            Expect.Close(a.Select((v, i) => 1.0 / b[i] + row[i % n] - 1).ToArray(), ta.Grad!.ToArray(), 1e-5, 1e-4, $"da n={n}");
            Expect.Close(a.Select((v, i) => -(double)v / ((double)b[i] * b[i])).ToArray(), tb.Grad!.ToArray(), 1e-5, 1e-4, $"db n={n}");
            Expect.Close(Enumerable.Range(0, n).Select(j => (double)a[j] + a[n + j] + a[2 * n + j]).ToArray(),
                tr.Grad!.ToArray(), 1e-5, 1e-5, $"drow n={n}");
            Expect.Close(new double[] { n, n, n }, tc.Grad!.ToArray(), 1e-4, 1e-6, $"dcol n={n}");
        }
    });

    [Fact]
    public void Reductions_softmax_and_losses_match_the_reference_at_every_length() => AtBothWidths(width =>
    {
        for (int n = 1; n <= 257; n++)
        {
            var x = Reference.RandomValues(n + 5, 2 * n, -4, 4);
            var xd = Reference.ToDouble(x);
            var target = Reference.RandomValues(n + 9, 2 * n);
            using var scope = new DisposeScope();
            var t = Tensor.FromArray(Simd, x, new[] { 2, n });
            Expect.Close(new[] { xd.Sum() }, t.Sum().ToArray(), 1e-4, 1e-5, $"sum n={n} {width}");
            Expect.Close(new[] { xd.Take(n).Sum(), xd.Skip(n).Sum() }, t.Sum(1).ToArray(), 1e-4, 1e-5, $"sum(1) n={n}");
            Expect.Close(Enumerable.Range(0, n).Select(j => xd[j] + xd[n + j]).ToArray(), t.Sum(0).ToArray(), 1e-5, 1e-5,
                $"sum(0) n={n}");
            Expect.Close(new[] { xd.Take(n).Max(), xd.Skip(n).Max() }, t.Max(1).ToArray(), 0, 0, $"max(1) n={n}");
            Expect.Close(Reference.Softmax(xd, 2, n, log: false), t.Softmax(1).ToArray(), 1e-6, 1e-5, $"softmax n={n}");
            Expect.Close(Reference.Softmax(xd, 2, n, log: true), t.LogSoftmax(1).ToArray(), 1e-5, 1e-5, $"log_softmax n={n}");
            var labels = new[] { n - 1, n / 2 };
            Expect.Close(new[] { Reference.CrossEntropy(xd, labels, n) }, Loss.CrossEntropy(t, labels).ToArray(), 1e-5, 1e-5,
                $"cross_entropy n={n}");
            double mse = xd.Select((v, i) => (v - target[i]) * (v - target[i])).Average();
            Expect.Close(new[] { mse }, Loss.Mse(t, Tensor.FromArray(Simd, target, new[] { 2, n })).ToArray(), 1e-5, 1e-5,
                $"mse n={n}");
        }
    });

    [Fact]
    public void Element_wise_primitives_agree_with_the_ilgpu_kernels()
    {
        var ilgpu = TestDevice.Ilgpu;
        foreach (int n in new[] { 1, 15, 16, 17, 33, 255, 1000 })
        {
            var x = Reference.RandomValues(n, 4 * n);
            var labels = Enumerable.Range(0, 4).Select(r => (r * 7 + n) % n).ToArray();
            float[] Run(Device dev, Func<Tensor, Tensor> op)
            {
                using var scope = new DisposeScope();
                var t = Tensor.FromArray(dev, x, new[] { 4, n }, requiresGrad: true);
                op(t).Backward();
                return op(t).ToArray().Concat(t.Grad!.ToArray()).ToArray();
            }
            foreach (var (name, op) in new (string, Func<Tensor, Tensor>)[]
            {
                ("tanh", t => t.Tanh().Sum()),
                ("gelu", t => t.Gelu().Mean()),
                ("sigmoid*softplus", t => (t.Sigmoid() * t.Softplus()).Sum()),
                ("softmax", t => (t.Softmax(1) * t).Sum()),
                ("cross_entropy", t => Loss.CrossEntropy(t, labels)),
                ("max", t => t.Max(1).Sum()),
            })
            {
                Expect.Close(Run(ilgpu, op), Run(Simd, op), 1e-5, 1e-4, $"{name} n={n}");
            }
        }
    }

    [Fact]
    public void Random_numbers_and_dropout_masks_are_the_same_as_on_the_ilgpu_kernels()
    {
        using var scope = new DisposeScope();
        foreach (int n in new[] { 1, 17, 1000 })
        {
            Assert.Equal(Tensor.RandU(TestDevice.Ilgpu, new[] { n }, seed: 42).ToArray(),
                Tensor.RandU(Simd, new[] { n }, seed: 42).ToArray());
            Expect.Close(Tensor.RandN(TestDevice.Ilgpu, new[] { n }, seed: 42).ToArray(),
                Tensor.RandN(Simd, new[] { n }, seed: 42).ToArray(), 1e-6, 1e-6, $"randn n={n}");
            float[] Drop(Device dev)
            {
                var x = Tensor.FromArray(dev, Reference.RandomValues(n, n), new[] { n }, requiresGrad: true);
                var y = new Engine.Nn.Dropout(0.3f, seed: 5).Forward(x);
                (y * y).Sum().Backward(); // the backward regenerates the mask and accumulates through it
                return y.ToArray().Concat(x.Grad!.ToArray()).ToArray();
            }
            Assert.Equal(Drop(TestDevice.Ilgpu), Drop(Simd));
        }
    }

    public static IEnumerable<object[]> GemmShapes() => new[]
    {
        new object[] { 1, 1, 1 }, new object[] { 3, 5, 7 }, new object[] { 4, 33, 300 }, new object[] { 5, 31, 17 },
        new object[] { 8, 32, 256 }, new object[] { 9, 33, 257 }, new object[] { 17, 65, 513 },
        new object[] { 241, 47, 19 }, new object[] { 250, 100, 260 }, new object[] { 13, 4100, 3 },
        new object[] { 64, 256, 784 }, new object[] { 7, 0, 5 }, new object[] { 6, 9, 0 },
        // Small row-major B with whole panels: read in place, not packed.
        new object[] { 37, 64, 19 }, new object[] { 70, 96, 170 },
    };

    [Theory]
    [MemberData(nameof(GemmShapes))]
    public void Gemm_matches_the_reference_in_every_layout_width_and_thread_count(int m, int n, int k)
    {
        var a = Reference.RandomValues(m * 7 + k, m * k);
        var b = Reference.RandomValues(n * 11 + k, k * n);
        var c0 = Reference.RandomValues(m + n, m * n);
        var product = Reference.MatMul(Reference.ToDouble(a), Reference.ToDouble(b), m, k, n);
        var aT = Transposed(a, m, k);
        var bT = Transposed(b, k, n);
        int savedThreads = Device.NumThreads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Device.NumThreads = threads;
                AtBothWidths(width =>
                {
                    foreach (bool accumulate in new[] { false, true })
                    {
                        var expected = product.Select((v, i) => accumulate ? v + c0[i] : v).ToArray();
                        string what = $"[{m}x{k}]·[{k}x{n}] {width} threads={threads} accumulate={accumulate}";
                        Expect.Close(expected, Multiply<AsStored, AsStored>(a, b, c0, m, n, k, accumulate), 1e-4, 1e-4, "NN " + what);
                        Expect.Close(expected, Multiply<AsStored, AsTransposed>(a, bT, c0, m, n, k, accumulate), 1e-4, 1e-4, "NT " + what);
                        Expect.Close(expected, Multiply<AsTransposed, AsStored>(aT, b, c0, m, n, k, accumulate), 1e-4, 1e-4, "TN " + what);
                    }
                });
            }
        }
        finally
        {
            Device.NumThreads = savedThreads;
        }
    }

    /// <summary>
    /// A rank-1 update skips rows whose factor is zero (they add 0·x), but only when x is finite: 0·∞ is NaN, and the
    /// result must be the one the full product gives (as on the ILGPU kernels).
    /// </summary>
    [Fact]
    public void A_rank_one_update_with_zero_rows_matches_the_full_product_even_with_non_finite_values()
    {
        var dy = new[] { 0f, 2f, 0f, -1f, 0f };
        foreach (var x in new[] { new[] { 1f, 2f, 3f }, new[] { 1f, float.PositiveInfinity, 3f } })
        {
            var c0 = Reference.RandomValues(3, 15);
            float[] Update(Device dev)
            {
                using var scope = new DisposeScope();
                var tdy = Tensor.FromArray(dev, dy, new[] { 1, 5 });
                var tx = Tensor.FromArray(dev, x, new[] { 1, 3 });
                var c = Tensor.FromArray(dev, c0, new[] { 5, 3 });
                dev.Kernels.MatMul<AsTransposed, AsStored>(tdy.Elements, tx.Elements, c.Elements, 5, 3, 1, accumulate: true, alpha: 0.5f);
                return c.ToArray();
            }
            var expected = Update(TestDevice.Ilgpu);
            Assert.Equal(float.IsFinite(x[1]), expected.All(float.IsFinite));
            Expect.Close(expected, Update(Simd), 1e-6, 1e-6, $"x = [{string.Join(", ", x)}]");
        }
    }

    /// <summary>
    /// The fused per-sample dense step's kernels (forward with ReLU, forward with softmax cross-entropy, backward with
    /// the SGD update, with and without dx) against the ILGPU kernels, at both register widths, on shapes around the
    /// forward's eight-row blocks and the vector tail; dy has zeros (rows the first layer's backward skips), and one
    /// case has ∞ in x, where nothing may be skipped.
    /// </summary>
    [Fact]
    public void Dense_step_kernels_agree_with_the_ilgpu_kernels_on_every_block_and_tail() => AtBothWidths(width =>
    {
        foreach (var (outputs, inputs) in new[] { (1, 1), (7, 15), (8, 16), (9, 17), (17, 33), (24, 300), (256, 784) })
        foreach (bool infinite in new[] { false, true })
        {
            var x = Reference.RandomValues(inputs, inputs);
            if (infinite) x[inputs / 2] = float.PositiveInfinity;
            var w0 = Reference.RandomValues(outputs + 1, outputs * inputs);
            var b0 = Reference.RandomValues(outputs + 2, outputs);
            var dy = Reference.RandomValues(outputs + 3, outputs).Select((v, i) => i % 3 == 1 ? 0f : v).ToArray();
            float[] Run(Device dev)
            {
                using var scope = new DisposeScope();
                var k = dev.Kernels;
                var tx = Tensor.FromArray(dev, x, new[] { inputs });
                var w = Tensor.FromArray(dev, w0, new[] { outputs, inputs });
                var b = Tensor.FromArray(dev, b0, new[] { outputs });
                var y = Tensor.Zeros(dev, new[] { outputs });
                var relu = Tensor.Zeros(dev, new[] { outputs });
                var dz = Tensor.Zeros(dev, new[] { outputs });
                var scores = Tensor.Zeros(dev, new[] { 4 });
                var tdy = Tensor.FromArray(dev, dy, new[] { outputs });
                var dx = Tensor.Zeros(dev, new[] { inputs });
                var s = new DenseStepShape { Outputs = outputs, Inputs = inputs, Label = outputs - 1, Slot = 1, Scale = -0.1f };
                k.DenseForward(tx.Elements, w.Elements, b.Elements, relu.Elements, s with { Relu = 1 });
                k.DenseForwardCrossEntropy(tx.Elements, w.Elements, b.Elements, y.Elements, dz.Elements, scores.Elements, s);
                k.DenseBackwardSgd(tx.Elements, w.Elements, b.Elements, tdy.Elements, dx.Elements, s with { WriteDx = 1, Relu = 1 });
                k.DenseBackwardSgd(tx.Elements, w.Elements, b.Elements, tdy.Elements, dx.Elements, s);
                return relu.ToArray().Concat(y.ToArray()).Concat(dz.ToArray()).Concat(scores.ToArray().Skip(2))
                    .Concat(dx.ToArray()).Concat(w.ToArray()).Concat(b.ToArray()).ToArray();
            }
            var expected = Run(TestDevice.Ilgpu);
            var actual = Run(Simd);
            string what = $"{width}, {outputs}×{inputs}{(infinite ? ", ∞ in x" : "")}";
            Assert.Equal(expected.Select(float.IsNaN), actual.Select(float.IsNaN));
            Expect.Close(expected.Select(v => float.IsNaN(v) ? 0f : v).ToArray(),
                actual.Select(v => float.IsNaN(v) ? 0f : v).ToArray(), 1e-5, 1e-4, what);
        }
    });

    /// <summary>
    /// Host tensors (this backend, ILGPU's CPU accelerator) start on a 64-byte boundary, whatever their size, so a full
    /// register never straddles two cache lines (malloc puts large blocks 16 bytes past one).
    /// </summary>
    [Fact]
    public void Host_tensors_start_on_a_cache_line()
    {
        using var simulator = Device.Create("ilgpu-cpu");
        foreach (var dev in new[] { Simd, simulator })
        foreach (int n in new[] { 1, 15, 1000, 1 << 16, 1 << 20 })
        {
            using var t = Tensor.Zeros(dev, new[] { n });
            Assert.Equal(0, (long)t.Elements.LoadEffectiveAddressAsPtr() % 64);
            Assert.Equal(n, t.Elements.Length);
        }
    }

    private static float[] Transposed(float[] x, int rows, int cols)
    {
        var t = new float[x.Length];
        for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            t[c * rows + r] = x[r * cols + c];
        return t;
    }

    private static float[] Multiply<TA, TB>(float[] a, float[] b, float[] c0, int m, int n, int k, bool accumulate)
        where TA : struct, IOperandLayout where TB : struct, IOperandLayout
    {
        using var scope = new DisposeScope();
        var ta = Tensor.FromArray(Simd, a.Length == 0 ? new float[1] : a, new[] { Math.Max(a.Length, 1) });
        var tb = Tensor.FromArray(Simd, b.Length == 0 ? new float[1] : b, new[] { Math.Max(b.Length, 1) });
        var tc = Tensor.FromArray(Simd, c0.Length == 0 ? new float[1] : c0, new[] { Math.Max(c0.Length, 1) });
        Simd.Kernels.MatMul<TA, TB>(ta.Elements, tb.Elements, tc.Elements, m, n, k, accumulate);
        return tc.ToArray().Take(m * n).ToArray();
    }
}
