using BenchmarkDotNet.Attributes;

namespace Engine.Benchmarks;

/// <summary>
/// Softmax cross-entropy over [rows, classes] logits with integer labels, forward and backward: the fused
/// per-row loss kernel, the mean, and the gradient (softmax − one-hot)/rows accumulated into the logits' gradient.
/// Bytes: logits read by forward and by backward, the gradient read and written (16 per element; the int labels
/// are uploaded each call, as the loss's <c>int[]</c> overload does).
/// </summary>
public class SoftmaxCrossEntropyBenchmark : DeviceBenchmark
{
    private Tensor logits = null!;
    private int[] labels = null!;

    [ParamsSource(nameof(RowValues))]
    public int Rows { get; set; }

    public static IEnumerable<int> RowValues() => Sizes(64, 1024, 16384);

    [Params(10, 1000)]
    public int Classes { get; set; }

    protected override void Setup()
    {
        logits = Tensor.RandN(Device, new[] { Rows, Classes }, seed: 1, requiresGrad: true);
        labels = Enumerable.Range(0, Rows).Select(i => i * 7 % Classes).ToArray();
        Run();
    }

    [Benchmark]
    public void Run()
    {
        using (var loss = Loss.CrossEntropy(logits, labels)) loss.Backward();
        Sync();
    }

    protected override void Cleanup() => logits.Dispose();

    public double Bytes => 16.0 * Rows * Classes;
}
