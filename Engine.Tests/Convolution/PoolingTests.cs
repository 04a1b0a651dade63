using FsCheck;
using FsCheck.Xunit;
using static Engine.Tests.ConvReference;

namespace Engine.Tests;

/// <summary>Max, average and adaptive pooling against the definitions and finite differences, on every backend.</summary>
public class PoolingTests
{
    [Theory]
    [InlineData(2, 2, 2, 2, 0, 0, 1, 1, false)]
    [InlineData(3, 3, 2, 2, 1, 1, 1, 1, false)]
    [InlineData(3, 2, 2, 1, 1, 0, 2, 1, true)]
    [InlineData(2, 3, 3, 2, 1, 1, 1, 2, true)]
    public void Max_pool_matches_the_definition_and_finite_differences(int kh, int kw, int sh, int sw, int ph, int pw,
        int dh, int dw, bool ceil)
    {
        int n = 2, c = 3, h = 7, w = 6;
        var xv = Reference.RandomValues(21, n * c * h * w, -1, 1);
        Func<Tensor[], Tensor> op = t => Tensor.MaxPool2d(t[0], (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil);
        using var scope = new DisposeScope();
        var y = op(new[] { Tensor.FromArray(TestDevice.Instance, xv, new[] { n, c, h, w }) });
        int oh = y.Shape[2], ow = y.Shape[3];
        Func<double[][], double[]> reference = r => Pool2d(r[0], n * c, h, w, oh, ow, max: true, adaptive: false,
            kh, kw, sh, sw, ph, pw, dh, dw);
        Expect.Close(reference(new[] { Reference.ToDouble(xv) }), y.ToArray(), 0, 0, "max pool");
        GradCheck.Run(op, reference, new[] { xv }, new[] { new[] { n, c, h, w } });
    }

    [Theory]
    [InlineData(2, 2, 2, 2, 0, 0, false, true, 0)]
    [InlineData(3, 3, 2, 2, 1, 1, true, true, 0)]
    [InlineData(3, 2, 1, 2, 1, 1, false, false, 0)]
    [InlineData(2, 2, 1, 1, 1, 0, false, true, 3)]
    public void Average_pool_matches_the_definition_and_finite_differences(int kh, int kw, int sh, int sw, int ph,
        int pw, bool ceil, bool countIncludePad, int divisor)
    {
        int n = 1, c = 2, h = 7, w = 5;
        var xv = Reference.RandomValues(22, n * c * h * w, -1, 1);
        Func<Tensor[], Tensor> op = t => Tensor.AvgPool2d(t[0], (kh, kw), (sh, sw), (ph, pw), ceil, countIncludePad,
            divisor == 0 ? null : divisor);
        using var scope = new DisposeScope();
        var y = op(new[] { Tensor.FromArray(TestDevice.Instance, xv, new[] { n, c, h, w }) });
        int oh = y.Shape[2], ow = y.Shape[3];
        Func<double[][], double[]> reference = r => Pool2d(r[0], n * c, h, w, oh, ow, max: false, adaptive: false,
            kh, kw, sh, sw, ph, pw, 1, 1, countIncludePad, divisor);
        Expect.Close(reference(new[] { Reference.ToDouble(xv) }), y.ToArray(), 1e-6, 1e-5, "average pool");
        GradCheck.Run(op, reference, new[] { xv }, new[] { new[] { n, c, h, w } });
    }

    [Theory]
    [InlineData(7, 5, 3, 2)]
    [InlineData(8, 8, 4, 4)]
    [InlineData(5, 6, 1, 1)]
    [InlineData(3, 4, 5, 6)]
    public void Adaptive_pools_match_the_definition_and_finite_differences(int h, int w, int oh, int ow)
    {
        var xv = Reference.RandomValues(23, 2 * h * w, -1, 1);
        var shape = new[] { 1, 2, h, w };
        foreach (bool max in new[] { false, true })
        {
            Func<double[][], double[]> reference = r => Pool2d(r[0], 2, h, w, oh, ow, max, adaptive: true);
            Func<Tensor[], Tensor> op = max
                ? t => Tensor.AdaptiveMaxPool2d(t[0], (oh, ow))
                : t => Tensor.AdaptiveAvgPool2d(t[0], (oh, ow));
            using (var scope = new DisposeScope())
            {
                var y = op(new[] { Tensor.FromArray(TestDevice.Instance, xv, shape) });
                Assert.Equal(new[] { 1, 2, oh, ow }, y.Shape);
                Expect.Close(reference(new[] { Reference.ToDouble(xv) }), y.ToArray(), 1e-6, 1e-5, max ? "max" : "avg");
            }
            GradCheck.Run(op, reference, new[] { xv }, new[] { shape });
        }
    }

    /// <summary>Every output of a max pool is an element of its window (its index points at it), at least any other in the window.</summary>
    [Property(MaxTest = 25)]
    public void Max_pool_values_are_the_input_at_their_indices(PositiveInt seed)
    {
        var rng = new Random(seed.Get);
        int h = rng.Next(2, 9), w = rng.Next(2, 9), k = rng.Next(1, Math.Min(h, w) + 1), s = rng.Next(1, 4);
        var xv = Reference.RandomValues(seed.Get, 2 * h * w, -5, 5);
        using var scope = new DisposeScope();
        var (y, idx) = Tensor.MaxPool2dWithIndices(Tensor.FromArray(TestDevice.Instance, xv, new[] { 2, 1, h, w }), k, s);
        var values = y.ToArray();
        var positions = idx.ToArray<long>();
        int per = y.Shape[2] * y.Shape[3];
        for (int j = 0; j < values.Length; j++)
            Assert.Equal(xv[j / per * h * w + (int)positions[j]], values[j]);
    }

    [Fact]
    public void Max_pool_propagates_nan_and_bad_arguments_name_the_cause()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(dev, new[] { 1f, float.NaN, 3f, 2f }, new[] { 1, 1, 2, 2 });
        Assert.True(float.IsNaN(Tensor.MaxPool2d(x, 2).Item()));
        var e = Assert.Throws<ArgumentException>(() => Tensor.MaxPool2d(x, 3));
        Assert.Contains("[1, 1, 2, 2]", e.Message);
        Assert.Contains("stride", Assert.Throws<ArgumentException>(() => Tensor.MaxPool2d(x, 2, stride: 0)).Message);
        Assert.Contains("pad should be at most half", Assert.Throws<ArgumentException>(() => Tensor.AvgPool2d(x, 2, padding: 2)).Message);
        Assert.Contains("output_size", Assert.Throws<ArgumentException>(() => Tensor.AdaptiveAvgPool2d(x, 0)).Message);
        Assert.Contains("expected input", Assert.Throws<ArgumentException>(() => new Engine.Nn.MaxPool2d(2).Forward(Tensor.Zeros(dev, new[] { 4, 4 }))).Message);
    }

