using BenchmarkDotNet.Attributes;

namespace Engine.Benchmarks;

/// <summary>
/// The named workloads (see <see cref="Workload"/>) under BenchmarkDotNet: one step per invocation, synchronized.
/// The samples/s column applies to the MLPs; sgemm's and adam-step's rates are in the compare table.
/// </summary>
public class TrainingBenchmark : DeviceBenchmark
{
    private Workload workload = null!;

    [ParamsSource(nameof(WorkloadNames))]
    public string Workload { get; set; } = "mlp-s/b64";

    public static IEnumerable<string> WorkloadNames() =>
        EngineConfig.Quick ? new[] { "mlp-s/b1", "mlp-s/b64" } : Benchmarks.Workload.Names(gpu: false).Where(n => n.StartsWith("mlp"));

    protected override void Setup()
    {
        workload = Benchmarks.Workload.Create(Workload, Device, gpu: DeviceKind != "cpu", quick: EngineConfig.Quick);
        Step();
    }

    [Benchmark]
    public void Step()
    {
        workload.Step();
        Sync();
    }

    protected override void Cleanup() => workload.Dispose();

    public double Samples => Benchmarks.Workload.MlpSpec(Workload, EngineConfig.Quick)?.Batch ?? 0;
}
