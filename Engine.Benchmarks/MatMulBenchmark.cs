using BenchmarkDotNet.Attributes;
using Engine;

namespace Engine.Benchmarks;

/// <summary>
/// The tiled matmul kernel, C[n, n] = A·B, on the device <c>ENGINE_DEVICE</c> picks. Each invocation launches
/// and then synchronizes, so the time is the kernel's, not the queueing's. 2n³ FLOP per product.
/// </summary>
[Config(typeof(EngineConfig))]
public class MatMulBenchmark
{
    private Device device = null!;
    private Tensor a = null!;
    private Tensor b = null!;

    [Params(64, 256)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        device = Device.Create();
        a = Tensor.RandN(device, new[] { N, N }, seed: 1);
        b = Tensor.RandN(device, new[] { N, N }, seed: 2);
        using (Autograd.NoGrad()) a.MatMul(b).Dispose(); // compile outside the measurement
        device.Synchronize();
    }

    [Benchmark]
    public void MatMul()
    {
        using (Autograd.NoGrad()) a.MatMul(b).Dispose();
        device.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        a.Dispose();
        b.Dispose();
        device.Dispose();
    }

    /// <summary>FLOP of one product, for GFLOP/s = Flop / time.</summary>
    public double Flop => 2.0 * N * N * N;
}
