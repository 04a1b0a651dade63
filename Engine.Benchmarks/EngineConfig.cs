using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Engine.Benchmarks;

/// <summary>
/// The suite's configuration: a GFLOP/s column beside the time for benchmarks that expose <c>Flop</c>. With
/// <c>--quick</c> (what CI runs) every benchmark runs once, briefly, in-process, so the suite cannot rot.
/// </summary>
public class EngineConfig : ManualConfig
{
    public static bool Quick { get; set; }

    public EngineConfig()
    {
        AddColumn(new GflopsColumn());
        if (Quick)
            AddJob(Job.Dry.WithToolchain(BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain.Instance)
                .WithId("quick"));
    }

    private sealed class GflopsColumn : IColumn
    {
        public string Id => "GFLOP/s";
        public string ColumnName => "GFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Billions of floating-point operations per second (2n³ per matmul)";

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
            GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            var flopProperty = benchmarkCase.Descriptor.Type.GetProperty("Flop");
            if (report?.ResultStatistics == null || flopProperty == null) return "-";
            var instance = Activator.CreateInstance(benchmarkCase.Descriptor.Type)!;
            foreach (var parameter in benchmarkCase.Parameters.Items)
                benchmarkCase.Descriptor.Type.GetProperty(parameter.Name)?.SetValue(instance, parameter.Value);
            double flop = (double)flopProperty.GetValue(instance)!;
            return (flop / report.ResultStatistics.Mean).ToString("F2"); // FLOP per ns = GFLOP/s
        }
    }
}
