using System.Xml.Linq;
using Engine.Data;

namespace Engine.Tests.Data;

/// <summary>The <c>gradients</c> and <c>tune</c> commands of the Examples app, run small, as a user would.</summary>
public sealed class DiagnosticCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-diag-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Gradients_prints_per_layer_norms_and_plots_all_four_networks()
    {
        string output = ExamplesProcess.Run("gradients", "--depth", "6", "--width", "32", "--epochs", "1", "--out", folder,
            "--data", BundledMnist.WriteSubset(folder, 640, 64));
        Assert.Contains("Mean gradient norm ‖∂L/∂W‖ of each Linear layer", output);
        Assert.Contains("7 (output)", output);
        var ratios = output.Split('\n').Where(l => l.Contains("default init") || l.Contains("Kaiming"))
            .Where(l => l.Contains('%')).Select(l => double.Parse(l.Split('│')[2].Trim(), System.Globalization.CultureInfo.InvariantCulture))
            .ToArray();
        Assert.Equal(4, ratios.Length);
        Assert.True(ratios[0] < 1e-3 && ratios[1] < 1e-3, "sigmoid: the first layer's gradient vanishes");
        Assert.True(ratios[2] > 0.1 && ratios[3] > 0.1, "ReLU + BatchNorm: it does not");
        var svg = XDocument.Load(Path.Combine(folder, "gradients.svg"));
        Assert.Equal(8, svg.Descendants().Count(e => e.Name.LocalName == "polyline"));
    }

    [Fact]
    public void Tune_ranks_the_grid_retrains_the_winner_and_picks_an_online_rate()
    {
        string output = ExamplesProcess.Run("tune", "--lrs", "0.00001,0.003", "--batch-sizes", "64", "--folds", "2",
            "--epochs", "1", "--online-prefix", "100", "--out", folder, "--data", BundledMnist.WriteSubset(folder, 384, 64));
        Assert.Contains("trial 2: lr=0.003, batch_size=64", output);
        Assert.Contains("winner: lr=0.003, batch_size=64", output);
        Assert.Contains("test accuracy", output);
        Assert.Contains("online winner: lr", output);
        Assert.True(File.Exists(Path.Combine(folder, "tune.svg")));
    }

    [Fact]
    public void A_bad_tune_option_is_one_line_and_exit_code_2()
    {
        var (exit, _, stderr) = ExamplesProcess.RunAsGiven("tune", "--lrs", "0.1,abc", "--device", "cpu");
        Assert.Equal(2, exit);
        Assert.Contains("--lrs has 'abc', which is not a number", stderr);
    }
}
