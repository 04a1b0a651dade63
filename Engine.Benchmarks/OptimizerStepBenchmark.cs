using BenchmarkDotNet.Attributes;
using Engine.Optim;

namespace Engine.Benchmarks;

/// <summary>
/// One optimizer step over one flat parameter of N floats: every rule's fused update kernel(s). GB/s counts the
/// bytes the rule must move per parameter (θ read + written, g read, each state buffer read + written, e.g. 28
/// for Adam); LAMB's extra norm passes are not counted, so its GB/s is a lower bound.
/// </summary>
public class OptimizerStepBenchmark : DeviceBenchmark
{
    private Tensor parameter = null!;
    private Optimizer optimizer = null!;

    [ParamsSource(nameof(NValues))]
    public int N { get; set; }

    public static IEnumerable<int> NValues() => Sizes(1 << 12, 1 << 22);

    [Params("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam", "lion", "lamb",
        "adaptive-sgd")]
    public string Optimizer { get; set; } = "adam";

    public static Optimizer Create(string name, IEnumerable<Tensor> ps) => name switch
    {
        "sgd" => new Sgd(ps, lr: 0.01f, momentum: 0.9f),
        "adagrad" => new AdaGrad(ps),
        "rmsprop" => new RmsProp(ps),
        "adadelta" => new Adadelta(ps),
        "adam" => new Adam(ps),
        "adamw" => new AdamW(ps),
        "adamax" => new Adamax(ps),
        "nadam" => new NAdam(ps),
        "radam" => new RAdam(ps),
        "lion" => new Lion(ps),
        "lamb" => new Lamb(ps),
        "adaptive-sgd" => new AdaptiveSgd(ps, lr: 0.01f),
        _ => throw new ArgumentException($"unknown optimizer {name}"),
    };

    protected override void Setup()
    {
        parameter = Tensor.RandN(Device, new[] { N }, seed: 1, requiresGrad: true);
        optimizer = Create(Optimizer, new[] { parameter });
        using (Autograd.NoGrad()) parameter.Grad!.FillInPlace(1e-3f);
        Step();
    }

    [Benchmark]
    public void Step()
    {
        optimizer.Step();
        Sync();
    }

    protected override void Cleanup()
    {
        optimizer.Dispose();
        parameter.Dispose();
    }

    public double Bytes => N * Optimizer switch
    {
        "adadelta" or "adam" or "adamw" or "adamax" or "nadam" or "radam" or "lamb" => 28.0,
        _ => 20.0, // one state buffer; AdaptiveSgd: a norm pass (θ, g) and an update (θ r/w, g)
    };
}
