using Engine.Benchmarks;

namespace Engine.Tests.Benchmarks;

/// <summary>
/// The compare table's arithmetic (<see cref="CompareTable"/>): ratios against PyTorch's better run, per round, then
/// their median; fractions of each round's bandwidth ceiling for memory-bound rows only; an absent PyTorch; medians and
/// ranges over rounds; the markdown and the SVG it writes.
/// </summary>
public class CompareTableTests
{
    private static RowMeasure Row(string name, string unit, double engine, double? torch1, double? torchAll) =>
        new(name, unit, engine, 1.0, torch1, torchAll, 2.0, null);

    [Fact]
    public void The_ratio_is_against_pytorchs_better_run_and_its_median_is_taken_over_rounds()
    {
        var rounds = new[]
        {
            new CompareRound(new[] { Row("mlp", "samples/s", 130, 100, 60) }, 100, 1.0, 1.2),
            new CompareRound(new[] { Row("mlp", "samples/s", 120, 50, 80) }, 100, 1.2, 1.1),
            new CompareRound(new[] { Row("mlp", "samples/s", 90, 90, 30) }, 100, 1.1, 1.0),
        };
        var row = Assert.Single(CompareTable.Summarize(rounds));
        Assert.Equal(120, row.Engine.Median);
        Assert.Equal((90, 130), (row.Engine.Min, row.Engine.Max));
        // per round: 130/100 = 1.3, 120/80 = 1.5, 90/90 = 1.0 → median 1.3 (not the ratio of the medians, 120/90)
        Assert.Equal(1.3, row.Ratio!.Value.Median, 12);
        Assert.Equal((1.0, 1.5), (row.Ratio.Value.Min, row.Ratio.Value.Max));
        Assert.Null(row.CeilingFraction); // not memory-bound
        Assert.False(row.MemoryBound);
    }

    [Fact]
    public void Memory_bound_rows_get_the_fraction_of_each_rounds_ceiling()
    {
        var rounds = new[]
        {
            new CompareRound(new[] { Row("copy", "GB/s", 90, 40, 100) }, 100, null, null),
            new CompareRound(new[] { Row("copy", "GB/s", 80, 40, 80) }, 80, null, null),
        };
        var row = Assert.Single(CompareTable.Summarize(rounds));
        Assert.True(row.MemoryBound);
        Assert.Equal(0.95, row.CeilingFraction!.Value.Median, 12); // (0.9 + 1.0) / 2: an even count takes the mean of the middle two
        Assert.Equal((0.9, 1.0), (row.CeilingFraction.Value.Min, row.CeilingFraction.Value.Max));
        Assert.Equal(0.95, row.Ratio!.Value.Median, 12);
    }

    [Fact]
    public void Without_pytorch_the_row_has_engine_figures_only_and_the_table_says_so()
    {
        var rounds = new[] { new CompareRound(new[] { Row("sgemm", "GFLOP/s", 400, null, null) }, null, 0.5, 0.7) };
        var row = Assert.Single(CompareTable.Summarize(rounds));
        Assert.Null(row.Torch);
        Assert.Null(row.Ratio);
        string table = CompareTable.Markdown(CompareTable.Summarize(rounds), rounds, "machine", twoTorchRuns: true, ilgpu: false);
        Assert.Contains("| sgemm | GFLOP/s | 400 | – | – | – | – |", table);
        Assert.Contains("Load average before→after each round: 0.50→0.70", table);
        Assert.DoesNotContain("Bandwidth ceiling", table); // none measured
        var svg = CompareTable.Svg(CompareTable.Summarize(rounds), "t");
        Assert.DoesNotContain("sgemm", svg); // no ratio, no bar
    }

    [Fact]
    public void The_markdown_and_the_svg_show_medians_ranges_and_the_one_x_line()
    {
        var rounds = new[]
        {
            new CompareRound(new[] { Row("copy", "GB/s", 90, 40, 100), Row("mlp", "samples/s", 300, 100, 50) }, 100, 1, 1),
            new CompareRound(new[] { Row("copy", "GB/s", 110, 40, 100), Row("mlp", "samples/s", 200, 100, 50) }, 100, 1, 1),
        };
        var rows = CompareTable.Summarize(rounds);
        string table = CompareTable.Markdown(rows, rounds, "machine", twoTorchRuns: true, ilgpu: false);
        Assert.Contains("Bandwidth ceiling (STREAM on the engine's buffers, past the caches): 100 GB/s.", table);
        Assert.Contains("| copy | GB/s | 100 | 40.00 | 100 | 1.000× (0.90–1.10×) | 1.00 (0.90–1.10) |", table);
        Assert.Contains("| mlp | samples/s | 250 | 100 | 50.00 | 2.500× (2.00–3.00×) | – |", table);
        var svg = CompareTable.Svg(rows, "engine ÷ PyTorch <test>");
        Assert.StartsWith("<svg", svg);
        Assert.Contains("&lt;test&gt;", svg);
        Assert.Contains(">1×</text>", svg);
        Assert.Contains("1.00×, 1.00 of ceiling", svg);
        Assert.Contains("2.50×", svg);
        System.Xml.Linq.XDocument.Parse(svg); // well-formed
    }
}
