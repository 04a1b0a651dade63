using Engine.Kernels;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Benchmarks;

/// <summary>
/// The named training workloads compared with PyTorch (<c>compare/torch_workloads.py</c> builds the same ones):
/// MLPs with PyTorch's default Linear initialisation, ReLU, softmax cross-entropy on fixed random data resident
/// on the device, one step = forward, loss, backward, optimizer step, zero-grad; sgemm; a flat Adam step; and the
/// copy kernel (memory-bound, judged against <see cref="BandwidthCeiling"/>). Sizes depend on the device class (CPU
/// or GPU) and shrink in the quick configuration. The batch-1 workload <c>mlp-s/b1</c> is per-sample online training
/// as a user of this engine runs it, <see cref="Training.OnlineTrainer.Learn(Training.Sample)"/>: the sample's copy in, forward, loss and its
/// progressive score (read back), backward and the SGD step (the fused dense step where it applies). <c>mlp-s/b1-loop</c>
/// is the same step written as the plain module loop, with SGD's step fused into backward
/// (<see cref="Optimizer.StepInBackward"/>: each weight is updated by the product that would have written its
/// gradient). Both are compared with PyTorch's plain loop (<see cref="TorchName"/>), which makes the same update with a
/// separate <c>optimizer.step()</c> and scores nothing.
/// </summary>
public sealed partial class Workload : IDisposable
{
    private readonly Action step;
    private readonly Action dispose;

    private Workload(string name, string unit, double workPerStep, Action step, Action dispose)
    {
        Name = name;
        Unit = unit;
        WorkPerStep = workPerStep;
        this.step = step;
        this.dispose = dispose;
    }

    public string Name { get; }

    /// <summary>What the rate counts: "samples/s", "GFLOP/s" or "GB/s".</summary>
    public string Unit { get; }

    /// <summary>Samples, FLOP or bytes per step, for the rate.</summary>
    public double WorkPerStep { get; }

    public void Step() => step();

    public void Dispose() => dispose();

    /// <summary>The workloads for a device class, in table order (mlp-l only on GPUs).</summary>
    public static IEnumerable<string> Names(bool gpu) =>
        new[] { "mlp-s/b1", "mlp-s/b1-loop", "mlp-s/b64", "mlp-s/b1024", "mlp-m" }
            .Concat(gpu ? new[] { "mlp-l" } : Array.Empty<string>())
            .Concat(new[] { "sgemm", "adam-step", "copy", "gelu", "softmax", "layer-norm", "bmm", "bmm-flat", "bmm-t", "bmm-t-flat", "permute", "cat", "gather", "scatter-add" })
            .Concat(new[] { "cnn-lenet", "cnn-mnist", "conv2d", "conv2d-fwdbwd", "maxpool2d" })
            .Concat(new[] { "gpt-baby", "gpt-small", "gpt-small-ckpt", "attention", "generate", "generate-no-cache" });

    /// <summary>An MLP workload's layer widths, batch and optimizer; null for the other workloads.</summary>
    public static (int[] Widths, int Batch, string Optimizer)? MlpSpec(string name, bool quick)
    {
        int q(int full, int small) => quick ? small : full;
        return name switch
        {
            "mlp-s/b1" or "mlp-s/b1-loop" => (new[] { 784, q(256, 32), 10 }, 1, "sgd"),
            "mlp-s/b64" => (new[] { 784, q(256, 32), 10 }, 64, "sgd"),
            "mlp-s/b1024" => (new[] { 784, q(256, 32), 10 }, q(1024, 128), "sgd"),
            "mlp-m" => (new[] { q(1024, 64), q(1024, 64), q(1024, 64), 10 }, q(256, 32), "adam"),
            "mlp-l" => (new[] { q(1024, 64), q(4096, 128), q(4096, 128), q(1024, 64) }, q(1024, 64), "adam"),
            _ => null,
        };
    }

    /// <summary>The workload of <c>compare/torch_workloads.py</c> this one is measured against.</summary>
    public static string TorchName(string name) => name == "mlp-s/b1-loop" ? "mlp-s/b1" : name;

