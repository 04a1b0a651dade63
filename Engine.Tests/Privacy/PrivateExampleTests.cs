namespace Engine.Tests.Privacy;

/// <summary>The <c>private</c> example end to end on a small MNIST subset: its table and plot.</summary>
public sealed class PrivateExampleTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-private-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void ItWritesAccuracyAgainstEpsilonAsATableAndAPlot()
    {
        string data = BundledMnist.WriteSubset(folder, 512, 128), plots = Path.Combine(folder, "plots");
        string output = ExamplesProcess.Run("private", "--data", data, "--out", plots, "--epsilons", "2,inf", "--epochs", "2",
            "--batch-size", "64", "--delta", "1e-3");
        Assert.Contains("ε = 2: test accuracy", output);
        Assert.Contains("ε = ∞ (no DP): test accuracy", output);
        var table = File.ReadAllLines(Path.Combine(plots, "private-mnist.md"));
        var row = Assert.Single(table, l => l.StartsWith("| 2 |"));
        double spent = double.Parse(row.Split('|')[3], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(spent, 1.98, 2.0); // σ was chosen to spend at most ε = 2 within 0.01
        Assert.Single(table, l => l.StartsWith("| ∞ (no DP) |"));
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(plots, "private-mnist.svg")));
    }
}
