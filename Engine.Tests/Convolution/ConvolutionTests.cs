using static Engine.Tests.ConvReference;

namespace Engine.Tests;

/// <summary>
/// Conv2d/Conv1d/ConvTranspose2d on the test device against the double-precision definitions (forward, input and
/// weight gradients) over a matrix of strides, paddings, dilations, groups, odd sizes and batch 1, and against
/// central finite differences.
/// </summary>
public class ConvolutionTests
{
    public static TheoryData<Conv> Shapes() => new()
    {
        new Conv(1, 1, 5, 5, 2, 3, 3),
        new Conv(2, 3, 7, 5, 4, 3, 2, SH: 2, SW: 1, PH: 1, PW: 0),
        new Conv(1, 4, 6, 7, 4, 3, 3, PH: 2, PW: 2, DH: 2, DW: 2, G: 2),
        new Conv(2, 3, 5, 6, 6, 3, 3, SH: 2, SW: 2, PH: 1, PW: 1, G: 3), // depthwise, channel multiplier 2
        new Conv(2, 4, 5, 3, 3, 1, 1), // pointwise: the image is its own im2col matrix
        new Conv(1, 2, 9, 9, 3, 3, 3, SH: 3, SW: 3, PH: 1, PW: 1),
        new Conv(3, 2, 4, 4, 5, 4, 4), // the kernel covers the whole image
        new Conv(2, 2, 6, 5, 2, 2, 3, SH: 1, SW: 2, PH: 1, PW: 2, DH: 3, DW: 1),
        new Conv(2, 3, 6, 5, 20, 3, 3, PH: 1, PW: 1, DW: 2), // over 16 output channels: wide rows through the GEMM
        new Conv(1, 2, 5, 70, 3, 3, 3, PH: 1, PW: 0), // rows wider than the wide path takes: im2col blocks
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Conv2d_matches_the_definition_forward_and_backward(Conv s)
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var xv = Reference.RandomValues(1, s.N * s.C * s.H * s.W, -1, 1);
        var wv = Reference.RandomValues(2, s.OC * (s.C / s.G) * s.KH * s.KW, -1, 1);
        var bv = Reference.RandomValues(3, s.OC, -1, 1);
        var dyv = Reference.RandomValues(4, s.N * s.OC * s.OH * s.OW, -1, 1);
        var x = Tensor.FromArray(dev, xv, s.XShape, requiresGrad: true);
        var w = Tensor.FromArray(dev, wv, s.WShape, requiresGrad: true);
        var b = Tensor.FromArray(dev, bv, new[] { s.OC }, requiresGrad: true);
        var y = Tensor.Conv2d(x, w, b, (s.SH, s.SW), (s.PH, s.PW), (s.DH, s.DW), s.G);
        Assert.Equal(s.YShape, y.Shape);
        double[] xd = Reference.ToDouble(xv), wd = Reference.ToDouble(wv), dyd = Reference.ToDouble(dyv);
        Expect.Close(Conv2d(s, xd, wd, Reference.ToDouble(bv)), y.ToArray(), 1e-5, 1e-4, $"{s}: forward");
        (y * Tensor.FromArray(dev, dyv, y.Shape)).Sum().Backward();
        Expect.Close(Conv2dInputGrad(s, dyd, wd), x.Grad!.ToArray(), 1e-5, 1e-4, $"{s}: input gradient");
        Expect.Close(Conv2dWeightGrad(s, xd, dyd), w.Grad!.ToArray(), 1e-5, 1e-4, $"{s}: weight gradient");
        var db = new double[s.OC];
        for (int e = 0; e < dyd.Length; e++) db[e / (s.OH * s.OW) % s.OC] += dyd[e];
        Expect.Close(db, b.Grad!.ToArray(), 1e-5, 1e-4, $"{s}: bias gradient");
    }