    public static Workload Create(string name, Device device, bool gpu, bool quick)
    {
        if (MlpSpec(name, quick) is { } mlp)
            return name == "mlp-s/b1" ? Online(name, device, mlp.Widths) : Mlp(name, device, mlp.Widths, mlp.Batch, mlp.Optimizer);
        return name switch
        {
            "sgemm" => Sgemm(device, quick ? 64 : gpu ? 4096 : 1024),
            "adam-step" => AdamStep(device, quick ? 1 << 12 : gpu ? 64 << 20 : 4 << 20),
            "copy" => Copy(device, quick ? 1 << 12 : gpu ? 64 << 20 : 16 << 20),
            // Memory-bound row maps over [4096, 4096] (64 MB in, 64 MB out, past the L3), as a user writes them: a fresh
            // output each step. GB/s counts 8 bytes per element (one read, one write).
            "gelu" => TensorOp("gelu", device, quick, "GB/s", new[] { 4096, 4096 }, null, (a, _) => a.Gelu()),
            "softmax" => TensorOp("softmax", device, quick, "GB/s", new[] { 4096, 4096 }, null, (a, _) => a.Softmax(-1)),
            "layer-norm" => LayerNormRow(device, quick),
            // The N-d ops: batched products of the attention shapes (and one GEMM of the same FLOPs), a permute that
            // moves the unit-stride axis, and a cat of 8 tensors along the last axis.
            "bmm" => TensorOp("bmm", device, quick, "GFLOP/s", new[] { 32, 256, 64 }, new[] { 32, 64, 256 }, (a, b) => a.MatMul(b)),
            "bmm-t" => TensorOp("bmm-t", device, quick, "GFLOP/s", new[] { 32, 64, 256 }, new[] { 32, 256, 64 }, (a, b) => a.MatMul(b)),
            "bmm-flat" => TensorOp("bmm-flat", device, quick, "GFLOP/s", new[] { 32 * 256, 64 }, new[] { 64, 256 }, (a, b) => a.MatMul(b)),
            "bmm-t-flat" => TensorOp("bmm-t-flat", device, quick, "GFLOP/s", new[] { 32 * 64, 256 }, new[] { 256, 64 }, (a, b) => a.MatMul(b)),
            "permute" => TensorOp("permute", device, quick, "GB/s", new[] { 64, 128, 256 }, null, (a, _) => a.Permute(0, 2, 1)),
            "cat" => TensorOp("cat", device, quick, "GB/s", new[] { 64, 128, 256 }, null,
                (a, _) => Tensor.Cat(a.Chunk(8, -1), -1)),
            "gather" or "scatter-add" => RowIndexing(name, device, quick ? 512 : 65536, 256),
            "cnn-lenet" or "cnn-mnist" => Cnn(name, device, quick),
            "conv2d" or "conv2d-fwdbwd" or "maxpool2d" => ConvRow(name, device, quick),
            "gpt-baby" or "gpt-small" or "gpt-small-ckpt" => Gpt(name, device, quick),
            "attention" => Attention(device, quick),
            "generate" or "generate-no-cache" => Generate(name, device, quick),
            _ => throw new ArgumentException($"unknown workload '{name}'"),
        };
    }

    /// <summary>Linear layers of the given widths with ReLU between them (PyTorch's default initialisation).</summary>
    private static Sequential Model(Device device, int[] widths)
    {
        var layers = new List<Module>();
        for (int i = 0; i + 1 < widths.Length; i++)
        {
            if (i > 0) layers.Add(new Engine.Nn.Relu());
            layers.Add(new Linear(device, widths[i], widths[i + 1], seed: i + 1));
        }
        return new Sequential(layers.ToArray());
    }

    private static Workload Mlp(string name, Device device, int[] widths, int batch, string optimizerName)
    {
        var model = Model(device, widths);
        Optimizer optimizer = optimizerName == "adam" ? new Adam(model.Parameters(), lr: 1e-3f)
            : new Sgd(model.Parameters(), lr: 0.01f);
        optimizer.StepInBackward = batch == 1;
        var x = Tensor.RandN(device, new[] { batch, widths[0] }, seed: 7);
        int classes = widths[^1];
        var labels = Enumerable.Range(0, batch).Select(i => i * 7 % classes).ToArray();
        return new Workload(name, "samples/s", batch, () =>
        {
            using var scope = new DisposeScope();
            var loss = Loss.CrossEntropy(model.Forward(x), labels);
            loss.Backward();
            optimizer.Step();
            optimizer.ZeroGrad();
        }, () =>
        {
            optimizer.Dispose();
            model.Dispose();
            x.Dispose();
        });
    }

    /// <summary>Per-sample online training through <see cref="Training.OnlineTrainer"/>, one fixed sample per step.</summary>
    private static Workload Online(string name, Device device, int[] widths)
    {
        var model = Model(device, widths);
        var sgd = new Sgd(model.Parameters(), lr: 0.01f);
        var trainer = new Training.OnlineTrainer(model, sgd);
        using var x = Tensor.RandN(device, new[] { widths[0] }, seed: 7);
        var sample = new Training.Sample(x.ToArray(), 0);
        return new Workload(name, "samples/s", 1, () => trainer.Learn(sample), () =>
        {
            trainer.Dispose();
            sgd.Dispose();
            model.Dispose();
        });
    }

    private static Workload Sgemm(Device device, int n)
    {
        var a = Tensor.RandN(device, new[] { n, n }, seed: 1);
        var b = Tensor.RandN(device, new[] { n, n }, seed: 2);
        var c = Tensor.Zeros(device, new[] { n, n });
        return new Workload("sgemm", "GFLOP/s", 2.0 * n * n * n,
            () => device.Kernels.MatMul<AsStored, AsStored>(a.Elements, b.Elements, c.Elements, n, n, n, accumulate: false),
            () =>
            {
                a.Dispose();
                b.Dispose();
                c.Dispose();
            });
    }

