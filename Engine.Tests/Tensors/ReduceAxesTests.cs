using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>Reductions over any set of axes (sum, mean, var, std, logsumexp, norm, min) against a double reference.</summary>
[Properties(MaxTest = 20)]
public class ReduceAxesTests
{
    private static Device Dev => TestDevice.Instance;

    private static (float[] X, int[] Shape, int[] Axes) Draw(int seed, int maxRank = 5)
    {
        var rng = new Random(seed);
        var shape = NdReference.RandomShape(rng, rng.Next(1, maxRank + 1), 4);
        var axes = Enumerable.Range(0, shape.Length).Where(_ => rng.Next(2) == 0).ToArray();
        if (axes.Length == 0) axes = new[] { rng.Next(shape.Length) };
        return (Reference.RandomValues(seed, NdReference.Numel(shape)), shape, axes);
    }

    private static double[] Reduce(double[] x, int[] shape, int[] axes, Func<double[], double> f)
    {
        var kept = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var groups = new List<double>[NdReference.Numel(kept)];
        for (int i = 0; i < groups.Length; i++) groups[i] = new List<double>();
        for (int i = 0; i < x.Length; i++)
        {
            var idx = NdReference.Unravel(i, shape);
            foreach (int a in axes) idx[a] = 0;
            groups[NdReference.Ravel(idx, kept)].Add(x[i]);
        }
        return groups.Select(g => f(g.ToArray())).ToArray();
    }

    private static double Variance(double[] g) => g.Select(v => (v - g.Average()) * (v - g.Average())).Sum() / (g.Length - 1);

    [Property]
    public void Reductions_over_axis_sets_match_the_reference(int seed)
    {
        var (x, shape, axes) = Draw(seed);
        var xd = Reference.ToDouble(x);
        var negative = axes.Select(a => a - shape.Length).ToArray(); // the same axes counted from the end
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape);
        var sum = t.Sum(negative, keepDim: true);
        Assert.Equal(shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray(), sum.Shape);
        Expect.Close(Reduce(xd, shape, axes, g => g.Sum()), sum.ToArray(), 1e-5, 1e-5, "sum");
        var mean = t.Mean(axes);
        Assert.Equal(shape.Where((_, i) => !axes.Contains(i)).ToArray(), mean.Shape);
        Expect.Close(Reduce(xd, shape, axes, g => g.Average()), mean.ToArray(), 1e-5, 1e-5, "mean");
        Expect.Close(Reduce(xd, shape, axes, g => Math.Log(g.Sum(Math.Exp))), t.LogSumExp(axes).ToArray(), 1e-5, 1e-5, "logsumexp");
        Expect.Close(Reduce(xd, shape, axes, g => Math.Sqrt(g.Sum(v => v * v))), t.Norm(2f, axes).ToArray(), 1e-5, 1e-5, "norm 2");
        Expect.Close(Reduce(xd, shape, axes, g => g.Sum(Math.Abs)), t.Norm(1f, axes).ToArray(), 1e-5, 1e-5, "norm 1");
        Expect.Close(Reduce(xd, shape, axes, g => g.Max(Math.Abs)), t.Norm(float.PositiveInfinity, axes).ToArray(), 0, 0, "norm ∞");
        Expect.Close(Reduce(xd, shape, axes, g => Math.Pow(g.Sum(v => Math.Pow(Math.Abs(v), 3)), 1 / 3.0)),
            t.Norm(3f, axes).ToArray(), 1e-5, 1e-5, "norm 3");
        if (axes.All(a => shape[a] == 1)) return; // a variance of one element is NaN on both sides
        Expect.Close(Reduce(xd, shape, axes, g => g.Length > 1 ? Variance(g) : double.NaN), t.Var(axes).ToArray(), 1e-4, 1e-4, "var");
        Expect.Close(Reduce(xd, shape, axes, g => g.Length > 1 ? Math.Sqrt(Variance(g)) : double.NaN), t.Std(axes).ToArray(), 1e-4, 1e-4, "std");
        int dim = axes[0];
        Expect.Close(Reduce(xd, shape, new[] { dim }, g => g.Min()), t.Min(dim).ToArray(), 0, 0, "min");
    }

    [Property(MaxTest = 8)]
    public void Gradients_of_sum_mean_var_and_logsumexp_over_axis_sets_match_finite_differences(int seed)
    {
        var (x, shape, axes) = Draw(seed, 3);
        GradCheck.Run(t => t[0].Sum(axes), r => Reduce(r[0], shape, axes, g => g.Sum()), new[] { x }, new[] { shape });
        GradCheck.Run(t => t[0].Mean(axes, keepDim: true), r => Reduce(r[0], shape, axes, g => g.Average()), new[] { x }, new[] { shape });
        GradCheck.Run(t => t[0].LogSumExp(axes), r => Reduce(r[0], shape, axes, g => Math.Log(g.Sum(Math.Exp))), new[] { x }, new[] { shape });
        if (axes.Any(a => shape[a] > 1))
            GradCheck.Run(t => t[0].Var(axes, correction: 0), r => Reduce(r[0], shape, axes,
                g => g.Select(v => (v - g.Average()) * (v - g.Average())).Average()), new[] { x }, new[] { shape });
    }

    [Fact]
    public void Repeated_or_out_of_range_axes_are_named()
    {
        using var scope = new DisposeScope();
        var t = Tensor.Zeros(Dev, new[] { 2, 3 });
        Assert.Contains("repeat an axis", Assert.Throws<ArgumentException>(() => t.Sum(new[] { 0, -2 })).Message);
        Assert.Contains("axis 2 is out of range", Assert.Throws<ArgumentOutOfRangeException>(() => t.Mean(new[] { 2 })).Message);
    }
}
