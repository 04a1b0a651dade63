namespace Engine.Tests.Nn;

/// <summary>
/// Multi-head attention and the transformer encoder layer in double precision, in the simplest loops, over batch-first
/// row-major arrays, with the parameters by their PyTorch names: the finite-difference tests' reference.
/// </summary>
internal static class TransformerReference
{
    /// <summary>y[r, o] = Σᵢ x[r, i]·W[o, i] + b[o], with W's rows taken from <paramref name="firstRow"/> on.</summary>
    public static double[] Linear(double[] x, int rows, int inputs, double[] w, double[]? b, int outputs, int firstRow = 0)
    {
        var y = new double[rows * outputs];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outputs; o++)
            {
                double sum = b?[firstRow + o] ?? 0;
                for (int i = 0; i < inputs; i++) sum += x[r * inputs + i] * w[(firstRow + o) * inputs + i];
                y[r * outputs + o] = sum;
            }
        return y;
    }

    /// <summary>(x − mean)/√(biased var + ε)·γ + β over rows of length d.</summary>
    public static double[] LayerNorm(double[] x, int d, double[] gamma, double[] beta, double eps = 1e-5)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / d; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < d; j++) mean += x[r * d + j] / d;
            for (int j = 0; j < d; j++) variance += (x[r * d + j] - mean) * (x[r * d + j] - mean) / d;
            for (int j = 0; j < d; j++)
                y[r * d + j] = (x[r * d + j] - mean) / Math.Sqrt(variance + eps) * gamma[j] + beta[j];
        }
        return y;
    }

    /// <summary>
    /// nn.MultiheadAttention with packed in_proj (batch-first [N, L, E], [N, S, E], [N, S, E]) and an additive mask
    /// [N, H, L, S] (or null): the output [N, L, E] and the weights averaged over the heads [N, L, S].
    /// </summary>
    public static (double[] Output, double[] Weights) Attention(Dictionary<string, double[]> p, string prefix, double[] query,
        double[] key, double[] value, int n, int l, int s, int e, int h, double[]? mask)
    {
        var w = p[prefix + "in_proj_weight"];
        var b = p.GetValueOrDefault(prefix + "in_proj_bias");
        var q = Linear(query, n * l, e, w, b, e, firstRow: 0);
        var k = Linear(key, n * s, e, w, b, e, firstRow: e);
        var v = Linear(value, n * s, e, w, b, e, firstRow: 2 * e);
        int d = e / h;
        var heads = new double[n * l * e];
        var average = new double[n * l * s];
        var scores = new double[s];
        for (int b0 = 0; b0 < n; b0++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < l; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < s; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q[(b0 * l + i) * e + hh * d + c] * k[(b0 * s + j) * e + hh * d + c];
                        scores[j] = dot / Math.Sqrt(d) + (mask?[((b0 * h + hh) * l + i) * s + j] ?? 0);
                        max = Math.Max(max, scores[j]);
                    }
                    double total = 0;
                    for (int j = 0; j < s; j++) total += scores[j] = Math.Exp(scores[j] - max);
                    for (int j = 0; j < s; j++)
                    {
                        double weight = scores[j] / total;
                        average[(b0 * l + i) * s + j] += weight / h;
                        for (int c = 0; c < d; c++) heads[(b0 * l + i) * e + hh * d + c] += weight * v[(b0 * s + j) * e + hh * d + c];
                    }
                }
        var output = Linear(heads, n * l, e, p[prefix + "out_proj.weight"], p.GetValueOrDefault(prefix + "out_proj.bias"), e);
        return (output, average);
    }

    /// <summary>nn.TransformerEncoderLayer (batch-first [N, S, d], dropout 0, no masks), post- or pre-norm.</summary>
    public static double[] EncoderLayer(Dictionary<string, double[]> p, double[] x, int n, int s, int d, int h, int ff,
        bool normFirst, string activation)
    {
        double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();
        double[] Norm(string name, double[] t) => LayerNorm(t, d, p[name + ".weight"], p[name + ".bias"]);
        double[] SelfAttention(double[] t) => Attention(p, "self_attn.", t, t, t, n, s, s, d, h, null).Output;
        double[] FeedForward(double[] t)
        {
            var hidden = Linear(t, n * s, d, p["linear1.weight"], p["linear1.bias"], ff)
                .Select(v => activation == "gelu" ? Reference.GeluExact(v) : Math.Max(v, 0)).ToArray();
            return Linear(hidden, n * s, ff, p["linear2.weight"], p["linear2.bias"], d);
        }
        if (normFirst)
        {
            x = Add(x, SelfAttention(Norm("norm1", x)));
            return Add(x, FeedForward(Norm("norm2", x)));
        }
        x = Norm("norm1", Add(x, SelfAttention(x)));
        return Norm("norm2", Add(x, FeedForward(x)));
    }
}
