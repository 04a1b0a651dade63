using BenchmarkDotNet.Attributes;
using Engine.Kernels;

namespace Engine.Benchmarks;

/// <summary>
/// The convolution kernels at a ResNet-like layer (batch B, 64 → 64 channels, 3×3, padding 1, S×S images) and at
/// LeNet-5's second layer (B×6×14×14 → 16, 5×5): forward, input gradient and weight gradient, each
/// 2·B·OC·OH·OW·C·KH·KW FLOP.
/// </summary>
public class ConvolutionBenchmark : DeviceBenchmark
{
    private Tensor x = null!, w = null!, y = null!, dx = null!, dw = null!;
    private ConvGeometry g;

    [Params("resnet", "lenet")]
    public string Layer { get; set; } = "resnet";

    [Params("forward", "input-grad", "weight-grad")]
    public string Pass { get; set; } = "forward";

    /// <summary>The layer's geometry from the parameters alone (the throughput column reads it on an instance never set up).</summary>
    private ConvGeometry Geometry()
    {
        int b = EngineConfig.Quick ? 4 : 32, s = EngineConfig.Quick ? 14 : 56;
        return Layer == "lenet"
            ? new ConvGeometry(b * 2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1)
            : new ConvGeometry(b, 64, s, s, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    }

    protected override void Setup()
    {
        g = Geometry();
        x = Tensor.RandN(Device, new[] { g.N, g.C, g.H, g.W }, seed: 1);
        w = Tensor.RandN(Device, new[] { g.OC, g.Cg, g.KH, g.KW }, seed: 2);
        y = Tensor.RandN(Device, new[] { g.N, g.OC, g.OH, g.OW }, seed: 3);
        dx = Tensor.Zeros(Device, x.Shape);
        dw = Tensor.Zeros(Device, w.Shape);
        Run();
    }

    [Benchmark]
    public void Run()
    {
        var k = Device.Kernels;
        switch (Pass)
        {
            case "input-grad": k.ConvBackwardInput(y.Elements, w.Elements, dx.Elements, g, accumulate: false); break;
            case "weight-grad": k.ConvBackwardWeight(x.Elements, y.Elements, dw.Elements, g, accumulate: false); break;
            default: k.ConvForward(x.Elements, w.Elements, default, y.Elements, g); break;
        }
        Sync();
    }

    protected override void Cleanup()
    {
        foreach (var t in new[] { x, w, y, dx, dw }) t.Dispose();
    }

    public double Flop
    {
        get
        {
            var geometry = Geometry();
            return 2.0 * geometry.N * geometry.OC * geometry.P * geometry.K;
        }
    }
}

/// <summary>2×2 max and average pooling, forward and backward, over B×64×S×S; bytes = input and output read or written once.</summary>
public class PoolingBenchmark : DeviceBenchmark
{
    private Tensor x = null!, y = null!;
    private ILGPU.Runtime.MemoryBuffer1D<int, ILGPU.Stride1D.Dense> indices = null!;
    private PoolGeometry g;

    [Params("max", "avg")]
    public string Kind { get; set; } = "max";

    [Params("forward", "backward")]
    public string Pass { get; set; } = "forward";

    private static (int Batch, int Size) Shape() => EngineConfig.Quick ? (4, 28) : (32, 56);

    protected override void Setup()
    {
        var (b, s) = Shape();
        g = new PoolGeometry
        {
            Planes = b * 64, H = s, W = s, OH = s / 2, OW = s / 2, KH = 2, KW = 2, SH = 2, SW = 2, DH = 1, DW = 1,
            CountIncludePad = 1,
        };
        x = Tensor.RandN(Device, new[] { b, 64, s, s }, seed: 1);
        y = Tensor.RandN(Device, new[] { b, 64, s / 2, s / 2 }, seed: 2);
        indices = Device.Pool.Rent<int>(y.Numel);
        Device.Kernels.MaxPool(x.Elements, y.Elements, indices.View, g);
        Run();
    }

    [Benchmark]
    public void Run()
    {
        var k = Device.Kernels;
        if (Kind == "max")
        {
            if (Pass == "forward") k.MaxPool(x.Elements, y.Elements, indices.View, g);
            else k.MaxPoolGrad(y.Elements, indices.View, x.Elements, g);
        }
        else
        {
            if (Pass == "forward") k.AvgPool(x.Elements, y.Elements, g);
            else k.AvgPoolGrad(y.Elements, x.Elements, g);
        }
        Sync();
    }

    protected override void Cleanup()
    {
        Device.Pool.Return(indices);
        x.Dispose();
        y.Dispose();
    }

    public double Bytes
    {
        get
        {
            var (b, s) = Shape();
            return 4.0 * b * 64 * (s * s + s / 2 * (s / 2));
        }
    }
}
