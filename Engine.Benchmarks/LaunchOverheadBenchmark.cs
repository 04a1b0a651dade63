using BenchmarkDotNet.Attributes;
using Engine.Kernels;

namespace Engine.Benchmarks;

/// <summary>
/// Launch overhead on a tiny tensor (one element): <see cref="Launches"/> back-to-back fill kernels and one
/// synchronize. With 1 launch the time is launch + synchronize; with 100 the µs/launch column approaches the
/// asynchronous launch cost that bounds small batches and the per-sample online step.
/// </summary>
public class LaunchOverheadBenchmark : DeviceBenchmark
{
    private Tensor x = null!;

    [Params(1, 100)]
    public int Launches { get; set; }

    protected override void Setup()
    {
        x = Tensor.Zeros(Device, new[] { 1 });
        Run();
    }

    [Benchmark]
    public void Run()
    {
        var k = Device.Kernels;
        for (int i = 0; i < Launches; i++) k.Fill(x.Elements, i);
        Sync();
    }

    protected override void Cleanup() => x.Dispose();
}
