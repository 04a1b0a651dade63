using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Engine.Benchmarks;

/// <summary>
/// A rate column from a property of the benchmark class evaluated for the case's parameters: GFLOP/s from
/// <c>Flop</c> (floating-point operations per invocation), GB/s from <c>Bytes</c> (bytes actually read plus
/// written per invocation), samples/s from <c>Samples</c>, µs/launch from <c>Launches</c>. "-" where the class has
/// no such property.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    private readonly string property;
    private readonly Func<double, double, double> rate;

    private ThroughputColumn(string name, string property, string legend, Func<double, double, double> rate)
    {
        ColumnName = name;
        this.property = property;
        Legend = legend;
        this.rate = rate;
    }

    /// <summary>FLOP per ns = GFLOP/s.</summary>
    public static readonly ThroughputColumn Gflops = new("GFLOP/s", "Flop", "Billions of floating-point operations per second", (v, ns) => v / ns);

    /// <summary>bytes per ns = GB/s.</summary>
    public static readonly ThroughputColumn Gbps = new("GB/s", "Bytes", "Gigabytes read + written per second", (v, ns) => v / ns);

    public static readonly ThroughputColumn SamplesPerSecond = new("samples/s", "Samples", "Training samples per second", (v, ns) => v / ns * 1e9);

    public static readonly ThroughputColumn MicrosecondsPerLaunch = new("µs/launch", "Launches", "Mean time per kernel launch", (v, ns) => ns / 1e3 / v);

    public string Id => ColumnName;
    public string ColumnName { get; }
    public string Legend { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public bool IsAvailable(Summary summary) =>
        summary.BenchmarksCases.Any(c => c.Descriptor.Type.GetProperty(property) != null);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var type = benchmarkCase.Descriptor.Type;
        var info = type.GetProperty(property);
        if (report?.ResultStatistics == null || info == null) return "-";
        var instance = Activator.CreateInstance(type)!;
        foreach (var parameter in benchmarkCase.Parameters.Items)
            type.GetProperty(parameter.Name)?.SetValue(instance, parameter.Value);
        double value = Convert.ToDouble(info.GetValue(instance));
        return value <= 0 ? "-" : rate(value, report.ResultStatistics.Mean).ToString("G4");
    }
}
