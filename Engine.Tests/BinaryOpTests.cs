using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>A binary op with its double reference.</summary>
public sealed record BinaryCase(string Name, Func<Tensor, Tensor, Tensor> Op, Func<double, double, double> Reference)
{
    public override string ToString() => Name;

    public static readonly BinaryCase[] All =
    {
        new("add", (a, b) => a + b, (a, b) => a + b),
        new("sub", (a, b) => a - b, (a, b) => a - b),
        new("mul", (a, b) => a * b, (a, b) => a * b),
        new("div", (a, b) => a / b, (a, b) => a / b),
        new("maximum", Tensor.Maximum, Math.Max),
        new("minimum", Tensor.Minimum, Math.Min),
    };
}

/// <summary>A pair of operand shapes that broadcast, with the result shape and a reference index map.</summary>
public sealed record BroadcastCase(int[] A, int[] B, int[] Result)
{
    public override string ToString() =>
        $"{Format(A)} ∘ {Format(B)} → {Format(Result)}";

    private static string Format(int[] s) => "[" + string.Join(", ", s) + "]";

    /// <summary>Index of the operand element that result element i reads (NumPy rules, done naively).</summary>
    public static int SourceIndex(int[] operand, int[] result, int i)
    {
        var padded = Enumerable.Repeat(1, result.Length - operand.Length).Concat(operand).ToArray();
        int index = 0, stride = 1, rem = i;
        var coords = new int[result.Length];
        for (int d = result.Length - 1; d >= 0; d--)
        {
            coords[d] = rem % result[d];
            rem /= result[d];
        }
        for (int d = result.Length - 1; d >= 0; d--)
        {
            index += (padded[d] == 1 ? 0 : coords[d]) * stride;
            stride *= padded[d];
        }
        return index;
    }

    public double[] Apply(Func<double, double, double> f, double[] a, double[] b)
    {
        int n = Result.Aggregate(1, (p, d) => p * d);
        var c = new double[n];
        for (int i = 0; i < n; i++) c[i] = f(a[SourceIndex(A, Result, i)], b[SourceIndex(B, Result, i)]);
        return c;
    }
}

public static class BroadcastCases
{
    public static Arbitrary<BinaryCase> Op() => Arb.From(Gen.Elements(BinaryCase.All));

    /// <summary>Same shape, [n] and [1, n] rows over [m, n], [m, 1] columns, scalars, either side.</summary>
    public static Arbitrary<BroadcastCase> Shapes() => Arb.From(
        Gen.Choose(1, 9).Two().SelectMany(mn =>
        {
            var (m, n) = mn;
            var full = new[] { m, n };
            var cases = new[]
            {
                new BroadcastCase(full, full, full),
                new BroadcastCase(full, new[] { n }, full),
                new BroadcastCase(new[] { n }, full, full),
                new BroadcastCase(full, new[] { 1, n }, full),
                new BroadcastCase(full, new[] { m, 1 }, full),
                new BroadcastCase(new[] { m, 1 }, full, full),
                new BroadcastCase(full, Array.Empty<int>(), full),
                new BroadcastCase(new[] { 1 }, full, full),
                new BroadcastCase(new[] { 3, m, n }, new[] { m, n }, new[] { 3, m, n }),
                new BroadcastCase(new[] { 2, m, 1 }, new[] { 2, 1, 1 }, new[] { 2, m, 1 }),
                // Stretched on both sides of an axis the operand varies along: the general (expanding) path.
                new BroadcastCase(new[] { 2, m, n }, new[] { 2, 1, n }, new[] { 2, m, n }),
                new BroadcastCase(new[] { m, 1, n }, new[] { 1, 3, 1 }, new[] { m, 3, n }),
                new BroadcastCase(new[] { 2, 1, m, 1 }, new[] { 3, 1, n }, new[] { 2, 3, m, n }),
            };
            return Gen.Elements(cases);
        }));
}

[Properties(Arbitrary = new[] { typeof(BroadcastCases) }, MaxTest = 60)]
public class BinaryOpTests
{
    private static (float[] A, float[] B) Inputs(BroadcastCase s, int seed)
    {
        var a = Reference.RandomValues(seed, s.A.Aggregate(1, (p, d) => p * d));
        // Keep divisors away from zero so the reference and the finite differences stay well conditioned.
        var b = Reference.RandomValues(seed + 1, s.B.Aggregate(1, (p, d) => p * d), 0.5, 2.5)
            .Select((v, i) => i % 2 == 0 ? v : -v).ToArray();
        return (a, b);
    }

