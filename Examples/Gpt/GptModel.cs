using Engine;
using Engine.Nn;

namespace Examples.Gpt;

/// <summary>The shape of a nanoGPT-style decoder.</summary>
public sealed record GptConfig(int VocabSize, int BlockSize = 64, int Layers = 4, int Heads = 4, int Embd = 128,
    float Dropout = 0f)
{
    public void Validate()
    {
        if (VocabSize < 1 || BlockSize < 1 || Layers < 1 || Heads < 1 || Embd < 1)
            throw new ArgumentOutOfRangeException(nameof(GptConfig), $"gpt: every size must be ≥ 1, got {this}.");
        if (Embd % Heads != 0)
            throw new ArgumentException($"gpt: {Heads} heads do not divide the width n_embd = {Embd}.");
    }
}

/// <summary>
/// Karpathy's nanoGPT decoder (<c>model.py</c>), with its state-dict names so PyTorch loads the weights
/// (Examples/Gpt/gpt_torch.py): token and position embeddings <c>transformer.wte</c>, <c>transformer.wpe</c>; blocks
/// <c>transformer.h.{i}</c> of pre-LN causal self-attention (<c>ln_1</c>, <c>attn.c_attn</c>, <c>attn.c_proj</c>)
/// and a GELU MLP (<c>ln_2</c>, <c>mlp.c_fc</c>, <c>mlp.c_proj</c>); a final <c>transformer.ln_f</c>; and the head
/// <c>lm_head</c>, a bias-free Linear whose weight is the token embedding's (tied: trained once, saved under both names,
/// as PyTorch's state dict has it).
/// Initialisation as nanoGPT: N(0, 0.02) for every matrix, N(0, 0.02/√(2·layers)) for the residual projections,
/// biases 0.
/// </summary>
public sealed class GptModel : Module
{
    private readonly Transformer transformer;
    private readonly Linear lmHead;

    public GptModel(Device device, GptConfig config, int seed)
    {
        config.Validate();
        Config = config;
        var streams = new Random(seed);
        transformer = RegisterModule("transformer", new Transformer(device, config, streams));
        lmHead = RegisterModule("lm_head", new Linear(device, config.Embd, config.VocabSize, bias: false, seed: streams.Next()));
        var untied = lmHead.Weight;
        lmHead.Weight = transformer.Wte.Weight;
        untied.Dispose();
        using (Autograd.NoGrad())
        {
            float residual = 0.02f / MathF.Sqrt(2 * config.Layers);
            foreach (var (name, p) in NamedParameters())
            {
                if (name.EndsWith(".bias")) Init.Zeros(p);
                else if (p.Rank == 2)
                    Init.Normal(p, 0f, name.EndsWith("c_proj.weight") ? residual : 0.02f, streams.Next());
            }
        }
    }

    public GptConfig Config { get; }

    /// <summary>The device the model's parameters live on.</summary>
    public Device Device => transformer.Wte.Weight.Device;

