using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace Engine.Benchmarks;

/// <summary>
/// The suite's configuration: rate columns (GFLOP/s, GB/s, samples/s, µs/launch) beside the time. With
/// <c>--quick</c> (what CI runs) every benchmark runs once, briefly, in-process, on its smallest size, so the
/// suite cannot rot.
/// </summary>
public class EngineConfig : ManualConfig
{
    public static bool Quick { get; set; }

    public EngineConfig()
    {
        AddColumn(ThroughputColumn.Gflops, ThroughputColumn.Gbps, ThroughputColumn.SamplesPerSecond,
            ThroughputColumn.MicrosecondsPerLaunch);
        if (Quick)
            AddJob(Job.Dry.WithToolchain(BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain.Instance)
                .WithId("quick"));
    }
}
