using Examples.Gpt;

namespace Engine.Tests;

/// <summary>
/// The gpt example's model (nanoGPT): a CI-sized training run that must reach a stated loss, the KV cache against
/// generation without it, PyTorch's state-dict names, and bad input (token ids, sequence length, heads).
/// </summary>
public class GptTests
{
    private static Device Dev => TestDevice.Instance;

    private static Corpus Shakespeare => Corpus.Load(Path.Combine(AppContext.BaseDirectory, "BundledData", "tinyshakespeare.txt.gz"));

    [Fact]
    public void A_small_gpt_learns_tiny_shakespeare_to_a_stated_loss()
    {
        // 1 layer, 2 heads, width 32, block 16, batch 8: 300 AdamW steps take the validation loss from ln 65 ≈ 4.17
        // (uniform) to below 2.8, well past the unigram cross-entropy (3.35: it uses the context), on every backend.
        var corpus = Shakespeare;
        var o = new GptOptions { Iters = 300, BatchSize = 8, BlockSize = 16, Layers = 1, Heads = 2, Embd = 32, Warmup = 10, Lr = 3e-3f, MinLr = 3e-4f, EvalIters = 4 };
        using var model = new GptModel(Dev, new GptConfig(corpus.Vocabulary.Length, o.BlockSize, o.Layers, o.Heads, o.Embd), seed: 1);
        using var optimizer = GptRecipe.Optimizer(model, o);
        double before = GptJob.Estimate(model, corpus.Val, o, new Random(2));
        var random = new Random(1);
        for (int it = 0; it < o.Iters; it++)
        {
            foreach (var g in optimizer.ParamGroups) g.Lr = GptRecipe.LearningRate(it, o);
            using var scope = new DisposeScope();
            var offsets = Enumerable.Range(0, o.BatchSize).Select(_ => random.Next(corpus.Train.Length - o.BlockSize)).ToArray();
            var (x, y) = GptRecipe.Batch(corpus.Train, offsets, o.BlockSize);
            model.Loss(Tensor.FromArray(Dev, x, new[] { o.BatchSize, o.BlockSize }), y).Backward();
            global::Engine.Optim.GradClip.ClipGradNorm(model.Parameters(), 1f);
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        double after = GptJob.Estimate(model, corpus.Val, o, new Random(2));
        Assert.InRange(before, 4.0, 4.4);
        Assert.True(after < 2.8, $"validation loss {after:F3} after {o.Iters} steps (from {before:F3}); expected < 2.8");
    }

    [Fact]
    public void Generation_with_the_kv_cache_equals_generation_without_it()
    {
        var corpus = Shakespeare;
        using var model = new GptModel(Dev, new GptConfig(corpus.Vocabulary.Length, 24, 2, 2, 16), seed: 3);
        var prompt = corpus.Encode("ROMEO:");
        // top-k 1 is greedy: both paths must pick the same token at every step while the context fits the block, and
        // the cache is refilled (from the last half block) once it is full.
        var cached = model.Generate(prompt, 15, 1f, 1, new Random(5), cache: true);
        var uncached = model.Generate(prompt, 15, 1f, 1, new Random(5), cache: false);
        Assert.Equal(uncached, cached);
        var longer = model.Generate(prompt, 40, 1f, 1, new Random(5), cache: true);
        Assert.Equal(prompt.Length + 40, longer.Count);
        Assert.True(model.Training);
    }

    [Fact]
    public void State_dict_names_are_nanogpts()
    {
        using var model = new GptModel(Dev, new GptConfig(65, 16, 2, 2, 16), seed: 1);
        var names = model.StateDict().Keys.ToHashSet();
        foreach (var name in new[]
                 {
                     "transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
                     "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias", "transformer.h.0.attn.c_proj.weight",
                     "transformer.h.1.ln_2.weight", "transformer.h.1.mlp.c_fc.weight", "transformer.h.1.mlp.c_proj.bias",
                     "transformer.ln_f.weight", "lm_head.weight",
                 })
            Assert.Contains(name, names);
        Assert.Equal(4 + 2 * 12 + 1, names.Count);
        // Tied: one parameter for the embedding and the head, listed once.
        Assert.Same(model.NamedParameters(removeDuplicate: false).Single(p => p.Name == "lm_head.weight").Parameter,
            model.NamedParameters().Single(p => p.Name == "transformer.wte.weight").Parameter);
        Assert.DoesNotContain(model.NamedParameters(), p => p.Name == "lm_head.weight");
        var state = model.StateDict();
        using var copy = new GptModel(Dev, new GptConfig(65, 16, 2, 2, 16), seed: 2);
        copy.LoadStateDict(state);
        Assert.Equal(state["transformer.h.1.mlp.c_fc.weight"].Values, copy.StateDict()["transformer.h.1.mlp.c_fc.weight"].Values);
    }

    [Fact]
    public void Bad_input_names_the_cause()
    {
        using var model = new GptModel(Dev, new GptConfig(10, 8, 1, 2, 8), seed: 1);
        using var scope = new DisposeScope();
        var tooLong = Assert.Throws<ArgumentException>(() => model.Forward(Tensor.FromArray(Dev, new int[9], new[] { 1, 9 })));
        Assert.Contains("block size 8", tooLong.Message);
        var badToken = Assert.ThrowsAny<Exception>(() =>
            model.Forward(Tensor.FromArray(Dev, new[] { 1, 2, 10, 3 }, new[] { 1, 4 })).ToArray());
        Assert.Contains("10", badToken.Message);
        var heads = Assert.Throws<ArgumentException>(() => new GptModel(Dev, new GptConfig(10, 8, 1, 3, 8), seed: 1));
        Assert.Contains("3 heads", heads.Message);
        Assert.Throws<ArgumentException>(() => Corpus.FromText("abc").Encode("abz"));
    }
}