    [Property]
    public void Forward_matches_reference(BinaryCase op, BroadcastCase s, int seed)
    {
        var (a, b) = Inputs(s, seed);
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var c = op.Op(Tensor.FromArray(dev, a, s.A), Tensor.FromArray(dev, b, s.B));
        Assert.Equal(s.Result, c.Shape);
        Expect.Close(s.Apply(op.Reference, Reference.ToDouble(a), Reference.ToDouble(b)), c.ToArray(), 1e-6, 1e-6,
            $"{op} {s}");
    }

    [Property(MaxTest = 40)]
    public void Gradients_of_both_operands_match_finite_differences(BinaryCase op, BroadcastCase s, int seed)
    {
        var (a, b) = Inputs(s, seed);
        GradCheck.Run(t => op.Op(t[0], t[1]), r => s.Apply(op.Reference, r[0], r[1]), new[] { a, b },
            new[] { s.A, s.B });
    }

    /// <summary>The gradient of a broadcast operand has the operand's shape and sums over the axes it was stretched on.</summary>
    [Property(MaxTest = 40)]
    public void Broadcast_gradients_sum_to_the_unbroadcast_shape(BroadcastCase s, int seed)
    {
        var (a, b) = Inputs(s, seed);
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var ta = Tensor.FromArray(dev, a, s.A, requiresGrad: true);
        var tb = Tensor.FromArray(dev, b, s.B, requiresGrad: true);
        (ta + tb).Sum().Backward();
        int n = s.Result.Aggregate(1, (p, d) => p * d);
        Assert.Equal(s.A, ta.Grad!.Shape);
        Assert.Equal(s.B, tb.Grad!.Shape);
        // d(Σ a + b)/da_j counts how many result elements read a_j.
        var countA = new double[a.Length];
        var countB = new double[b.Length];
        for (int i = 0; i < n; i++)
        {
            countA[BroadcastCase.SourceIndex(s.A, s.Result, i)]++;
            countB[BroadcastCase.SourceIndex(s.B, s.Result, i)]++;
        }
        Expect.Close(countA, ta.Grad!.ToArray(), 0, 0, "∂/∂a");
        Expect.Close(countB, tb.Grad!.ToArray(), 0, 0, "∂/∂b");
    }

    [Fact]
    public void A_tensor_used_twice_gets_both_gradients()
    {
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(TestDevice.Instance, new[] { 1f, -2f, 3f }, new[] { 3 }, requiresGrad: true);
        (x * x + x).Sum().Backward(); // d/dx (x² + x) = 2x + 1
        Assert.Equal(new[] { 3f, -3f, 7f }, x.Grad!.ToArray());
    }

    [Theory]
    [InlineData(new[] { 2, 3 }, new[] { 4 })]
    [InlineData(new[] { 2, 3 }, new[] { 3, 2 })]
    [InlineData(new[] { 4, 3 }, new[] { 2, 1 })]
    public void Incompatible_shapes_name_the_op_and_both_shapes(int[] a, int[] b)
    {
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var x = Tensor.Zeros(dev, a);
        var y = Tensor.Zeros(dev, b);
        var e = Assert.Throws<ArgumentException>(() => x + y);
        Assert.Contains("add", e.Message);
        Assert.Contains("[" + string.Join(", ", a) + "]", e.Message);
        Assert.Contains("[" + string.Join(", ", b) + "]", e.Message);
    }

    [Fact]
    public void Broadcast_on_both_sides_of_an_axis_gives_numpy_results_and_summed_gradients()
    {
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var x = Tensor.FromArray(dev, Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), new[] { 2, 3, 4 });
        var y = Tensor.FromArray(dev, new[] { 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f }, new[] { 2, 1, 4 }, requiresGrad: true);
        var z = x * y;
        Assert.Equal(new[] { 2, 3, 4 }, z.Shape);
        Assert.Equal(4f * 1f, z.ToArray()[4]);      // x[0, 1, 0] · y[0, 0, 0]
        Assert.Equal(23f * 8f, z.ToArray()[23]);    // x[1, 2, 3] · y[1, 0, 3]
        z.Sum().Backward();
        // dy[b, 0, j] = Σ_i x[b, i, j]
        Assert.Equal(new[] { 12f, 15f, 18f, 21f, 48f, 51f, 54f, 57f }, y.Grad!.ToArray());
    }
}
