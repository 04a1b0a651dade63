using Engine.Nn;
using Examples.Gpt;

namespace Engine.Benchmarks;

// The sequence-model rows, as compare/torch_workloads.py builds them: a GPT training step at nanoGPT's CPU recipe
// (gpt-baby) and at a larger size (gpt-small), and fused attention forward + backward.
public sealed partial class Workload
{
    /// <summary>
    /// One training step of the <c>gpt</c> example's model (forward, cross-entropy, backward, clipping at 1, AdamW with
    /// nanoGPT's groups, zero-grad) on a fixed random batch of token ids, in tokens/s. gpt-baby: block 64, batch 12,
    /// 4 layers, 4 heads, n_embd 128; gpt-small: block 256, batch 8, 6 layers, 6 heads, n_embd 384; gpt-small-ckpt:
    /// gpt-small with activation checkpointing per block (PyTorch: torch.utils.checkpoint, non-reentrant). Quick: 1
    /// layer, block 16, batch 2, n_embd 32.
    /// </summary>
    private static Workload Gpt(string name, Device device, bool quick) => Gpt(name, device, quick,
        name == "gpt-small-ckpt" ? 1 : 0);

    /// <summary>The gpt rows' step with activation checkpointing every <paramref name="checkpointEvery"/> blocks.</summary>
    public static Workload Gpt(string name, Device device, bool quick, int checkpointEvery)
    {
        bool small = name is "gpt-small" or "gpt-small-ckpt";
        var config = quick ? new GptConfig(65, 16, 1, 2, 32)
            : small ? new GptConfig(65, 256, 6, 6, 384) : new GptConfig(65, 64, 4, 4, 128);
        int batch = quick ? 2 : small ? 8 : 12, t = config.BlockSize;
        var model = new GptModel(device, config, seed: 1) { CheckpointEvery = checkpointEvery };
        var options = new GptOptions();
        var optimizer = GptRecipe.Optimizer(model, options);
        var random = new Random(7);
        var x = Tensor.FromArray(device, Enumerable.Range(0, batch * t).Select(_ => random.Next(65)).ToArray(),
            new[] { batch, t });
        var y = Enumerable.Range(0, batch * t).Select(_ => random.Next(65)).ToArray();
        return new Workload(name, "tokens/s", batch * t, () =>
        {
            using var scope = new DisposeScope();
            var logits = model.Forward(x);
            Loss.CrossEntropy(logits.Reshape(-1, config.VocabSize), y).Backward();
            Optim.GradClip.ClipGradNorm(model.Parameters(), 1f);
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
    /// Causal scaled dot-product attention forward and backward on [8, 8, T, 64] (T = 256; 2, 2, 32 when quick), in
    /// GFLOP/s: the forward's two products (QKᵀ, PV) are 2·2·B·H·T²·d FLOP, halved for the causal triangle; the
    /// backward's five (QKᵀ again, dV, dP, dQ, dK) 2.5× that. The backward is seeded with a fixed gradient g, as
    /// torch.autograd.grad(o, (q, k, v), g) on the PyTorch side.
    /// </summary>
    private static Workload Attention(Device device, bool quick)
    {
        int b = quick ? 2 : 8, h = quick ? 2 : 8, t = quick ? 32 : 256, d = 64;
        var shape = new[] { b, h, t, d };
        var q = Tensor.RandN(device, shape, seed: 1, requiresGrad: true);
        var k = Tensor.RandN(device, shape, seed: 2, requiresGrad: true);
        var v = Tensor.RandN(device, shape, seed: 3, requiresGrad: true);
        var g = Tensor.RandN(device, shape, seed: 4);
        double causalFlops = 2.0 * 2 * b * h * (double)t * t * d / 2;
        return new Workload("attention", "GFLOP/s", causalFlops * 3.5, () =>
        {
            using var scope = new DisposeScope();
            // As torch.autograd.grad(o, (q, k, v), g): the backward seeded with g.
            Tensor.ScaledDotProductAttention(q, k, v, isCausal: true).Backward(g);
        }, () =>
        {
            q.Dispose();
            k.Dispose();
            v.Dispose();
            g.Dispose();
        });
    }

    /// <summary>
    /// Generation with the gpt-small model (block 256): each step appends 255 tokens to a one-token prompt (greedy), with
    /// the KV cache (generate) or running the whole context again for every token (generate-no-cache), in tokens/s.
    /// Quick: the quick gpt model, 15 tokens.
    /// </summary>
    private static Workload Generate(string name, Device device, bool quick)
    {
        var config = quick ? new GptConfig(65, 16, 1, 2, 32) : new GptConfig(65, 256, 6, 6, 384);
        var model = new GptModel(device, config, seed: 1);
        int count = config.BlockSize - 1;
        bool cache = name == "generate";
        return new Workload(name, "tokens/s", count,
            () => model.Generate(new[] { 0 }, count, 1f, 1, new Random(1), cache), model.Dispose);
    }
}
