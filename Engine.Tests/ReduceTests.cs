using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Engine.Tests;

[Properties(Arbitrary = new[] { typeof(Generators) }, MaxTest = 50)]
public class ReduceTests
{
    /// <summary>Reference reduction of x (shape dims) along axis with f over each line.</summary>
    private static double[] AlongAxis(double[] x, int[] dims, int axis, Func<IEnumerable<double>, double> f)
    {
        int outer = dims.Take(axis).Aggregate(1, (p, d) => p * d);
        int len = dims[axis];
        int inner = dims.Skip(axis + 1).Aggregate(1, (p, d) => p * d);
        var y = new double[outer * inner];
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
            y[o * inner + i] = f(Enumerable.Range(0, len).Select(l => x[(o * len + l) * inner + i]));
        return y;
    }

    [Property]
    public void Sum_and_mean_of_everything_match_reference(Dims dims, int seed)
    {
        var x = Reference.RandomValues(seed, dims.Numel);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(TestDevice.Instance, x, dims.Values);
        var sum = t.Sum();
        Assert.Empty(sum.Shape);
        Expect.Close(new[] { x.Sum(v => (double)v) }, new[] { sum.Item() }, 1e-4, 1e-5, "sum");
        Expect.Close(new[] { x.Average(v => (double)v) }, new[] { t.Mean().Item() }, 1e-5, 1e-5, "mean");
    }

    [Property]
    public void Sum_mean_max_along_an_axis_match_reference(Dims dims, int seed, bool keepDim)
    {
        var x = Reference.RandomValues(seed, dims.Numel);
        int axis = Math.Abs(seed) % dims.Values.Length;
        var xd = Reference.ToDouble(x);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(TestDevice.Instance, x, dims.Values);
        var expectedShape = keepDim
            ? dims.Values.Select((d, i) => i == axis ? 1 : d).ToArray()
            : dims.Values.Where((_, i) => i != axis).ToArray();
        var sum = t.Sum(axis, keepDim);
        Assert.Equal(expectedShape, sum.Shape);
        Expect.Close(AlongAxis(xd, dims.Values, axis, v => v.Sum()), sum.ToArray(), 1e-5, 1e-5, "sum(axis)");
        Expect.Close(AlongAxis(xd, dims.Values, axis, v => v.Average()), t.Mean(axis - dims.Values.Length, keepDim).ToArray(),
            1e-5, 1e-5, "mean(negative axis)");
        Expect.Close(AlongAxis(xd, dims.Values, axis, v => v.Max()), t.Max(axis, keepDim).ToArray(), 0, 0, "max(axis)");
    }

    [Property(MaxTest = 30)]
    public void Gradients_match_finite_differences(Dims dims, int seed)
    {
        var x = Reference.RandomValues(seed, dims.Numel);
        int axis = Math.Abs(seed) % dims.Values.Length;
        GradCheck.Run(t => t[0].Sum(axis), r => AlongAxis(r[0], dims.Values, axis, v => v.Sum()), new[] { x },
            new[] { dims.Values });
        GradCheck.Run(t => t[0].Mean(axis, keepDim: true), r => AlongAxis(r[0], dims.Values, axis, v => v.Average()),
            new[] { x }, new[] { dims.Values });
        // Max's derivative is undefined at a tie and the central difference (h = 1e-6) averages two values closer than
        // 2h: its input is a shuffled even grid over [-3, 3), so no two values are that close.
        var distinct = Enumerable.Range(0, dims.Numel).Select(k => (float)(-3 + 6.0 * k / dims.Numel))
            .ToArray();
        new Random(seed).Shuffle(distinct);
        GradCheck.Run(t => t[0].Max(axis), r => AlongAxis(r[0], dims.Values, axis, v => v.Max()), new[] { distinct },
            new[] { dims.Values });
        GradCheck.Run(t => t[0].Mean(), r => new[] { r[0].Average() }, new[] { x }, new[] { dims.Values });
    }

    [Fact]
    public void Max_sends_the_gradient_to_the_first_maximum_only()
    {
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(TestDevice.Instance, new[] { 1f, 5f, 5f, 2f, 0f, 0f }, new[] { 2, 3 },
            requiresGrad: true);
        x.Max(1).Sum().Backward();
        Assert.Equal(new[] { 0f, 1f, 0f, 1f, 0f, 0f }, x.Grad!.ToArray());
    }

    [Fact]
    public void Sum_of_a_large_vector_is_accurate()
    {
        using var scope = new DisposeScope();
        var ones = Tensor.Ones(TestDevice.Instance, new[] { 100_003 });
        Assert.Equal(100_003f, ones.Sum().Item());
    }

    [Fact]
    public void An_axis_out_of_range_names_op_axis_and_shape()
    {
        using var scope = new DisposeScope();
        var x = Tensor.Zeros(TestDevice.Instance, new[] { 2, 3 });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => x.Sum(2));
        Assert.Contains("sum", e.Message);
        Assert.Contains("axis 2", e.Message);
        Assert.Contains("[2, 3]", e.Message);
    }
}