    /// <summary>
    /// Large enough that the SIMD backend splits each image into column blocks and runs on every thread: a pointwise
    /// convolution, a stride-1 one on a small image (the wide-row path), one with wide rows (im2col blocks).
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Conv2d_over_blocks_and_threads_matches_the_definition(int kind)
    {
        var s = kind switch
        {
            0 => new Conv(3, 24, 30, 30, 16, 1, 1),
            1 => new Conv(3, 8, 34, 34, 16, 3, 3, PH: 1, PW: 1),
            _ => new Conv(2, 16, 8, 70, 8, 3, 3, PH: 1, PW: 1),
        };
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var xv = Reference.RandomValues(5, s.N * s.C * s.H * s.W, -1, 1);
        var wv = Reference.RandomValues(6, s.OC * s.C * s.KH * s.KW, -1, 1);
        var dyv = Reference.RandomValues(7, s.N * s.OC * s.OH * s.OW, -1, 1);
        var x = Tensor.FromArray(dev, xv, s.XShape, requiresGrad: true);
        var w = Tensor.FromArray(dev, wv, s.WShape, requiresGrad: true);
        var y = Tensor.Conv2d(x, w, padding: (s.PH, s.PW));
        double[] xd = Reference.ToDouble(xv), wd = Reference.ToDouble(wv), dyd = Reference.ToDouble(dyv);
        Expect.Close(Conv2d(s, xd, wd), y.ToArray(), 1e-4, 1e-4, "forward");
        (y * Tensor.FromArray(dev, dyv, y.Shape)).Sum().Backward();
        Expect.Close(Conv2dInputGrad(s, dyd, wd), x.Grad!.ToArray(), 1e-4, 1e-4, "input gradient");
        Expect.Close(Conv2dWeightGrad(s, xd, dyd), w.Grad!.ToArray(), 1e-3, 1e-4, "weight gradient");
    }

    /// <summary>
    /// The weight gradient split over threads into partial sums: every run gives the definition's value (the parts'
    /// partials must not share a buffer, whichever thread runs them).
    /// </summary>
    [Fact]
    public void Conv2d_weight_gradient_is_right_on_every_run()
    {
        var s = new Conv(8, 8, 16, 16, 16, 3, 3, PH: 1, PW: 1);
        var dev = TestDevice.Instance;
        var xv = Reference.RandomValues(19, s.N * s.C * s.H * s.W, -1, 1);
        var dyv = Reference.RandomValues(20, s.N * s.OC * s.OH * s.OW, -1, 1);
        var expected = Conv2dWeightGrad(s, Reference.ToDouble(xv), Reference.ToDouble(dyv));
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(dev, xv, s.XShape);
        var w = Tensor.FromArray(dev, Reference.RandomValues(21, s.OC * s.C * 9, -1, 1), s.WShape, requiresGrad: true);
        var dy = Tensor.FromArray(dev, dyv, s.YShape);
        for (int run = 0; run < 12; run++)
        {
            w.ZeroGrad();
            (Tensor.Conv2d(x, w, padding: 1) * dy).Sum().Backward();
            Expect.Close(expected, w.Grad!.ToArray(), 1e-3, 1e-4, $"run {run}");
        }
    }

    /// <summary>
    /// The SIMD weight gradient when one thread runs both parts of the split (its partner asleep, as after a pause):
    /// each part keeps its own partial sum.
    /// </summary>
    [Fact]
    public void Simd_weight_gradient_parts_keep_their_own_partials_on_one_thread()
    {
        var kernels = new Engine.Kernels.Simd.SimdKernels(new Engine.Kernels.Simd.WorkerPool(2));
        var dev = TestDevice.Simd;
        // A small image (the wide-row path) and a wide one (im2col blocks).
        foreach (var s in new[] { new Conv(4, 8, 16, 16, 16, 3, 3, PH: 1, PW: 1), new Conv(4, 8, 10, 70, 16, 3, 3, PH: 1, PW: 1) })
        {
            var xv = Reference.RandomValues(22, s.N * s.C * s.H * s.W, -1, 1);
            var dyv = Reference.RandomValues(23, s.N * s.OC * s.OH * s.OW, -1, 1);
            var expected = Conv2dWeightGrad(s, Reference.ToDouble(xv), Reference.ToDouble(dyv));
            using var scope = new DisposeScope();
            var x = Tensor.FromArray(dev, xv, s.XShape);
            var dy = Tensor.FromArray(dev, dyv, s.YShape);
            var dw = Tensor.Zeros(dev, s.WShape);
            var g = new Engine.Kernels.ConvGeometry(s.N, s.C, s.H, s.W, s.OC, 3, 3, 1, 1, 1, 1, 1, 1, 1);
            // Busy threads on every core, so the pool's partner thread is often not scheduled in time and the caller
            // runs both parts, as on a loaded machine.
            using var stop = new CancellationTokenSource();
            var busy = Enumerable.Range(0, Environment.ProcessorCount + 1).Select(_ => new Thread(() =>
            {
                while (!stop.IsCancellationRequested) Thread.SpinWait(1000);
            }) { IsBackground = true }).ToList();
            busy.ForEach(t => t.Start());
            try
            {
                for (int run = 0; run < 30; run++)
                {
                    if (run % 3 == 0) Thread.Sleep(1); // the partner stops polling after 200 µs and must be woken
                    kernels.ConvBackwardWeight(x.Elements, dy.Elements, dw.Elements, g, accumulate: false);
                    Expect.Close(expected, dw.ToArray(), 1e-3, 1e-4, $"{s}, run {run}");
                }
            }
            finally
            {
                stop.Cancel();
                busy.ForEach(t => t.Join());
            }
        }
    }

