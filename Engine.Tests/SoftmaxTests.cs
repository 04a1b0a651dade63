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

    /// <summary>
    /// A small log-probability beside a large logit keeps its precision: (x − max) − ln Σ, as float64 and PyTorch
    /// give it, not x − (max + ln Σ), which rounds away up to half an ulp of max (at x = 100 that was −7.63e-6 for
    /// −6.14e-6). The values and the gradient against float64, on rows of large logits of either sign.
    /// </summary>
    [Theory]
    [InlineData(100f, 88f, 2)]
    [InlineData(100f, 88f, 18)]
    [InlineData(-88f, -100f, 18)]
    [InlineData(1000f, 990f, 2)]
    [InlineData(1000f, 990f, 18)]
    [InlineData(30000f, 29990f, 2)]
    public void Log_softmax_keeps_small_log_probabilities_exact_beside_a_large_logit(float hi, float lo, int n)
    {
        using var scope = new DisposeScope();
        var values = Enumerable.Range(0, n).Select(i => i == 0 ? hi : lo).ToArray();
        var x = Tensor.FromArray(TestDevice.Instance, values, new[] { 1, values.Length }, requiresGrad: true);
        var y = x.LogSoftmax(1);
        var expected = Reference.Softmax(Reference.ToDouble(values), 1, values.Length, log: true);
        var got = y.ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            // Σ e^(x − max) = e^0 + small terms in float32: e^0 may be an ulp of 1 off (1.2e-7) and each addition
            // rounds by up to half an ulp of 1 (6e-8), so ln Σ is right to about 2.5e-7 + (n − 1)·6e-8, and so is the
            // largest logit's log-probability (−6e-6 to −8e-4 here); PyTorch is as far. Folding max into the shift
            // would add half an ulp of max (3.8e-6 at 100).
            double tolerance = 2.5e-7 + (n - 1) * 6e-8 + 2e-6 * Math.Abs(expected[i]);
            Assert.True(Math.Abs(got[i] - expected[i]) <= tolerance,
                $"log_softmax[{i}] of {values[i]}: expected {expected[i]:R}, got {got[i]:R} (tolerance {tolerance:G3})");
        }
        // dx = dy − softmax·Σ dy with dy = one-hot at 0: dx_0 = 1 − p_0, a small number that needs y_0 exact.
        var dy = new float[values.Length];
        dy[0] = 1f;
        (y * Tensor.FromArray(TestDevice.Instance, dy, new[] { 1, values.Length })).Sum().Backward();
        var dx = x.Grad!.ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            double p = Math.Exp(expected[i]), want = (i == 0 ? 1 : 0) - p;
            Assert.True(Math.Abs(dx[i] - want) <= 2.5e-7 + (n - 1) * 6e-8 + 1e-5 * Math.Abs(want),
                $"gradient [{i}]: expected {want:R}, got {dx[i]:R}");
        }
    }
}
