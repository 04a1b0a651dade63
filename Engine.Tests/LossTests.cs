using FsCheck;
using FsCheck.Xunit;

namespace Engine.Tests;

[Properties(Arbitrary = new[] { typeof(Generators) }, MaxTest = 50)]
public class LossTests
{
    private static int[] Labels(int seed, int rows, int classes)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ => rng.Next(classes)).ToArray();
    }

    [Property]
    public void Cross_entropy_matches_reference_is_nonnegative_and_is_minus_log_softmax_at_the_label(
        MatMulDims size, int seed)
    {
        int rows = size.M, classes = size.N;
        var x = Reference.RandomValues(seed, rows * classes, -8, 8);
        var labels = Labels(seed, rows, classes);
        using var scope = new DisposeScope();
        var logits = Tensor.FromArray(TestDevice.Instance, x, new[] { rows, classes });
        float mean = Loss.CrossEntropy(logits, labels).Item();
        float sum = Loss.CrossEntropy(logits, labels, Reduction.Sum).Item();
        Assert.True(mean >= 0f, $"CE {mean} < 0");
        Expect.Close(new[] { Reference.CrossEntropy(Reference.ToDouble(x), labels, classes) }, new[] { mean }, 1e-5,
            1e-5, "mean CE");
        var logp = logits.LogSoftmax(1).ToArray();
        double fromLogSoftmax = -labels.Select((l, r) => (double)logp[r * classes + l]).Sum();
        Expect.Close(new[] { fromLogSoftmax }, new[] { sum }, 1e-4, 1e-5, "sum CE = −Σ log_softmax[label]");
    }

    [Property(MaxTest = 30)]
    public void Cross_entropy_gradient_is_softmax_minus_onehot_and_matches_finite_differences(MatMulDims size,
        int seed)
    {
        int rows = size.M, classes = size.N;
        var x = Reference.RandomValues(seed, rows * classes, -4, 4);
        var labels = Labels(seed, rows, classes);
        using (var scope = new DisposeScope())
        {
            var logits = Tensor.FromArray(TestDevice.Instance, x, new[] { rows, classes }, requiresGrad: true);
            Loss.CrossEntropy(logits, labels).Backward();
            var p = Reference.Softmax(Reference.ToDouble(x), rows, classes, log: false);
            var expected = p.Select((v, i) => (v - (labels[i / classes] == i % classes ? 1 : 0)) / rows).ToArray();
            Expect.Close(expected, logits.Grad!.ToArray(), 1e-6, 1e-5, "softmax − onehot");
        }
        GradCheck.Run(t => Loss.CrossEntropy(t[0], labels, Reduction.Sum),
            r => new[] { Reference.CrossEntropy(r[0], labels, classes, mean: false) }, new[] { x },
            new[] { new[] { rows, classes } });
    }

    [Property]
    public void Mse_and_bce_with_logits_match_reference_with_gradients_for_both_inputs(Dims dims, int seed)
    {
        var pred = Reference.RandomValues(seed, dims.Numel);
        var target = Reference.RandomValues(seed + 1, dims.Numel, 0, 1);
        double Mse(double[][] r) => r[0].Zip(r[1], (a, b) => (a - b) * (a - b)).Average();
        double Bce(double[][] r) =>
            r[0].Zip(r[1], (x, y) => -y * Math.Log(Reference.Sigmoid(x)) - (1 - y) * Math.Log(1 - Reference.Sigmoid(x)))
                .Sum();
        GradCheck.Run(t => Loss.Mse(t[0], t[1]), r => new[] { Mse(r) }, new[] { pred, target },
            new[] { dims.Values, dims.Values });
        GradCheck.Run(t => Loss.BinaryCrossEntropyWithLogits(t[0], t[1], Reduction.Sum), r => new[] { Bce(r) },
            new[] { pred, target }, new[] { dims.Values, dims.Values });
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var p = Tensor.FromArray(dev, pred, dims.Values);
        var y = Tensor.FromArray(dev, target, dims.Values);
        var both = new[] { Reference.ToDouble(pred), Reference.ToDouble(target) };
        Expect.Close(new[] { Mse(both) }, new[] { Loss.Mse(p, y).Item() }, 1e-5, 1e-5, "mse");
        Expect.Close(new[] { Bce(both) / dims.Numel }, new[] { Loss.BinaryCrossEntropyWithLogits(p, y).Item() },
            1e-5, 1e-5, "bce");
    }

    /// <summary>
    /// A nearly-certain prediction's small loss keeps its precision, as log_softmax's does: −log p_y = (max − z_y) +
    /// ln Σ, not (max + ln Σ) − z_y, which rounds away half an ulp of max (logits [100, 88]: 6.1e-6 came out 7.6e-6).
    /// </summary>
    [Theory]
    [InlineData(100f, 88f)]
    [InlineData(1000f, 990f)]
    [InlineData(-88f, -100f)]
    public void Cross_entropy_of_a_confident_right_prediction_keeps_its_precision(float hi, float lo)
    {
        using var scope = new DisposeScope();
        var logits = Tensor.FromArray(TestDevice.Instance, new[] { hi, lo, lo, hi }, new[] { 2, 2 });
        double exact = Math.Log(1 + Math.Exp(lo - hi)); // both rows' loss: the label is the larger logit
        float got = Loss.CrossEntropy(logits, new[] { 0, 1 }).Item();
        Assert.True(Math.Abs(got - exact) <= 3e-7, $"cross_entropy of [{hi}, {lo}] at the larger: expected {exact:R}, got {got:R}");
    }

    [Fact]
    public void Bce_with_logits_is_stable_for_saturated_logits()
    {
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var x = Tensor.FromArray(dev, new[] { 200f, -200f }, new[] { 2 });
        var y = Tensor.FromArray(dev, new[] { 0f, 1f }, new[] { 2 });
        Assert.Equal(200f, Loss.BinaryCrossEntropyWithLogits(x, y).Item(), 3);
    }

    [Theory]
    [InlineData(3, 3)]
    [InlineData(1, -1)]
    public void A_label_outside_the_classes_names_its_index_and_value(int index, int value)
    {
        using var scope = new DisposeScope();
        var logits = Tensor.Zeros(TestDevice.Instance, new[] { 4, 3 });
        var labels = new[] { 0, 1, 2, 0 };
        labels[index] = value;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Loss.CrossEntropy(logits, labels));
        Assert.Contains($"index {index}", e.Message);
        Assert.Contains($"is {value}", e.Message);
    }

    [Fact]
    public void Label_tensors_are_class_indices_and_are_validated()
    {
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var x = Reference.RandomValues(3, 6);
        var logits = Tensor.FromArray(dev, x, new[] { 2, 3 });
        var labels = Tensor.FromArray(dev, new[] { 2f, 0f }, new[] { 2 });
        Assert.Equal(Loss.CrossEntropy(logits, new[] { 2, 0 }).Item(), Loss.CrossEntropy(logits, labels).Item());
        var bad = Tensor.FromArray(dev, new[] { 0.5f, 0f }, new[] { 2 });
        Assert.Contains("index 0", Assert.Throws<ArgumentException>(() => Loss.CrossEntropy(logits, bad)).Message);
    }

    [Fact]
    public void Mismatched_shapes_and_label_counts_are_clear_errors()
    {
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var a = Tensor.Zeros(dev, new[] { 2, 3 });
        var b = Tensor.Zeros(dev, new[] { 3, 2 });
        var e = Assert.Throws<ArgumentException>(() => Loss.Mse(a, b));
        Assert.Contains("mse_loss", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[3, 2]", e.Message);
        Assert.Contains("3 labels", Assert.Throws<ArgumentException>(() => Loss.CrossEntropy(a, new[] { 0, 1, 2 })).Message);
    }
}
