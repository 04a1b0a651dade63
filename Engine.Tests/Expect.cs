namespace Engine.Tests;

/// <summary>Assertions with the tolerance |a − r| ≤ atol + rtol·|r|, reporting the first offending index.</summary>
public static class Expect
{
    public static void Close(IReadOnlyList<double> expected, IReadOnlyList<float> actual, double atol, double rtol,
        string what = "")
    {
        Assert.True(expected.Count == actual.Count,
            $"{what}: expected {expected.Count} values, got {actual.Count}");
        for (int i = 0; i < expected.Count; i++)
        {
            double r = expected[i], a = actual[i];
            bool ok = a == r || Math.Abs(a - r) <= atol + rtol * Math.Abs(r) || (double.IsNaN(r) && double.IsNaN(a));
            Assert.True(ok, $"{what}: index {i}: expected {r:G9}, got {a:G9} (atol {atol}, rtol {rtol})");
        }
    }

    public static void Close(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double atol, double rtol,
        string what = "") => Close(expected.Select(v => (double)v).ToArray(), actual, atol, rtol, what);
}