    [Fact]
    public void Conv2d_gradients_match_finite_differences()
    {
        var s = new Conv(2, 4, 5, 4, 4, 3, 2, SH: 2, SW: 1, PH: 1, PW: 1, DH: 1, DW: 2, G: 2);
        GradCheck.Run(t => Tensor.Conv2d(t[0], t[1], t[2], (2, 1), (1, 1), (1, 2), 2),
            r => Conv2d(s, r[0], r[1], r[2]),
            new[] { Reference.RandomValues(8, 160, -1, 1), Reference.RandomValues(9, 48, -1, 1), Reference.RandomValues(10, 4, -1, 1) },
            new[] { s.XShape, s.WShape, new[] { 4 } });
    }

    [Fact]
    public void Conv1d_is_the_convolution_of_a_height_one_image()
    {
        var s = new Conv(2, 3, 1, 11, 4, 1, 3, SW: 2, PW: 2, DW: 2);
        GradCheck.Run(t => Tensor.Conv1d(t[0], t[1], t[2], stride: 2, padding: 2, dilation: 2),
            r => Conv2d(s, r[0], r[1], r[2]),
            new[] { Reference.RandomValues(11, 66, -1, 1), Reference.RandomValues(12, 36, -1, 1), Reference.RandomValues(13, 4, -1, 1) },
            new[] { new[] { 2, 3, 11 }, new[] { 4, 3, 3 }, new[] { 4 } });
    }

    [Fact]
    public void ConvTranspose2d_is_the_input_gradient_of_the_convolution()
    {
        // conv_transpose2d(z, w) = ∂⟨z, conv2d(x, w)⟩/∂x for the convolution taking the transposed one's output size.
        var s = new Conv(2, 4, 7, 6, 6, 3, 2, SH: 2, SW: 2, PH: 1, PW: 0, DH: 1, DW: 2, G: 2);
        var z = Reference.RandomValues(14, s.N * s.OC * s.OH * s.OW, -1, 1);
        var w = Reference.RandomValues(15, s.OC * (s.C / s.G) * s.KH * s.KW, -1, 1);
        // output size (OH − 1)·s − 2p + d(k − 1) + output_padding + 1 must give back H, W: output_padding fills the rest.
        int oph = s.H - ((s.OH - 1) * s.SH - 2 * s.PH + s.DH * (s.KH - 1) + 1);
        int opw = s.W - ((s.OW - 1) * s.SW - 2 * s.PW + s.DW * (s.KW - 1) + 1);
        GradCheck.Run(t => Tensor.ConvTranspose2d(t[0], t[1], null, (s.SH, s.SW), (s.PH, s.PW), (oph, opw), s.G, (s.DH, s.DW)),
            r => Conv2dInputGrad(s, r[0], r[1]),
            new[] { z, w }, new[] { s.YShape, s.WShape });
    }

