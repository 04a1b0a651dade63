namespace Engine.Tests;

/// <summary>Plain double-precision references for the kernels: simplest loops, same math.</summary>
public static class Reference
{
    public static double Sigmoid(double x) => 1.0 / (1.0 + Math.Exp(-x));

    public static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    /// <summary>erf in double: the Taylor series up to |x| = 3, the asymptotic erfc continued fraction beyond.</summary>
    public static double Erf(double x)
    {
        double a = Math.Abs(x);
        if (a <= 3)
        {
            double sum = 0, term = a;
            for (int n = 0; n < 60; n++)
            {
                sum += term / (2 * n + 1);
                term *= -a * a / (n + 1);
            }
            return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * sum;
        }
        double f = 0;
        for (int k = 60; k >= 1; k--) f = k / 2.0 / (a + f);
        double erfc = Math.Exp(-a * a) / Math.Sqrt(Math.PI) / (a + f);
        return Math.Sign(x) * (1 - erfc);
    }

    /// <summary>GELU's exact form, x·Φ(x).</summary>
    public static double GeluExact(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>GELU's tanh form.</summary>
    public static double Gelu(double x) =>
        0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    /// <summary>C[m, n] = A[m, k]·B[k, n], row-major.</summary>
    public static double[] MatMul(double[] a, double[] b, int m, int k, int n)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
            c[i * n + j] = s;
        }
        return c;
    }

    /// <summary>Softmax (or log-softmax) of each row of [rows, cols].</summary>
    public static double[] Softmax(double[] x, int rows, int cols, bool log)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < cols; c++) max = Math.Max(max, x[r * cols + c]);
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += Math.Exp(x[r * cols + c] - max);
            for (int c = 0; c < cols; c++)
                y[r * cols + c] = log ? x[r * cols + c] - max - Math.Log(sum) : Math.Exp(x[r * cols + c] - max) / sum;
        }
        return y;
    }

    /// <summary>Mean over rows of −log softmax(x[r])[label[r]].</summary>
    public static double CrossEntropy(double[] logits, int[] labels, int classes, bool mean = true)
    {
        var logp = Softmax(logits, labels.Length, classes, log: true);
        double s = 0;
        for (int r = 0; r < labels.Length; r++) s -= logp[r * classes + labels[r]];
        return mean ? s / labels.Length : s;
    }

    /// <summary>
    /// Central-difference gradient of the scalar function f at x: (f(x + h eᵢ) − f(x − h eᵢ)) / 2h, in double.
    /// </summary>
    public static double[] NumericGradient(Func<double[], double> f, double[] x, double h = 1e-6)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double keep = x[i];
            x[i] = keep + h;
            double up = f(x);
            x[i] = keep - h;
            double down = f(x);
            x[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    public static float[] RandomValues(int seed, int count, double low = -3, double high = 3)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(low + (high - low) * rng.NextDouble())).ToArray();
    }

    public static double[] ToDouble(float[] x) => x.Select(v => (double)v).ToArray();
}
