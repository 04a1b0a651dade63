using BenchmarkDotNet.Attributes;
using Engine.Kernels;

namespace Engine.Benchmarks;

/// <summary>
/// Element-wise activations, forward y = f(x) (reads x, writes y: 8 bytes per element) and backward
/// dx += f′(x)·dy (reads x, y, dy and dx, writes dx: 20 bytes per element). Memory-bound: see the GB/s column.
/// </summary>
public class ElementwiseBenchmark : DeviceBenchmark
{
    private Tensor x = null!, y = null!, dy = null!, dx = null!;

    [ParamsSource(nameof(NValues))]
    public int N { get; set; }

    public static IEnumerable<int> NValues() => Sizes(1 << 12, 1 << 20, 1 << 24);

    [Params("relu", "gelu", "tanh")]
    public string Op { get; set; } = "relu";

    [Params("forward", "backward")]
    public string Pass { get; set; } = "forward";

    protected override void Setup()
    {
        x = Tensor.RandN(Device, new[] { N }, seed: 1);
        y = Tensor.Zeros(Device, new[] { N });
        dy = Tensor.RandN(Device, new[] { N }, seed: 2);
        dx = Tensor.Zeros(Device, new[] { N });
        Run();
    }

    [Benchmark]
    public void Run()
    {
        var k = Device.Kernels;
        bool forward = Pass == "forward";
        switch (Op)
        {
            case "gelu":
                if (forward) k.Unary<GeluOp>(x.Elements, y.Elements); else k.UnaryGrad<GeluOp>(x.Elements, y.Elements, dy.Elements, dx.Elements);
                break;
            case "tanh":
                if (forward) k.Unary<TanhOp>(x.Elements, y.Elements); else k.UnaryGrad<TanhOp>(x.Elements, y.Elements, dy.Elements, dx.Elements);
                break;
            default:
                if (forward) k.Unary<ReluOp>(x.Elements, y.Elements); else k.UnaryGrad<ReluOp>(x.Elements, y.Elements, dy.Elements, dx.Elements);
                break;
        }
        Sync();
    }

    protected override void Cleanup()
    {
        foreach (var t in new[] { x, y, dy, dx }) t.Dispose();
    }

    public double Bytes => (Pass == "forward" ? 8.0 : 20.0) * N;
}
