using FsCheck;
using FsCheck.Xunit;

namespace Engine.Tests;

[Properties(Arbitrary = new[] { typeof(Generators) }, MaxTest = 50)]
public class SoftmaxTests
{
    [Property]
    public void Softmax_rows_are_positive_and_sum_to_one(Dims dims, int seed)
    {
        var x = Reference.RandomValues(seed, dims.Numel, -20, 20);
        using var scope = new DisposeScope();
        var y = Tensor.FromArray(TestDevice.Instance, x, dims.Values).Softmax(-1);
        var rowSums = y.Sum(-1).ToArray();
        Assert.All(y.ToArray(), p => Assert.InRange(p, 0f, 1f));
        Expect.Close(rowSums.Select(_ => 1.0).ToArray(), rowSums, 1e-5, 0, "row sums");
    }

    [Property]
    public void Softmax_and_log_softmax_match_reference_on_the_last_axis(Dims dims, int seed)
    {
        var x = Reference.RandomValues(seed, dims.Numel, -5, 5);
        int cols = dims.Values[^1], rows = dims.Numel / cols;
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(TestDevice.Instance, x, dims.Values);
        var xd = Reference.ToDouble(x);
        Expect.Close(Reference.Softmax(xd, rows, cols, log: false), t.Softmax().ToArray(), 1e-6, 1e-5, "softmax");
        Expect.Close(Reference.Softmax(xd, rows, cols, log: true), t.LogSoftmax().ToArray(), 1e-5, 1e-5,
            "log_softmax");
    }

    [Property(MaxTest = 30)]
    public void Gradients_match_finite_differences_on_any_axis(Dims dims, int seed)
    {
        var x = Reference.RandomValues(seed, dims.Numel);
        int axis = Math.Abs(seed) % dims.Values.Length;
        // Move the axis last in the reference: softmax along it, then back.
        double[] Along(double[] v, bool log)
        {
            int outer = dims.Values.Take(axis).Aggregate(1, (p, d) => p * d);
            int len = dims.Values[axis];
            int inner = dims.Values.Skip(axis + 1).Aggregate(1, (p, d) => p * d);
            var lines = new double[outer * inner * len];
            for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            for (int l = 0; l < len; l++)
                lines[(o * inner + i) * len + l] = v[(o * len + l) * inner + i];
            var s = Reference.Softmax(lines, outer * inner, len, log);
            var y = new double[v.Length];
            for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            for (int l = 0; l < len; l++)
                y[(o * len + l) * inner + i] = s[(o * inner + i) * len + l];
            return y;
        }
        GradCheck.Run(t => t[0].Softmax(axis), r => Along(r[0], false), new[] { x }, new[] { dims.Values });
        GradCheck.Run(t => t[0].LogSoftmax(axis), r => Along(r[0], true), new[] { x }, new[] { dims.Values });
    }

    [Fact]
    public void Log_softmax_subtracts_the_row_max_so_huge_logits_stay_finite()
    {
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(TestDevice.Instance, new[] { 1000f, 1001f, 1002f }, new[] { 1, 3 });
        Expect.Close(Reference.Softmax(new double[] { 0, 1, 2 }, 1, 3, log: true), x.LogSoftmax(1).ToArray(), 1e-5,
            1e-5, "log_softmax of large logits");
    }
}
