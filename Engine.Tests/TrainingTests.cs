namespace Engine.Tests;

/// <summary>End to end: a small MLP trained with a hand-written SGD step (optimizers come with their own issue).</summary>
public class TrainingTests
{
    private static Device Dev => TestDevice.Instance;

    private static readonly float[] XorInputs = { 0, 0, 0, 1, 1, 0, 1, 1 };
    private static readonly int[] XorLabels = { 0, 1, 1, 0 };

    private sealed class Mlp : IDisposable
    {
        public Mlp(int inputs, int hidden, int outputs, int seed, Device? device = null)
        {
            var dev = device ?? Dev;
            W1 = Tensor.RandN(dev, new[] { inputs, hidden }, seed, requiresGrad: true, std: 1f);
            B1 = Tensor.Zeros(dev, new[] { hidden }, requiresGrad: true);
            W2 = Tensor.RandN(dev, new[] { hidden, outputs }, seed + 1, requiresGrad: true,
                std: (float)Math.Sqrt(1.0 / hidden));
            B2 = Tensor.Zeros(dev, new[] { outputs }, requiresGrad: true);
        }

        public Tensor W1 { get; }
        public Tensor B1 { get; }
        public Tensor W2 { get; }
        public Tensor B2 { get; }

        public Tensor Forward(Tensor x) => (x.MatMul(W1) + B1).Tanh().MatMul(W2) + B2;

        public void SgdStep(float lr)
        {
            using (Autograd.NoGrad())
            {
                foreach (var p in new[] { W1, B1, W2, B2 })
                {
                    p.AddInPlace(p.Grad!, -lr);
                    p.ZeroGrad();
                }
            }
        }

        public void Dispose()
        {
            foreach (var p in new[] { W1, B1, W2, B2 }) p.Dispose();
        }
    }

    [Fact]
    public void A_two_layer_mlp_learns_xor_with_cross_entropy()
    {
        using var mlp = new Mlp(2, 8, 2, seed: 11);
        using var x = Tensor.FromArray(Dev, XorInputs, new[] { 4, 2 });
        float first = 0, last = 0;
        for (int step = 0; step < 300; step++)
        {
            using var scope = new DisposeScope();
            var loss = Loss.CrossEntropy(mlp.Forward(x), XorLabels);
            loss.Backward();
            mlp.SgdStep(0.5f);
            if (step == 0) first = loss.Item();
            if (step == 299) last = loss.Item();
        }
        Assert.True(last < 0.05f, $"XOR loss went from {first} to {last}, not below 0.05");
        using var predictions = mlp.Forward(x);
        var logits = predictions.ToArray();
        for (int r = 0; r < 4; r++)
            Assert.Equal(XorLabels[r], logits[2 * r + 1] > logits[2 * r] ? 1 : 0);
    }

    [Fact]
    public void A_regression_mlp_fits_a_smooth_function_with_mse()
    {
        // y = sin(2x) on 32 points in [−1.5, 1.5].
        var xs = Enumerable.Range(0, 32).Select(i => -1.5f + 3f * i / 31f).ToArray();
        var ys = xs.Select(v => MathF.Sin(2 * v)).ToArray();
        using var mlp = new Mlp(1, 16, 1, seed: 5);
        using var x = Tensor.FromArray(Dev, xs, new[] { 32, 1 });
        using var y = Tensor.FromArray(Dev, ys, new[] { 32, 1 });
        float last = float.NaN;
        for (int step = 0; step < 600; step++)
        {
            using var scope = new DisposeScope();
            var loss = Loss.Mse(mlp.Forward(x), y);
            loss.Backward();
            mlp.SgdStep(0.2f);
            if (step == 599) last = loss.Item();
        }
        Assert.True(last < 0.01f, $"regression MSE {last} is not below 0.01");
    }

    [Fact]
    public void Device_memory_does_not_grow_over_a_thousand_training_steps()
    {
        // A device of its own, so that no other test's tensors (returned late by finalizers) touch its pool.
        using var dev = Device.Create(Dev.Kind);
        using var mlp = new Mlp(2, 8, 2, seed: 3, dev);
        using var x = Tensor.FromArray(dev, XorInputs, new[] { 4, 2 });
        void Step()
        {
            using var scope = new DisposeScope();
            Loss.CrossEntropy(mlp.Forward(x), XorLabels).Backward();
            mlp.SgdStep(0.1f);
        }
        for (int i = 0; i < 5; i++) Step(); // warm-up: the pool learns the step's buffer sizes
        var before = dev.Memory;
        for (int i = 0; i < 1000; i++) Step();
        var after = dev.Memory;
        Assert.Equal(before.DeviceAllocations, after.DeviceAllocations);
        Assert.Equal(before.LiveBuffers, after.LiveBuffers);
        Assert.Equal(before.RentedBuffers, after.RentedBuffers);
        Assert.Equal(before.ReservedBytes, after.ReservedBytes);
    }
}
