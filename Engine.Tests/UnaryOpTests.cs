using FsCheck;
using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>One element-wise op: the engine call, its double reference, and the inputs it is checked on.</summary>
public sealed record UnaryCase(string Name, Func<Tensor, Tensor> Op, Func<double, double> Reference,
    Func<double, double> Domain)
{
    public override string ToString() => Name;

    /// <summary>Keeps x at least 0.05 away from a kink at <paramref name="at"/>, where finite differences lie.</summary>
    public static double AwayFrom(double x, double at) => Math.Abs(x - at) < 0.05 ? at + 0.1 : x;

    public static readonly UnaryCase[] All =
    {
        new("exp", t => t.Exp(), Math.Exp, x => x),
        new("log", t => t.Log(), Math.Log, x => Math.Abs(x) + 0.1),
        new("sqrt", t => t.Sqrt(), Math.Sqrt, x => Math.Abs(x) + 0.1),
        new("pow 2.5", t => t.Pow(2.5f), x => Math.Pow(x, 2.5), x => Math.Abs(x) + 0.1),
        new("pow 3", t => t.Pow(3f), x => x * x * x, x => x),
        new("abs", t => t.Abs(), Math.Abs, x => AwayFrom(x, 0)),
        new("clamp", t => t.Clamp(-1f, 1.5f), x => Math.Clamp(x, -1, 1.5), x => AwayFrom(AwayFrom(x, -1), 1.5)),
        new("relu", t => t.Relu(), x => Math.Max(x, 0), x => AwayFrom(x, 0)),
        new("leaky_relu", t => t.LeakyRelu(0.1f), x => x > 0 ? x : 0.1 * x, x => AwayFrom(x, 0)),
        new("sigmoid", t => t.Sigmoid(), Tests.Reference.Sigmoid, x => x),
        new("tanh", t => t.Tanh(), Math.Tanh, x => x),
        new("gelu", t => t.Gelu(), Tests.Reference.GeluExact, x => x),
        new("gelu tanh", t => t.Gelu("tanh"), Tests.Reference.Gelu, x => x),
        new("softplus", t => t.Softplus(), Tests.Reference.Softplus, x => x),
        new("neg", t => -t, x => -x, x => x),
        new("add scalar", t => t + 2.5f, x => x + 2.5, x => x),
        new("scalar sub", t => 2.5f - t, x => 2.5 - x, x => x),
        new("mul scalar", t => t * -1.5f, x => -1.5 * x, x => x),
        new("div scalar", t => t / 4f, x => x / 4, x => x),
        new("scalar div", t => 3f / t, x => 3 / x, x => AwayFrom(x, 0) + Math.Sign(x) * 0.5),
        new("reciprocal", t => t.Reciprocal(), x => 1 / x, x => AwayFrom(x, 0) + Math.Sign(x) * 0.5),
        new("rsqrt", t => t.Rsqrt(), x => 1 / Math.Sqrt(x), x => Math.Abs(x) + 0.2),
        new("square", t => t.Square(), x => x * x, x => x),
        new("sin", t => t.Sin(), Math.Sin, x => x),
        new("cos", t => t.Cos(), Math.Cos, x => x),
        new("erf", t => t.Erf(), Tests.Reference.Erf, x => x),
        new("sign", t => t.Sign(), x => Math.Sign(x), x => AwayFrom(x, 0)),
        new("silu", t => t.Silu(), x => x * Tests.Reference.Sigmoid(x), x => x),
        new("mish", t => t.Mish(), x => x * Math.Tanh(Tests.Reference.Softplus(x)), x => x),
        new("elu", t => t.Elu(0.7f), x => x > 0 ? x : 0.7 * (Math.Exp(x) - 1), x => AwayFrom(x, 0)),
        new("hardtanh", t => t.Hardtanh(-1f, 1.5f), x => Math.Clamp(x, -1, 1.5), x => AwayFrom(AwayFrom(x, -1), 1.5)),
    };
}

public static class UnaryCases
{
    public static Arbitrary<UnaryCase> Case() => FsCheck.Fluent.Arb.From(FsCheck.Fluent.Gen.Elements(UnaryCase.All));
}

