using BenchmarkDotNet.Attributes;

namespace Engine.Benchmarks;

/// <summary>
/// Reductions: the deterministic one-group sum of every element, and the row sum of an [n/256, 256] matrix
/// (axis 1). Bytes: every element read once.
/// </summary>
public class ReductionBenchmark : DeviceBenchmark
{
    private Tensor x = null!;

    [ParamsSource(nameof(NValues))]
    public int N { get; set; }

    public static IEnumerable<int> NValues() => Sizes(1 << 12, 1 << 20, 1 << 24);

    [Params("sum", "row-sum")]
    public string Kind { get; set; } = "sum";

    protected override void Setup()
    {
        x = Tensor.RandN(Device, new[] { N / 256, 256 }, seed: 1);
        Run();
    }

    [Benchmark]
    public void Run()
    {
        using (Autograd.NoGrad())
        using (var s = Kind == "sum" ? x.Sum() : x.Sum(1))
        {
        }
        Sync();
    }

    protected override void Cleanup() => x.Dispose();

    public double Bytes => 4.0 * N;
}