    private static Workload AdamStep(Device device, int n)
    {
        var p = Tensor.RandN(device, new[] { n }, seed: 1, requiresGrad: true);
        var adam = new Adam(new[] { p });
        using (Autograd.NoGrad()) p.Grad!.FillInPlace(1e-3f);
        return new Workload("adam-step", "GB/s", 28.0 * n, adam.Step, () =>
        {
            adam.Dispose();
            p.Dispose();
        });
    }

    /// <summary>
    /// A tensor op on random operands of the given shapes (the leading axis divided by 8 when quick), run
    /// without a graph; GFLOP/s counts 2·m·n·k per batch item, GB/s reads plus writes of every element. For
    /// <c>cat</c> the 8 inputs (chunks, which are copies here) are made once outside the timed step.
    /// </summary>
    private static Workload TensorOp(string name, Device device, bool quick, string unit, int[] shapeA, int[]? shapeB,
        Func<Tensor, Tensor?, Tensor> op)
    {
        // Quick: the leading axis (the batch, or a matrix's rows) divided by 8; a 2-D right operand is left as it is.
        int[] Shrink(int[] s, bool right) =>
            quick && (!right || s.Length == 3) ? s.Select((d, i) => i == 0 ? Math.Max(1, d / 8) : d).ToArray() : s;
        shapeA = Shrink(shapeA, right: false);
        var a = Tensor.RandN(device, shapeA, seed: 1);
        var b = shapeB == null ? null : Tensor.RandN(device, Shrink(shapeB, right: true), seed: 2);
        double work = unit == "GB/s" ? 8.0 * a.Numel
            : 2.0 * a.Numel * b!.Shape[^1];
        Func<Tensor> run = () => op(a, b);
        if (name == "cat")
        {
            var pieces = a.Chunk(8, -1);
            run = () => Tensor.Cat(pieces, -1);
        }
        return new Workload(name, unit, work, () =>
        {
            using var scope = new DisposeScope();
            using (Autograd.NoGrad()) run();
        }, () =>
        {
            a.Dispose();
            b?.Dispose();
        });
    }

    /// <summary>
    /// An embedding-style row gather of <paramref name="rows"/> rows of <paramref name="width"/> floats from a table of
    /// 4,096 rows at random int64 indices (<c>IndexSelect</c>), or its scatter-add of as many rows back into the table
    /// (the backward, rows in index order); GB/s counts each moved row read and written once (8 bytes per element).
    /// </summary>
    private static Workload RowIndexing(string name, Device device, int rows, int width)
    {
        var table = Tensor.RandN(device, new[] { 4096, width }, seed: 1);
        var rng = new Random(5);
        var index = Tensor.FromArray(device, Enumerable.Range(0, rows).Select(_ => (long)rng.Next(4096)).ToArray(), new[] { rows });
        var src = Tensor.RandN(device, new[] { rows, width }, seed: 2);
        var zeros = Tensor.Zeros(device, new[] { 4096, width });
        Action step = name == "gather"
            ? () =>
            {
                using var scope = new DisposeScope();
                table.IndexSelect(0, index);
            }
            : () => device.Kernels.Scatter(src.Elements, index.IntElements, zeros.Elements, ScatterPlan(device, rows, width),
                device.IndexChecks.Record, accumulate: true);
        return new Workload(name, "GB/s", 8.0 * rows * width, step, () =>
        {
            table.Dispose();
            index.Dispose();
            src.Dispose();
            zeros.Dispose();
        });
    }

    /// <summary>IndexSelect's backward plan for [rows, width] rows into a [4096, width] table (dim 0).</summary>
    private static IndexPlan ScatterPlan(Device device, int rows, int width) => new()
    {
        Positions = StridedLayout.Create(new[] { rows, width }, new[] { 0, 1 }, 0),
        DimStride = width,
        DimSize = 4096,
        Len = rows,
        Inner = width,
        PerPosition = 0,
        OpId = device.IndexChecks.Id("scatter_add", 0, 4096),
    };

    /// <summary>y = x through the element-wise kernel (8 bytes per element): the memory-bandwidth ceiling.</summary>
    /// <summary><c>layer-norm</c>: LayerNorm over the last axis of [4096, 4096] with a weight and a bias (GB/s as the maps).</summary>
    private static Workload LayerNormRow(Device device, bool quick)
    {
        var weight = Tensor.RandN(device, new[] { 4096 }, seed: 3);
        var bias = Tensor.RandN(device, new[] { 4096 }, seed: 4);
        var row = TensorOp("layer-norm", device, quick, "GB/s", new[] { 4096, 4096 }, null,
            (a, _) => Tensor.LayerNorm(a, new[] { 4096 }, weight, bias));
        return new Workload(row.Name, row.Unit, row.WorkPerStep, row.Step, () =>
        {
            row.Dispose();
            weight.Dispose();
            bias.Dispose();
        });
    }

    private static Workload Copy(Device device, int n)
    {
        var x = Tensor.RandN(device, new[] { n }, seed: 1);
        var y = Tensor.Zeros(device, new[] { n });
        return new Workload("copy", "GB/s", 8.0 * n, () => device.Kernels.Unary<AffineOp>(x.Elements, y.Elements, 1f, 0f), () =>
        {
            x.Dispose();
            y.Dispose();
        });
    }
}
