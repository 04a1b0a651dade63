namespace Engine.Tests;

/// <summary>
/// Row-wise softmax, log-softmax, layer norm and a binary op over tensors large enough (1,100 × 4,096 = 4.5 M floats)
/// that the SIMD backend cuts the work into a band per worker and streams the result past the caches: the same values as
/// the double reference, on every backend.
/// </summary>
public sealed class LargeTensorTests
{
    private const int Rows = 1100, Cols = 4096;

    [Fact]
    public void Softmax_and_log_softmax_of_many_long_rows_match_the_reference()
    {
        var x = Reference.RandomValues(11, Rows * Cols, -6, 6);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(TestDevice.Instance, x, new[] { Rows, Cols });
        var xd = Reference.ToDouble(x);
        Expect.Close(Reference.Softmax(xd, Rows, Cols, log: false), t.Softmax().ToArray(), 1e-6, 1e-5, "softmax");
        Expect.Close(Reference.Softmax(xd, Rows, Cols, log: true), t.LogSoftmax().ToArray(), 1e-5, 1e-5, "log_softmax");
    }

    [Fact]
    public void Layer_norm_of_many_long_rows_matches_the_reference()
    {
        var x = Reference.RandomValues(12, Rows * Cols, -4, 4);
        var gamma = Reference.RandomValues(13, Cols);
        var beta = Reference.RandomValues(14, Cols);
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var y = Tensor.LayerNorm(Tensor.FromArray(dev, x, new[] { Rows, Cols }), new[] { Cols },
            Tensor.FromArray(dev, gamma, new[] { Cols }), Tensor.FromArray(dev, beta, new[] { Cols })).ToArray();
        var expected = new double[x.Length];
        for (int r = 0; r < Rows; r++)
        {
            double mean = 0, variance = 0;
            for (int c = 0; c < Cols; c++) mean += x[r * Cols + c];
            mean /= Cols;
            for (int c = 0; c < Cols; c++) variance += (x[r * Cols + c] - mean) * (x[r * Cols + c] - mean);
            double inv = 1 / Math.Sqrt(variance / Cols + 1e-5);
            for (int c = 0; c < Cols; c++) expected[r * Cols + c] = (x[r * Cols + c] - mean) * inv * gamma[c] + beta[c];
        }
        Expect.Close(expected, y, 1e-5, 1e-5, "layer_norm");
    }

    [Fact]
    public void A_binary_op_with_a_large_result_matches_the_reference_and_leaves_its_operands()
    {
        var a = Reference.RandomValues(15, Rows * Cols);
        var b = Reference.RandomValues(16, Rows * Cols);
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var ta = Tensor.FromArray(dev, a, new[] { Rows, Cols });
        var tb = Tensor.FromArray(dev, b, new[] { Rows, Cols });
        var product = (ta * tb - ta).ToArray();
        Expect.Close(a.Select((v, i) => (double)v * b[i] - v).ToArray(), product, 1e-6, 1e-6, "a·b − a");
        Assert.Equal(a, ta.ToArray());
        Assert.Equal(b, tb.ToArray());
    }
}
