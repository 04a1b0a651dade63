using BenchmarkDotNet.Attributes;
using Engine.Kernels;

namespace Engine.Benchmarks;

/// <summary>
/// The matmul kernel, C[n, n] = op(A)·op(B), in the three layouts autodiff uses: A·B (forward), A·Bᵀ and Aᵀ·B
/// (the two backward products, read in place without a transpose copy). 2n³ FLOP per product.
/// </summary>
public class MatMulBenchmark : DeviceBenchmark
{
    private Tensor a = null!, b = null!, c = null!;

    [ParamsSource(nameof(NValues))]
    public int N { get; set; }

    public static IEnumerable<int> NValues() => Sizes(64, 256, 1024);

    [Params("NN", "NT", "TN")]
    public string Layout { get; set; } = "NN";

    protected override void Setup()
    {
        a = Tensor.RandN(Device, new[] { N, N }, seed: 1);
        b = Tensor.RandN(Device, new[] { N, N }, seed: 2);
        c = Tensor.Zeros(Device, new[] { N, N });
        MatMul();
    }

    [Benchmark]
    public void MatMul()
    {
        var k = Device.Kernels;
        switch (Layout)
        {
            case "NT": k.MatMul<AsStored, AsTransposed>(a.Elements, b.Elements, c.Elements, N, N, N, accumulate: false); break;
            case "TN": k.MatMul<AsTransposed, AsStored>(a.Elements, b.Elements, c.Elements, N, N, N, accumulate: false); break;
            default: k.MatMul<AsStored, AsStored>(a.Elements, b.Elements, c.Elements, N, N, N, accumulate: false); break;
        }
        Sync();
    }

    protected override void Cleanup()
    {
        a.Dispose();
        b.Dispose();
        c.Dispose();
    }

    public double Flop => 2.0 * N * N * N;
}
