using System.Xml.Linq;
using Engine.Data;
using Examples;

namespace Engine.Tests.Data;

/// <summary>The Examples app as a user meets it: errors, options that do what they say, output that reads well in a file.</summary>
public sealed class ExamplesCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData("bogus", "Unknown device kind 'bogus'")]
    [InlineData("cuda", "not present")]
    public void A_configuration_error_is_one_line_and_exit_code_2(string device, string expected)
    {
        if (device == "cuda" && Device.Available().Contains("cuda")) return; // a machine with CUDA has nothing to report
        var (exit, stdout, stderr) = ExamplesProcess.RunAsGiven("spiral", "--epochs", "1", "--device", device);
        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", stderr + stdout);
    }

    [Fact]
    public void Mnist_out_writes_its_plot_and_the_table_is_full_width_in_a_file()
    {
        string data = BundledMnist.WriteSubset(folder, 128, 32), plots = Path.Combine(folder, "plots");
        ExamplesProcess.Run("mnist", "--mode", "online", "--data", data, "--out", plots);
        Assert.True(File.Exists(Path.Combine(plots, "mnist-online.svg")));

        string table = ExamplesProcess.Run("--data", data, "--out", plots);
        string device = TestDevice.Instance.ToString();
        Assert.Contains(table.Split('\n'), line => line.Contains("│ batch") && line.Contains(device));
    }

    [Fact]
    public void Every_soak_option_is_described()
    {
        var (exit, stdout, _) = ExamplesProcess.RunAsGiven("soak", "--help");
        Assert.Equal(0, exit);
        foreach (var option in new[] { "--steps", "--report-every", "--checkpoint", "--save-every", "--resume" })
        {
            var line = stdout.Split('\n').First(l => l.TrimStart().StartsWith(option));
            Assert.True(line.Trim().Length > option.Length + 12, $"'{line.Trim()}' has no description");
        }
    }

    [Fact]
    public void The_drift_example_shows_its_reaction_and_plots_the_dip()
    {
        string output = ExamplesProcess.Run("drift", "--out", folder);
        Assert.Contains("reaction ResetOptimizerState", output);
        Assert.Contains("sample  3100", output); // reported every 100 samples around the change
        var svg = XDocument.Load(Path.Combine(folder, "drift.svg"));
        Assert.Contains(svg.Descendants(), e => e.Name.LocalName == "text" && e.Value.StartsWith("concept changes"));
    }

    [Fact]
    public void Plots_have_ticks_on_both_axes_and_the_legend_below_the_data()
    {
        var points = Enumerable.Range(0, 50).Select(i => ((double)i * 100, Math.Sin(i / 5.0))).ToList();
        var svg = XDocument.Parse(SvgPlot.Panels(("loss", "samples seen", new[] { ("a rather long series name (window)", (IReadOnlyList<(double, double)>)points) })));
        var texts = svg.Descendants().Where(e => e.Name.LocalName == "text").ToList();
        var frame = svg.Descendants().First(e => e.Name.LocalName == "rect" && e.Attribute("fill")?.Value == "none");
        double bottom = double.Parse(frame.Attribute("y")!.Value) + double.Parse(frame.Attribute("height")!.Value);
        var legend = texts.Single(t => t.Value == "a rather long series name (window)");
        Assert.True(double.Parse(legend.Attribute("y")!.Value) > bottom, "the legend must sit below the plot area");
        Assert.Contains(texts, t => t.Value == "2k");   // x ticks
        Assert.Contains(texts, t => t.Value == "0.5");  // y ticks, 0.5 apart
        Assert.Equal(new[] { 0, 1000, 2000, 3000, 4000 }, SvgPlot.Ticks(0, 4900).Select(v => (int)v));
    }

    /// <summary>The soak's heap check fails on growth past its tolerance and not on the ups and downs below it.</summary>
    [Fact]
    public void The_soak_heap_check_fails_when_the_live_heap_grows()
    {
        var watch = new HeapWatch(tolerance: 1_000_000);
        foreach (long bytes in new long[] { 700_000, 900_000, 650_000, 1_650_000 }) watch.Record(bytes);
        Assert.Null(watch.Failure);
        watch.Record(1_800_000);
        Assert.Contains("grew from 0.70 MB to 1.80 MB", watch.Failure);
        Assert.True(watch.Measure() > 0);
    }

    [Fact]
    public void A_soak_keeps_device_memory_and_the_live_heap_flat()
    {
        string output = ExamplesProcess.Run("soak", "--steps", "8000", "--report-every", "2000");
        Assert.Contains("live heap", output);
        Assert.DoesNotContain("FAIL", output);
    }
}