[Properties(Arbitrary = new[] { typeof(Generators), typeof(UnaryCases) }, MaxTest = 60)]
public class UnaryOpTests
{
    private static float[] Inputs(UnaryCase c, Dims dims, int seed) =>
        Reference.RandomValues(seed, dims.Numel).Select(v => (float)c.Domain(v)).ToArray();

    [Property]
    public void Forward_matches_reference(UnaryCase c, Dims dims, int seed)
    {
        var x = Inputs(c, dims, seed);
        using var scope = new DisposeScope();
        var y = c.Op(Tensor.FromArray(TestDevice.Instance, x, dims.Values));
        Assert.Equal(dims.Values, y.Shape);
        Expect.Close(x.Select(v => c.Reference(v)).ToArray(), y.ToArray(), 1e-5, 1e-5, c.Name);
    }

    [Property(MaxTest = 40)]
    public void Gradient_matches_finite_differences(UnaryCase c, Dims dims, int seed)
    {
        var x = Inputs(c, dims, seed);
        GradCheck.Run(t => c.Op(t[0]), r => r[0].Select(c.Reference).ToArray(), new[] { x },
            new[] { dims.Values });
    }

    [Fact]
    public void Every_case_is_checked_on_awkward_lengths()
    {
        // Sweeps lengths 1..65 (tile and group boundaries included) for every op, in and out of a shape.
        foreach (var c in UnaryCase.All)
        {
            foreach (int n in new[] { 1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65 })
            {
                Forward_matches_reference(c, new Dims(new[] { n }), n);
            }
        }
    }

    [Fact]
    public void Sigmoid_and_softplus_do_not_overflow_on_large_inputs()
    {
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(TestDevice.Instance, new[] { -1000f, -100f, 100f, 1000f }, new[] { 4 });
        Expect.Close(new double[] { 0, 3.7200760e-44, 1, 1 }, x.Sigmoid().ToArray(), 1e-30, 1e-6, "sigmoid");
        Expect.Close(new double[] { 0, 0, 100, 1000 }, x.Softplus().ToArray(), 1e-6, 1e-6, "softplus");
    }

    [Fact]
    public void Gelu_is_exact_by_default_and_the_tanh_form_on_request_as_in_pytorch()
    {
        // torch.nn.functional.gelu(torch.tensor([-3., -1., -0.5, 0., 0.5, 1., 3.])) and the same with approximate="tanh"
        var exact = new[] { -0.00404969f, -0.15865525f, -0.15426877f, 0f, 0.34573123f, 0.84134475f, 2.99595031f };
        var tanh = new[] { -0.0036373f, -0.1588080f, -0.1542859f, 0f, 0.3457141f, 0.8411920f, 2.9963627f };
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(TestDevice.Instance, new[] { -3f, -1f, -0.5f, 0f, 0.5f, 1f, 3f }, new[] { 7 });
        Expect.Close(exact, x.Gelu().ToArray(), 1e-7, 2e-6, "gelu");
        Expect.Close(exact, new Engine.Nn.Gelu().Forward(x).ToArray(), 1e-7, 2e-6, "nn.GELU()");
        Expect.Close(tanh, x.Gelu("tanh").ToArray(), 1e-6, 1e-5, "gelu tanh");
        Expect.Close(tanh, new Engine.Nn.Gelu("tanh").Forward(x).ToArray(), 1e-6, 1e-5, "nn.GELU(tanh)");
        // The negative tail keeps its relative precision: torch gives -1.4332579e-06 at -5.
        var tail = Tensor.FromArray(TestDevice.Instance, new[] { -5f }, new[] { 1 }).Gelu().Item();
        Assert.InRange(tail, -1.4333e-6f, -1.4332e-6f);
        Assert.Throws<ArgumentException>(() => x.Gelu("erf"));
        Expect.Close(Reference.Softmax(Reference.ToDouble(x.ToArray()), 1, 7, log: true),
            new Engine.Nn.LogSoftmax().Forward(x.Reshape(1, 7)).ToArray(), 1e-6, 1e-6, "nn.LogSoftmax");
    }

    [Fact]
    public void Clamp_rejects_min_above_max()
    {
        using var scope = new DisposeScope();
        var x = Tensor.Zeros(TestDevice.Instance, new[] { 2 });
        var e = Assert.Throws<ArgumentException>(() => x.Clamp(2f, 1f));
        Assert.Contains("clamp", e.Message);
    }
}