    [Fact]
    public void Pooling_modules_keep_pytorch_defaults()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(dev, Reference.RandomValues(24, 2 * 3 * 8 * 8, -1, 1), new[] { 2, 3, 8, 8 });
        Assert.Equal(new[] { 2, 3, 4, 4 }, new Engine.Nn.MaxPool2d(2).Forward(x).Shape);
        Assert.Equal(new[] { 2, 3, 3, 3 }, new Engine.Nn.AvgPool2d(3, stride: 2, padding: 1, ceilMode: false).Forward(x).Shape.Select((d, i) => i < 2 ? d : d - 1).ToArray());
        Assert.Equal(new[] { 2, 3, 1, 1 }, new Engine.Nn.AdaptiveAvgPool2d(1).Forward(x).Shape);
        Assert.Equal(new[] { 2, 192 }, new Engine.Nn.Flatten().Forward(x).Shape);
        Assert.Equal(new[] { 2, 3, 4, 16 }, new Engine.Nn.Unflatten(1, 3, 4, 16).Forward(new Engine.Nn.Flatten().Forward(x)).Shape);
        Assert.Equal(new[] { 2, 3, 4 }, new Engine.Nn.MaxPool1d(2).Forward(Tensor.Zeros(dev, new[] { 2, 3, 8 })).Shape);
        Assert.Equal(new[] { 2, 3, 16, 16 }, new Engine.Nn.Upsample(scaleFactor: 2, mode: "bilinear").Forward(x).Shape);
    }
}
