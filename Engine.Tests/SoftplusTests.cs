namespace Engine.Tests;

/// <summary>Softplus keeps its relative precision far into the negative range and has PyTorch's beta and threshold.</summary>
public class SoftplusTests
{
    public static IEnumerable<object[]> Devices() => new[] { new object[] { "simd" }, new object[] { "ilgpu" } };

    private static Device On(string which) => which == "simd" ? TestDevice.Simd : TestDevice.Ilgpu;

    private static double Reference(double x, double beta, double threshold) =>
        beta * x > threshold ? x : (Math.Max(beta * x, 0) + Log1P(Math.Exp(-Math.Abs(beta * x)))) / beta;

    /// <summary>ln(1 + u) in double: the series where 1 + u would round.</summary>
    private static double Log1P(double u) => u < 1e-5 ? u - u * u / 2 + u * u * u / 3 : Math.Log(1 + u);

    [Theory]
    [MemberData(nameof(Devices))]
    public void Values_keep_relative_precision_down_to_minus_80(string which)
    {
        var x = new[] { -80f, -30f, -17f, -15f, -7f, -1e-3f, 0f, 1e-3f, 3f, 19f, 25f };
        using var scope = new DisposeScope();
        var y = Tensor.FromArray(On(which), x, new[] { x.Length }).Softplus().ToArray();
        Expect.Close(x.Select(v => Reference(v, 1, 20)).ToArray(), y, 0, 2e-6, "softplus");
        Assert.True(y[2] > 4e-8f && y[2] < 4.2e-8f); // PyTorch: 4.1399e-08
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void Beta_and_threshold_follow_pytorch(string which)
    {
        var x = new[] { -3f, -0.5f, 0f, 0.5f, 4f, 9.9f, 10.1f, 30f };
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(On(which), x, new[] { x.Length }, requiresGrad: true);
        var y = t.Softplus(beta: 2f, threshold: 20f);
        Expect.Close(x.Select(v => Reference(v, 2, 20)).ToArray(), y.ToArray(), 0, 2e-6, "softplus β=2");
        Assert.Equal(30f, y.ToArray()[^1]); // βx > threshold: x itself
        y.Sum().Backward();
        var expected = x.Select(v => 2 * v > 20 ? 1.0 : 1 / (1 + Math.Exp(-2.0 * v))).ToArray();
        Expect.Close(expected, t.Grad!.ToArray(), 1e-7, 1e-6, "d softplus β=2");
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Softplus(beta: 0f));
    }

    [Fact]
    public void Gradients_match_finite_differences_with_beta() =>
        GradCheck.Run(t => t[0].Softplus(1.5f, 5f), r => r[0].Select(v => Reference(v, 1.5, 5)).ToArray(),
            new[] { Tests.Reference.RandomValues(3, 12) }, new[] { new[] { 12 } });
}
