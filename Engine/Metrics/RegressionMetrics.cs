namespace Engine.Metrics;

/// <summary>Regression figures on host arrays, in double precision.</summary>
public static class Regression
{
    /// <summary>Mean squared error: (1/n) Σ (ŷ − y)².</summary>
    public static double Mse(IReadOnlyList<float> actual, IReadOnlyList<float> predicted) =>
        Mean(actual, predicted, (y, p) => (p - y) * (p - y));

    /// <summary>Mean absolute error: (1/n) Σ |ŷ − y|.</summary>
    public static double Mae(IReadOnlyList<float> actual, IReadOnlyList<float> predicted) =>
        Mean(actual, predicted, (y, p) => Math.Abs(p - y));

    /// <summary>Coefficient of determination: 1 − Σ(y − ŷ)² / Σ(y − ȳ)² (1 for a perfect fit; NaN if y is constant).</summary>
    public static double R2(IReadOnlyList<float> actual, IReadOnlyList<float> predicted)
    {
        Check(actual, predicted, "r2");
        double mean = actual.Average(v => (double)v);
        double residual = 0, total = 0;
        for (int i = 0; i < actual.Count; i++)
        {
            residual += Math.Pow(actual[i] - (double)predicted[i], 2);
            total += Math.Pow(actual[i] - mean, 2);
        }
        return total == 0 ? double.NaN : 1 - residual / total;
    }

    private static double Mean(IReadOnlyList<float> actual, IReadOnlyList<float> predicted,
        Func<double, double, double> term)
    {
        Check(actual, predicted, "regression metric");
        double s = 0;
        for (int i = 0; i < actual.Count; i++) s += term(actual[i], predicted[i]);
        return s / actual.Count;
    }

    private static void Check(IReadOnlyList<float> actual, IReadOnlyList<float> predicted, string what)
    {
        if (actual.Count != predicted.Count)
            throw new ArgumentException($"{what}: {actual.Count} targets but {predicted.Count} predictions.");
        if (actual.Count == 0) throw new ArgumentException($"{what}: no values.");
    }
}
