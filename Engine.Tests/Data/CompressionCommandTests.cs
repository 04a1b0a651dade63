using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Engine.Tests.Data;

/// <summary>The <c>prune</c> and <c>distill</c> commands of the Examples app, run small, as a user would.</summary>
public sealed class CompressionCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-compress-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Prune_tabulates_sparsity_against_accuracy_and_remove_changes_nothing()
    {
        string output = ExamplesProcess.Run("prune", "--rounds", "2", "--fraction", "0.5", "--epochs", "1", "--out", folder,
            "--data", BundledMnist.WriteSubset(folder, 640, 64));
        Assert.Contains("50.0 %", output);
        Assert.Contains("75.0 %", output);
        var removed = Regex.Match(output, @"after Prune\.Remove: ([\d.]+ %) \(with the masks: ([\d.]+ %)\)");
        Assert.True(removed.Success, output);
        Assert.Equal(removed.Groups[2].Value, removed.Groups[1].Value);
        string markdown = File.ReadAllText(Path.Combine(folder, "prune.md"));
        Assert.Contains("| 2 | 75.0 % |", markdown);
        var svg = XDocument.Load(Path.Combine(folder, "prune.svg"));
        Assert.Equal(3, svg.Descendants().Count(e => e.Name.LocalName == "polyline"));
    }

    [Fact]
    public void Distill_compares_the_student_with_and_without_the_teacher()
    {
        string output = ExamplesProcess.Run("distill", "--teacher-epochs", "1", "--epochs", "1", "--seeds", "1", "--hidden", "16",
            "--out", folder, "--data", BundledMnist.WriteSubset(folder, 640, 64));
        Assert.Contains("teacher: LeNet-5", output);
        Assert.Contains("labels only", output);
        Assert.Contains("distilled", output);
        Assert.Matches(@"distillation: [+-]\d+\.\d\d points", output);
        string markdown = File.ReadAllText(Path.Combine(folder, "distill.md"));
        Assert.Contains("| student: 784→16→10 MLP, distilled | 12,730 |", markdown);
    }

    [Fact]
    public void Bad_options_are_one_line_and_exit_code_2()
    {
        var (exit, _, stderr) = ExamplesProcess.RunAsGiven("prune", "--fraction", "1.5", "--device", "cpu");
        Assert.Equal(2, exit);
        Assert.Contains("--fraction must be in (0, 1), got 1.5", stderr);
        (exit, _, stderr) = ExamplesProcess.RunAsGiven("distill", "--temperature", "0", "--device", "cpu");
        Assert.Equal(2, exit);
        Assert.Contains("--temperature must be positive and finite, got 0", stderr);
        (exit, _, stderr) = ExamplesProcess.RunAsGiven("distill", "--alpha", "1.5", "--device", "cpu");
        Assert.Equal(2, exit);
        Assert.Contains("--alpha must be in [0, 1], got 1.5", stderr);
    }
}
