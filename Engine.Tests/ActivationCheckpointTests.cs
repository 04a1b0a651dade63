using Engine.Nn;

namespace Engine.Tests;

/// <summary>
/// <see cref="ActivationCheckpoint"/> against running the same segments plainly: values and every gradient
/// bit-identical (dropout masks replayed), the random streams where a plain run leaves them, less peak memory, and
/// the errors.
/// </summary>
public class ActivationCheckpointTests
{
    private static Device Dev => TestDevice.Instance;

    /// <summary>A pre-norm residual block: x + W₂·dropout(gelu(W₁·LN(x))).</summary>
    private sealed class Block : Module
    {
        private readonly LayerNorm norm;
        private readonly Linear up, down;
        private readonly Dropout dropout;

        public Block(int width, int seed)
        {
            norm = RegisterModule("norm", new LayerNorm(Dev, width));
            up = RegisterModule("up", new Linear(Dev, width, 2 * width, seed: seed));
            down = RegisterModule("down", new Linear(Dev, 2 * width, width, seed: seed + 1));
            dropout = RegisterModule("dropout", new Dropout(0.3f, seed: seed + 2));
        }

        public override Tensor Forward(Tensor x) => x + down.Forward(dropout.Forward(up.Forward(norm.Forward(x)).Gelu()));
    }

    private static Sequential Stack(int blocks, int width) =>
        new(Enumerable.Range(0, blocks).Select(b => (Module)new Block(width, 10 * b + 1)).ToArray());

    /// <summary>Two training steps' outputs and every gradient, each block checkpointed or not.</summary>
    private static (float[][] Outputs, float[][] Grads) Steps(bool checkpoint)
    {
        Generator.ManualSeed(5);
        using var model = Stack(3, 16);
        var x = Tensor.RandN(Dev, new[] { 6, 16 }, seed: 3, requiresGrad: true);
        var outputs = new List<float[]>();
        for (int step = 0; step < 2; step++)
        {
            using var scope = new DisposeScope();
            var h = x;
            foreach (var (_, block) in model.Children)
                h = checkpoint ? ActivationCheckpoint.Run(block, h) : block.Forward(h);
            // Functional dropout draws from the Generator: inside a checkpointed segment it is replayed too.
            var u = h.Unsqueeze(0);
            var attended = checkpoint
                ? ActivationCheckpoint.Run(t => Tensor.ScaledDotProductAttention(t[0], t[0], t[0], dropoutP: 0.2f), u)
                : Tensor.ScaledDotProductAttention(u, u, u, dropoutP: 0.2f);
            var loss = (attended * attended).Mean();
            outputs.Add(attended.ToArray());
            loss.Backward();
        }
        var grads = model.Parameters().Select(p => p.Grad!.ToArray()).Append(x.Grad!.ToArray()).ToList();
        x.Dispose();
        return (outputs.ToArray(), grads.ToArray());
    }

    [Fact]
    public void Outputs_and_gradients_are_bit_identical_with_dropout_replayed()
    {
        var plain = Steps(checkpoint: false);
        var checkpointed = Steps(checkpoint: true);
        for (int i = 0; i < plain.Outputs.Length; i++)
            Assert.True(plain.Outputs[i].SequenceEqual(checkpointed.Outputs[i]), $"output of step {i + 1}");
        Assert.Equal(plain.Grads.Length, checkpointed.Grads.Length);
        for (int i = 0; i < plain.Grads.Length; i++)
            Assert.True(plain.Grads[i].SequenceEqual(checkpointed.Grads[i]),
                $"gradient {i} of {plain.Grads.Length}: max difference " +
                $"{plain.Grads[i].Zip(checkpointed.Grads[i], (a, b) => Math.Abs(a - b)).Max()}");
    }

    [Fact]
    public void Peak_memory_of_a_deep_stack_checkpointed_per_block_is_a_fraction_of_the_plain_one()
    {
        long Peak(bool checkpoint)
        {
            using var device = Device.Create(Dev.Kind);
            using var scope = new DisposeScope();
            var blocks = Enumerable.Range(0, 12).Select(b => new Sequential(
                new Linear(device, 64, 256, seed: b), new Gelu(), new Linear(device, 256, 64, seed: b + 100))).ToList();
            var x = Tensor.RandN(device, new[] { 128, 64 }, seed: 1, requiresGrad: true);
            device.ResetPeakMemoryStats();
            var h = x;
            foreach (var block in blocks) h = checkpoint ? ActivationCheckpoint.Run(block, h) + h : block.Forward(h) + h;
            h.Sum().Backward();
            long peak = device.Memory.PeakAllocatedBytes;
            foreach (var block in blocks) block.Dispose();
            return peak;
        }
        long plain = Peak(false), checkpointed = Peak(true);
        Assert.True(checkpointed < 0.6 * plain, $"peak {checkpointed:N0} bytes checkpointed vs {plain:N0} plain");
    }

    [Fact]
    public void A_segment_without_anything_to_differentiate_runs_once_plainly()
    {
        using var scope = new DisposeScope();
        var x = Tensor.RandN(Dev, new[] { 3, 4 }, seed: 1);
        int runs = 0;
        var y = ActivationCheckpoint.Run(t => { runs++; return t[0].Exp(); }, x);
        Assert.False(y.RequiresGrad);
        Assert.Equal(1, runs);
        Expect.Close(x.ToArray().Select(v => (double)MathF.Exp(v)).ToArray(), y.ToArray(), 1e-6, 1e-6, "exp");
    }

    [Fact]
    public void A_segment_that_captures_a_computed_tensor_needing_grad_is_refused()
    {
        using var scope = new DisposeScope();
        var w = Tensor.RandN(Dev, new[] { 4 }, seed: 2, requiresGrad: true);
        var captured = w * 2f;
        var x = Tensor.RandN(Dev, new[] { 3, 4 }, seed: 1);
        var e = Assert.Throws<ArgumentException>(() => ActivationCheckpoint.Run(t => t[0] * captured, x));
        Assert.Contains("pass it as one of the inputs", e.Message);
        Assert.Contains("[4]", e.Message);
    }

    [Fact]
    public void Inside_no_grad_the_segment_just_runs()
    {
        using var scope = new DisposeScope();
        var x = Tensor.RandN(Dev, new[] { 2, 2 }, seed: 1, requiresGrad: true);
        using (Autograd.NoGrad())
            Assert.False(ActivationCheckpoint.Run(t => t[0] * t[0], x).RequiresGrad);
    }
}
