using Engine.Nn;
using Engine.Optim;

namespace Engine.Benchmarks;

// The CNN rows, as compare/torch_workloads.py builds them: two training steps (LeNet-5 and PyTorch's examples/mnist
// net) and the convolution and pooling kernels at a ResNet-like layer size.
public sealed partial class Workload
{
    /// <summary>LeNet-5 for 28×28 digits, PyTorch's layer order (so state-dict names match the torch Sequential).</summary>
    public static Sequential LeNet5(Device device) => new(
        new Conv2d(device, 1, 6, 5, padding: 2, seed: 1), new Engine.Nn.Relu(), new MaxPool2d(2),
        new Conv2d(device, 6, 16, 5, seed: 2), new Engine.Nn.Relu(), new MaxPool2d(2), new Flatten(),
        new Linear(device, 400, 120, seed: 3), new Engine.Nn.Relu(), new Linear(device, 120, 84, seed: 4),
        new Engine.Nn.Relu(), new Linear(device, 84, 10, seed: 5));

    /// <summary>PyTorch's examples/mnist net (log-softmax last).</summary>
    public static Sequential MnistExamplesNet(Device device) => new(
        new Conv2d(device, 1, 32, 3, seed: 1), new Engine.Nn.Relu(), new Conv2d(device, 32, 64, 3, seed: 2),
        new Engine.Nn.Relu(), new MaxPool2d(2), new Dropout(0.25f, seed: 3), new Flatten(),
        new Linear(device, 9216, 128, seed: 4), new Engine.Nn.Relu(), new Dropout(0.5f, seed: 5),
        new Linear(device, 128, 10, seed: 6), new LogSoftmax(1));

    /// <summary>
    /// One training step (forward, loss, backward, optimizer step, zero-grad) of LeNet-5 (SGD lr 0.01, momentum 0.9,
    /// cross-entropy) or the examples net (Adadelta lr 1, NLL, dropout on) on a fixed random [B, 1, 28, 28] batch,
    /// B = 64 (8 when quick).
    /// </summary>
    private static Workload Cnn(string name, Device device, bool quick)
    {
        int batch = quick ? 8 : 64;
        bool lenet = name == "cnn-lenet";
        var model = lenet ? LeNet5(device) : MnistExamplesNet(device);
        Optimizer optimizer = lenet ? new Sgd(model.Parameters(), lr: 0.01f, momentum: 0.9f)
            : new Adadelta(model.Parameters(), lr: 1f);
        var x = Tensor.RandN(device, new[] { batch, 1, 28, 28 }, seed: 7);
        var labels = Enumerable.Range(0, batch).Select(i => i * 7 % 10).ToArray();
        return new Workload(name, "samples/s", batch, () =>
        {
            using var scope = new DisposeScope();
            var output = model.Forward(x);
            var loss = lenet ? Loss.CrossEntropy(output, labels) : Loss.Nll(output, Tensor.FromArray(device, labels.Select(l => (long)l).ToArray(), new[] { batch }));
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

    /// <summary>
    /// conv2d: forward of [B, 64, S, S] * [64, 64, 3, 3], padding 1, no bias, no graph (2·B·64·S²·64·9 FLOP);
    /// conv2d-fwdbwd: that forward and the gradients to input and weight for a stored output gradient (3× the FLOP);
    /// maxpool2d: 2×2 max pool forward and backward (8·(input + output) bytes). B, S = 64, 56; 8, 28 when quick.
    /// </summary>
    private static Workload ConvRow(string name, Device device, bool quick)
    {
        int batch = quick ? 8 : 64, size = quick ? 28 : 56, ch = 64;
        var x = Tensor.RandN(device, new[] { batch, ch, size, size }, seed: 1);
        if (name == "maxpool2d")
        {
            x.RequiresGrad = true;
            var g = Tensor.RandN(device, new[] { batch, ch, size / 2, size / 2 }, seed: 3);
            return new Workload(name, "GB/s", 8.0 * (x.Numel + g.Numel), () =>
            {
                using var scope = new DisposeScope();
                (Tensor.MaxPool2d(x, 2) * g).Sum().Backward();
                x.ZeroGrad();
            }, () =>
            {
                x.Dispose();
                g.Dispose();
            });
        }
        var w = Tensor.RandN(device, new[] { ch, ch, 3, 3 }, seed: 2) * (1f / MathF.Sqrt(ch * 9));
        double flops = 2.0 * batch * ch * size * size * ch * 9;
        if (name == "conv2d")
        {
            return new Workload(name, "GFLOP/s", flops, () =>
            {
                using var scope = new DisposeScope();
                using var _ = Autograd.NoGrad();
                Tensor.Conv2d(x, w, padding: 1);
            }, () =>
            {
                x.Dispose();
                w.Dispose();
            });
        }
        x.RequiresGrad = true;
        w.RequiresGrad = true;
        var dy = Tensor.RandN(device, new[] { batch, ch, size, size }, seed: 3);
        return new Workload(name, "GFLOP/s", 3 * flops, () =>
        {
            using var scope = new DisposeScope();
            (Tensor.Conv2d(x, w, padding: 1) * dy).Sum().Backward();
            x.ZeroGrad();
            w.ZeroGrad();
        }, () =>
        {
            x.Dispose();
            w.Dispose();
            dy.Dispose();
        });
    }
}