    [Fact]
    public void Same_padding_keeps_the_size_and_puts_an_odd_extra_after()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var xv = Reference.RandomValues(16, 2 * 6 * 5, -1, 1);
        var wv = Reference.RandomValues(17, 3 * 2 * 4 * 3, -1, 1);
        var x = Tensor.FromArray(dev, xv, new[] { 1, 2, 6, 5 });
        var w = Tensor.FromArray(dev, wv, new[] { 3, 2, 4, 3 });
        var same = Tensor.Conv2d(x, w, padding: "same");
        Assert.Equal(new[] { 1, 3, 6, 5 }, same.Shape);
        // total padding (3, 2): rows 1 before and 2 after, columns 1 and 1.
        var explicitPad = Tensor.Conv2d(x.Pad(new[] { 1, 1, 1, 2 }), w);
        Expect.Close(explicitPad.ToArray(), same.ToArray(), 1e-6, 1e-6, "same");
        Assert.Equal(new[] { 1, 3, 3, 3 }, Tensor.Conv2d(x, w, padding: "valid").Shape);
    }

    [Fact]
    public void Modules_hold_pytorch_layouts_and_reflect_padding()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var conv = new Engine.Nn.Conv2d(dev, 4, 6, (3, 2), padding: 1, groups: 2, paddingMode: "reflect", seed: 3);
        Assert.Equal(new[] { 6, 2, 3, 2 }, conv.Weight.Shape);
        Assert.Equal(new[] { "weight", "bias" }, conv.NamedParameters().Select(p => p.Name));
        float bound = 1f / MathF.Sqrt(2 * 3 * 2);
        Assert.All(conv.Weight.ToArray(), v => Assert.InRange(v, -bound, bound));
        var x = Tensor.FromArray(dev, Reference.RandomValues(18, 2 * 4 * 5 * 5, -1, 1), new[] { 2, 4, 5, 5 });
        var expected = Tensor.Conv2d(x.Pad(new[] { 1, 1, 1, 1 }, "reflect"), conv.Weight, conv.Bias, groups: 2);
        Expect.Close(expected.ToArray(), conv.Forward(x).ToArray(), 1e-6, 1e-6, "reflect");
        var t = new Engine.Nn.ConvTranspose2d(dev, 4, 6, 3, stride: 2, groups: 2, seed: 4);
        Assert.Equal(new[] { 4, 3, 3, 3 }, t.Weight.Shape);
        Assert.Equal(new[] { 2, 6, 11, 11 }, t.Forward(x).Shape);
        var c1 = new Engine.Nn.Conv1d(dev, 4, 2, 3, padding: "same", seed: 5);
        Assert.Equal(new[] { 3, 2, 9 }, c1.Forward(Tensor.Zeros(dev, new[] { 3, 4, 9 })).Shape);
    }

    [Fact]
    public void Bad_arguments_name_the_layer_shape_and_parameter()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var conv = new Engine.Nn.Conv2d(dev, 3, 8, 5, seed: 1);
        var e = Assert.Throws<ArgumentException>(() => conv.Forward(Tensor.Zeros(dev, new[] { 2, 1, 28, 28 })));
        Assert.Contains("Conv2d(3, 8, kernel_size=(5, 5))", e.Message);
        Assert.Contains("[2, 1, 28, 28]", e.Message);
        e = Assert.Throws<ArgumentException>(() => conv.Forward(Tensor.Zeros(dev, new[] { 2, 3, 4, 4 })));
        Assert.Contains("smaller than the kernel", e.Message);
        var x = Tensor.Zeros(dev, new[] { 1, 4, 8, 8 });
        var w = Tensor.Zeros(dev, new[] { 6, 2, 3, 3 });
        Assert.Contains("stride", Assert.Throws<ArgumentException>(() => Tensor.Conv2d(x, w, stride: 0, groups: 2)).Message);
        Assert.Contains("groups 3", Assert.Throws<ArgumentException>(() => Tensor.Conv2d(x, w, groups: 3)).Message);
        Assert.Contains("groups 3", Assert.Throws<ArgumentException>(() => new Engine.Nn.Conv2d(dev, 4, 6, 3, groups: 3)).Message);
        Assert.Contains("expected input", Assert.Throws<ArgumentException>(() => Tensor.Conv2d(x, w)).Message);
        Assert.Contains("'same'", Assert.Throws<ArgumentException>(() => Tensor.Conv2d(x, w, stride: 2, padding: "same", groups: 2)).Message
            .Replace("padding='same'", "'same'"));
        Assert.Contains("output_padding", Assert.Throws<ArgumentException>(() =>
            Tensor.ConvTranspose2d(x, Tensor.Zeros(dev, new[] { 4, 2, 3, 3 }), stride: 2, outputPadding: 2)).Message);
    }
}
