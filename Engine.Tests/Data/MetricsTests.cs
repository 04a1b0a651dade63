using Engine.Metrics;

namespace Engine.Tests.Data;

public class MetricsTests
{
    [Fact]
    public void Confusion_matrix_and_its_figures_match_a_hand_computation()
    {
        // actual:    0 0 0 1 1 2 2 2 2
        // predicted: 0 1 0 1 2 2 2 0 2
        int[] actual = { 0, 0, 0, 1, 1, 2, 2, 2, 2 };
        int[] predicted = { 0, 1, 0, 1, 2, 2, 2, 0, 2 };
        var m = ConfusionMatrix.From(actual, predicted, 3);
        Assert.Equal(new long[,] { { 2, 1, 0 }, { 0, 1, 1 }, { 1, 0, 3 } }, m.Counts);
        Assert.Equal(6.0 / 9, m.Accuracy, 12);
        // class 0: P = 2/3, R = 2/3; class 1: P = 1/2, R = 1/2; class 2: P = 3/4, R = 3/4.
        Assert.Equal(2.0 / 3, m.Precision(0), 12);
        Assert.Equal(0.5, m.Recall(1), 12);
        Assert.Equal(0.75, m.F1(2), 12);
        Assert.Equal((2.0 / 3 + 0.5 + 0.75) / 3, m.MacroPrecision, 12);
        Assert.Equal((2.0 / 3 + 0.5 + 0.75) / 3, m.MacroF1, 12);
        Assert.Equal(6.0 / 9, m.MicroF1, 12);
        Assert.Equal(6.0 / 9, Classification.Accuracy(actual, predicted), 12);
    }

    [Fact]
    public void Classes_never_predicted_or_present_score_zero_not_nan()
    {
        var m = ConfusionMatrix.From(new[] { 0, 0 }, new[] { 0, 0 }, 2);
        Assert.Equal(0, m.Precision(1));
        Assert.Equal(0, m.Recall(1));
        Assert.Equal(0, m.F1(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Add(2, 0));
    }

    [Fact]
    public void Argmax_takes_the_first_maximum()
    {
        Assert.Equal(new[] { 1, 0, 2 }, Classification.ArgMax(new[] { 0f, 3f, 1f, 5f, 5f, 0f, -1f, -2f, 4f }, 3));
    }

    [Fact]
    public void Regression_figures_match_a_hand_computation()
    {
        float[] y = { 1, 2, 3, 4 };
        float[] p = { 1.5f, 2, 2, 4 };
        Assert.Equal((0.25 + 0 + 1 + 0) / 4, Regression.Mse(y, p), 12);
        Assert.Equal((0.5 + 0 + 1 + 0) / 4, Regression.Mae(y, p), 12);
        Assert.Equal(1 - 1.25 / 5.0, Regression.R2(y, p), 12);
        Assert.Equal(1, Regression.R2(y, y), 12);
        Assert.Throws<ArgumentException>(() => Regression.Mse(y, p[..3]));
    }
}