    /// <summary>
    /// Activation checkpointing while training: every run of this many blocks is one <see cref="ActivationCheckpoint"/>
    /// segment, its activations recomputed in backward (0: none).
    /// </summary>
    public int CheckpointEvery
    {
        get => checkpointEvery;
        set => checkpointEvery = value >= 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), $"gpt: --checkpoint must be ≥ 0, got {value}.");
    }

    private int checkpointEvery;

    /// <summary>Logits [B, T, vocab] for token ids [B, T].</summary>
    public override Tensor Forward(Tensor tokens)
    {
        if (tokens.Rank != 2)
            throw new ArgumentException($"gpt: tokens must be [batch, time], got [{string.Join(", ", tokens.Shape)}].");
        int t = tokens.Shape[1];
        if (t > Config.BlockSize)
            throw new ArgumentException(
                $"gpt: a sequence of {t} tokens is longer than the positional table (block size {Config.BlockSize}).");
        var positions = Tensor.Arange(tokens.Device, t);
        var x = transformer.Wte.Forward(tokens) + transformer.Wpe.Forward(positions);
        x = transformer.Drop.Forward(x);
        int every = Training ? checkpointEvery : 0;
        var blocks = transformer.Blocks;
        for (int first = 0, step = every == 0 ? blocks.Length : every; first < blocks.Length; first += step)
        {
            int from = first, end = Math.Min(first + step, blocks.Length);
            Tensor Segment(Tensor h)
            {
                for (int i = from; i < end; i++) h = blocks[i].Forward(h);
                return h;
            }
            x = every == 0 ? Segment(x) : ActivationCheckpoint.Run(t => Segment(t[0]), x);
        }
        return lmHead.Forward(transformer.LnF.Forward(x));
    }

    /// <summary>Mean cross-entropy of the next-token predictions: logits for x [B, T] against targets y [B, T].</summary>
    public Tensor Loss(Tensor tokens, int[] targets)
    {
        var logits = Forward(tokens);
        return Engine.Loss.CrossEntropy(logits.Reshape(-1, Config.VocabSize), targets);
    }

    /// <summary>
    /// Appends <paramref name="count"/> tokens to <paramref name="prompt"/>, each drawn from softmax(logits/T) over the
    /// <paramref name="topK"/> likeliest (nanoGPT's <c>generate</c>). With <paramref name="cache"/> each step runs one
    /// position through the blocks against the keys and values kept from earlier steps (a KV cache); without, each step
    /// runs the whole context again. The context is the last block-size tokens: when the cache is full it is rebuilt
    /// from the last half block.
    /// </summary>
    public List<int> Generate(IReadOnlyList<int> prompt, int count, float temperature, int topK, Random random,
        bool cache = true)
    {
        if (prompt.Count == 0) throw new ArgumentException("gpt: generation needs a prompt of at least one token.");
        if (!(temperature > 0f)) throw new ArgumentOutOfRangeException(nameof(temperature), $"gpt: temperature must be > 0, got {temperature}.");
        var tokens = prompt.ToList();
        var device = Device;
        bool wasTraining = Training;
        Eval();
        using var noGrad = Autograd.NoGrad();
        var kv = cache ? new KvCache(Config.Layers) : null;
        try
        {
            for (int step = 0; step < count; step++)
            {
                using var scope = new DisposeScope();
                if (kv != null) kv.Step = scope;
                float[] logits;
                if (kv == null)
                {
                    var context = tokens.Skip(Math.Max(0, tokens.Count - Config.BlockSize)).ToArray();
                    var all = Forward(Tensor.FromArray(device, context, new[] { 1, context.Length }));
                    logits = all.Select(1, context.Length - 1).ToArray();
                }
                else
                {
                    if (kv.Length == Config.BlockSize || kv.Length == 0)
                    {
                        // Fill (or refill) the cache with the context but its last token, which the step below adds.
                        kv.Clear();
                        int keep = tokens.Count <= Config.BlockSize ? tokens.Count : Config.BlockSize / 2;
                        var context = tokens.Skip(Math.Max(0, tokens.Count - keep)).ToList();
                        for (int i = 0; i < context.Count - 1; i++) StepWithCache(context[i], kv, device).Dispose();
                    }
                    logits = StepWithCache(tokens[^1], kv, device).ToArray();
                }
                tokens.Add(Sample(logits, temperature, topK, random));
            }
        }
        finally
        {
            kv?.Clear();
            Train(wasTraining);
        }
        return tokens;
    }

    /// <summary>One token at the next position through the blocks, extending every layer's keys and values.</summary>
    private Tensor StepWithCache(int token, KvCache kv, Device device)
    {
        int position = kv.Length;
        var x = transformer.Wte.Forward(Tensor.FromArray(device, new[] { token }, new[] { 1, 1 })) +
                transformer.Wpe.Forward(Tensor.FromArray(device, new[] { position }, new[] { 1 }));
        for (int i = 0; i < Config.Layers; i++) x = transformer.Blocks[i].Forward(x, kv, i);
        kv.Length++;
        return lmHead.Forward(transformer.LnF.Forward(x)).Reshape(-1);
    }

    private static int Sample(float[] logits, float temperature, int topK, Random random)
    {
        int k = topK <= 0 ? logits.Length : Math.Min(topK, logits.Length);
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Take(k).ToArray();
        double max = logits[order[0]];
        var weights = order.Select(i => Math.Exp((logits[i] - max) / temperature)).ToArray();
        double u = random.NextDouble() * weights.Sum();
        for (int i = 0; i < k; i++)
        {
            u -= weights[i];
            if (u <= 0) return order[i];
        }
        return order[k - 1];
    }

    /// <summary><c>transformer</c>: the embeddings, the blocks <c>h</c> and the final norm.</summary>
    private sealed class Transformer : Module
    {
        public Transformer(Device device, GptConfig c, Random streams)
        {
            Wte = RegisterModule("wte", new Embedding(device, c.VocabSize, c.Embd, streams.Next()));
            Wpe = RegisterModule("wpe", new Embedding(device, c.BlockSize, c.Embd, streams.Next()));
            Drop = RegisterModule("drop", new Dropout(c.Dropout, streams.Next()));
            Blocks = Enumerable.Range(0, c.Layers).Select(_ => new Block(device, c, streams)).ToArray();
            RegisterModule("h", new Sequential(Blocks));
            LnF = RegisterModule("ln_f", new LayerNorm(device, c.Embd));
        }

        public Embedding Wte { get; }
        public Embedding Wpe { get; }
        public Dropout Drop { get; }
        public Block[] Blocks { get; }
        public LayerNorm LnF { get; }

        public override Tensor Forward(Tensor input) => throw new NotSupportedException("use GptModel.Forward");
    }

    /// <summary>x + attn(ln_1(x)), then + mlp(ln_2(x)).</summary>
    private sealed class Block : Module
    {
        private readonly LayerNorm ln1, ln2;
        private readonly CausalSelfAttention attn;
        private readonly Mlp mlp;

        public Block(Device device, GptConfig c, Random streams)
        {
            ln1 = RegisterModule("ln_1", new LayerNorm(device, c.Embd));
            attn = RegisterModule("attn", new CausalSelfAttention(device, c, streams));
            ln2 = RegisterModule("ln_2", new LayerNorm(device, c.Embd));
            mlp = RegisterModule("mlp", new Mlp(device, c, streams));
        }

        public override Tensor Forward(Tensor x) => Forward(x, null, 0);

        public Tensor Forward(Tensor x, KvCache? kv, int layer)
        {
            x = x + attn.Forward(ln1.Forward(x), kv, layer);
            return x + mlp.Forward(ln2.Forward(x));
        }
    }

    /// <summary>
    /// Multi-head causal self-attention: one projection to q, k, v ([B, T, 3C] → three [B, H, T, C/H]), fused
    /// scaled dot-product attention, heads merged and projected back.
    /// </summary>
    private sealed class CausalSelfAttention : Module
    {
        private readonly Linear cAttn, cProj;
        private readonly Dropout residDropout;
        private readonly int heads;
        private readonly float dropout;

        public CausalSelfAttention(Device device, GptConfig c, Random streams)
        {
            heads = c.Heads;
            dropout = c.Dropout;
            cAttn = RegisterModule("c_attn", new Linear(device, c.Embd, 3 * c.Embd, seed: streams.Next()));
            cProj = RegisterModule("c_proj", new Linear(device, c.Embd, c.Embd, seed: streams.Next()));
            residDropout = RegisterModule("resid_dropout", new Dropout(c.Dropout, streams.Next()));
        }

        public override Tensor Forward(Tensor x) => Forward(x, null, 0);

        public Tensor Forward(Tensor x, KvCache? kv, int layer)
        {
            var shape = x.Shape;
            int b = shape[0], t = shape[1], width = shape[2], hd = width / heads;
            // [B, T, 3, H, hd] → [3, B, H, T, hd]: one copy, then q, k, v are views of it.
            var qkv = cAttn.Forward(x).Reshape(b, t, 3, heads, hd).Permute(2, 0, 3, 1, 4);
            Tensor q = qkv.Select(0, 0), k = qkv.Select(0, 1), v = qkv.Select(0, 2);
            Tensor y;
            if (kv == null)
            {
                y = Tensor.ScaledDotProductAttention(q, k, v, dropoutP: Training ? dropout : 0f, isCausal: true);
            }
            else
            {
                // One new position: it sees every cached key and itself.
                k = kv.Keys[layer] == null ? k : Tensor.Cat(new[] { kv.Keys[layer]!, k }, 2);
                v = kv.Values[layer] == null ? v : Tensor.Cat(new[] { kv.Values[layer]!, v }, 2);
                kv.Keep(layer, k, v);
                y = Tensor.ScaledDotProductAttention(q, k, v);
            }
            y = y.Permute(0, 2, 1, 3).Reshape(b, t, width);
            return residDropout.Forward(cProj.Forward(y));
        }
    }

    /// <summary>c_fc (C → 4C), GELU (exact, as nn.GELU()), c_proj (4C → C).</summary>
    private sealed class Mlp : Module
    {
        private readonly Linear cFc, cProj;
        private readonly Dropout dropout;

        public Mlp(Device device, GptConfig c, Random streams)
        {
            cFc = RegisterModule("c_fc", new Linear(device, c.Embd, 4 * c.Embd, seed: streams.Next()));
            cProj = RegisterModule("c_proj", new Linear(device, 4 * c.Embd, c.Embd, seed: streams.Next()));
            dropout = RegisterModule("dropout", new Dropout(c.Dropout, streams.Next()));
        }

        public override Tensor Forward(Tensor x) => dropout.Forward(cProj.Forward(cFc.Forward(x).Gelu()));
    }

    /// <summary>Each layer's keys and values so far ([1, H, t, hd]), kept outside any dispose scope.</summary>
    private sealed class KvCache(int layers)
    {
        public Tensor?[] Keys { get; } = new Tensor?[layers];
        public Tensor?[] Values { get; } = new Tensor?[layers];

        /// <summary>The generation step's scope, which the kept tensors leave.</summary>
        public DisposeScope? Step { get; set; }

        /// <summary>Positions cached.</summary>
        public int Length { get; set; }

        public void Keep(int layer, Tensor k, Tensor v)
        {
            var oldK = Keys[layer];
            var oldV = Values[layer];
            Keys[layer] = Step!.MoveToOuter(k);
            Values[layer] = Step.MoveToOuter(v);
            oldK?.Dispose();
            oldV?.Dispose();
        }

        public void Clear()
        {
            for (int i = 0; i < Keys.Length; i++)
            {
                Keys[i]?.Dispose();
                Values[i]?.Dispose();
                Keys[i] = Values[i] = null;
            }
            Length = 0;
        }
    }
}
