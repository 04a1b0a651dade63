using Engine.Kernels.Ilgpu;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests;

/// <summary>
/// Kernel launches of the per-sample online step of mlp-s (784→256→10 ReLU MLP, SGD, batch 1) on the ILGPU backend, the
/// kernels CUDA runs: each launch costs ~6 µs on an H100, so launches bound the online rate there. The general path
/// issues 28 (forward 8: two products, two bias adds, ReLU, cross-entropy rows and sum, the score; backward 15: the
/// seed, zero-filled intermediate gradients, the gradient kernels, the weight updates fused into their products; the
/// two bias updates and their zeroing); the fused dense step issues 4.
/// </summary>
public class LaunchCountTests
{
    private static long LaunchesPerStep(bool? fused)
    {
        var dev = TestDevice.Ilgpu;
        var kernels = (IlgpuKernels)dev.Kernels;
        using var model = new Sequential(new Linear(dev, 784, 256, seed: 1), new Relu(), new Linear(dev, 256, 10, seed: 2));
        using var sgd = new Sgd(model.Parameters(), lr: 0.03f);
        using var online = new OnlineTrainer(model, sgd) { FusedSteps = fused };
        var rng = new Random(1);
        var samples = Enumerable.Range(0, 4)
            .Select(i => new Sample(Enumerable.Range(0, 784).Select(_ => (float)rng.NextDouble()).ToArray(), i % 10)).ToList();
        online.Learn(samples[0]); // the first step allocates its buffers
        long before = kernels.Context.Launches;
        for (int i = 1; i < 4; i++) online.Learn(samples[i]);
        return (kernels.Context.Launches - before) / 3;
    }

    [Fact]
    public void The_mlp_s_online_step_takes_4_launches_fused_and_28_on_the_general_path()
    {
        Assert.Equal(4, LaunchesPerStep(fused: null)); // the ILGPU backend prefers the fused step
        Assert.Equal(28, LaunchesPerStep(fused: false));
    }
}
