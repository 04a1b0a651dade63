namespace Engine.Nn;

/// <summary>
/// One encoder block of "Attention Is All You Need", as <c>torch.nn.TransformerEncoderLayer</c>: self-attention then a
/// feed-forward network, each with a residual connection and layer norm. Post-norm (the default):
/// x = norm1(x + SA(x)); x = norm2(x + FF(x)). Pre-norm (<c>normFirst</c>): x = x + SA(norm1(x)); x = x + FF(norm2(x)).
/// SA(x) = dropout1(self_attn(x, x, x)), FF(x) = dropout2(linear2(dropout(activation(linear1(x))))).
/// </summary>
/// <remarks>
/// Children and state-dict names as PyTorch's: <c>self_attn</c> (a <see cref="MultiheadAttention"/>, whose dropout is
/// the layer's), <c>linear1</c> (d_model → dim_feedforward), <c>dropout</c>, <c>linear2</c>, <c>norm1</c>, <c>norm2</c>,
/// <c>dropout1</c>, <c>dropout2</c>. Layout [S, N, E], or [N, S, E] with <c>batchFirst</c>, or unbatched [S, E].
/// </remarks>
public sealed class TransformerEncoderLayer : Module
{
    private readonly Device device;

    public TransformerEncoderLayer(Device device, int dModel, int nhead, int dimFeedforward = 2048, float dropout = 0.1f,
        string activation = "relu", float layerNormEps = 1e-5f, bool batchFirst = false, bool normFirst = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        TransformerParts.CheckArguments(nameof(TransformerEncoderLayer), dModel, nhead, dimFeedforward, activation);
        this.device = device;
        (DModel, NHead, DimFeedforward, DropoutP, Activation, LayerNormEps, BatchFirst, NormFirst) =
            (dModel, nhead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst);
        SelfAttn = RegisterModule("self_attn", new MultiheadAttention(device, dModel, nhead, dropout, batchFirst: batchFirst));
        SelfAttn.Label = $"{nameof(TransformerEncoderLayer)}.self_attn (MultiheadAttention)";
        Linear1 = RegisterModule("linear1", new Linear(device, dModel, dimFeedforward));
        Dropout = RegisterModule("dropout", new Dropout(dropout));
        Linear2 = RegisterModule("linear2", new Linear(device, dimFeedforward, dModel));
        Norm1 = RegisterModule("norm1", new LayerNorm(device, dModel, layerNormEps));
        Norm2 = RegisterModule("norm2", new LayerNorm(device, dModel, layerNormEps));
        Dropout1 = RegisterModule("dropout1", new Dropout(dropout));
        Dropout2 = RegisterModule("dropout2", new Dropout(dropout));
    }

    public int DModel { get; }
    public int NHead { get; }
    public int DimFeedforward { get; }
    public float DropoutP { get; }

    /// <summary>"relu" or "gelu" (exact GELU, as PyTorch's string).</summary>
    public string Activation { get; }

    public float LayerNormEps { get; }
    public bool BatchFirst { get; }
    public bool NormFirst { get; }

    public MultiheadAttention SelfAttn { get; }
    public Linear Linear1 { get; }
    public Dropout Dropout { get; }
    public Linear Linear2 { get; }
    public LayerNorm Norm1 { get; }
    public LayerNorm Norm2 { get; }
    public Dropout Dropout1 { get; }
    public Dropout Dropout2 { get; }

    public override Tensor Forward(Tensor input) => Forward(input, null);

    /// <summary>
    /// The block over <paramref name="src"/>; <paramref name="srcMask"/> [S, S] or [N·nhead, S, S] and
    /// <paramref name="srcKeyPaddingMask"/> [N, S] as <see cref="MultiheadAttention.Forward(Tensor, Tensor, Tensor, Tensor?, bool, Tensor?, bool, bool)"/>'s
    /// (bool true = not allowed); <paramref name="isCausal"/> masks the future when no mask is given.
    /// </summary>
    public Tensor Forward(Tensor src, Tensor? srcMask, Tensor? srcKeyPaddingMask = null, bool isCausal = false)
    {
        ArgumentNullException.ThrowIfNull(src);
        TransformerParts.CheckInput(nameof(TransformerEncoderLayer), "src", src, DModel, BatchFirst);
        var x = src;
        if (NormFirst)
        {
            x = x + SelfAttention(Norm1.Forward(x), srcMask, srcKeyPaddingMask, isCausal);
            x = x + FeedForward(Norm2.Forward(x));
        }
        else
        {
            x = Norm1.Forward(x + SelfAttention(x, srcMask, srcKeyPaddingMask, isCausal));
            x = Norm2.Forward(x + FeedForward(x));
        }
        return x;
    }

    /// <summary>A new layer of the same configuration on the same device holding a copy of this one's parameters (PyTorch's deepcopy).</summary>
    public TransformerEncoderLayer Clone()
    {
        var copy = new TransformerEncoderLayer(device, DModel, NHead, DimFeedforward, DropoutP, Activation, LayerNormEps,
            BatchFirst, NormFirst);
        copy.LoadStateDict(StateDict());
        copy.Train(Training);
        return copy;
    }

    private Tensor SelfAttention(Tensor x, Tensor? mask, Tensor? keyPaddingMask, bool isCausal) =>
        Dropout1.Forward(SelfAttn.Forward(x, x, x, keyPaddingMask, needWeights: false, attnMask: mask,
            isCausal: isCausal).Output);

    private Tensor FeedForward(Tensor x) =>
        Dropout2.Forward(Linear2.Forward(Dropout.Forward(TransformerParts.Activate(Activation, Linear1.Forward(x)))));
}

/// <summary>
/// One decoder block, as <c>torch.nn.TransformerDecoderLayer</c>: self-attention over the target, attention over the
/// encoder's output (memory), and a feed-forward network, each with a residual connection and layer norm. Post-norm:
/// x = norm1(x + SA(x)); x = norm2(x + MHA(x, mem)); x = norm3(x + FF(x)); pre-norm (<c>normFirst</c>) applies each norm
/// to the branch's input instead. Children: <c>self_attn</c>, <c>multihead_attn</c>, <c>linear1</c>, <c>dropout</c>,
/// <c>linear2</c>, <c>norm1</c> … <c>norm3</c>, <c>dropout1</c> … <c>dropout3</c>.
/// </summary>
public sealed class TransformerDecoderLayer : Module
{
    private readonly Device device;

    public TransformerDecoderLayer(Device device, int dModel, int nhead, int dimFeedforward = 2048, float dropout = 0.1f,
        string activation = "relu", float layerNormEps = 1e-5f, bool batchFirst = false, bool normFirst = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        TransformerParts.CheckArguments(nameof(TransformerDecoderLayer), dModel, nhead, dimFeedforward, activation);
        this.device = device;
        (DModel, NHead, DimFeedforward, DropoutP, Activation, LayerNormEps, BatchFirst, NormFirst) =
            (dModel, nhead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst);
        SelfAttn = RegisterModule("self_attn", new MultiheadAttention(device, dModel, nhead, dropout, batchFirst: batchFirst));
        MultiheadAttn = RegisterModule("multihead_attn",
            new MultiheadAttention(device, dModel, nhead, dropout, batchFirst: batchFirst));
        SelfAttn.Label = $"{nameof(TransformerDecoderLayer)}.self_attn (MultiheadAttention)";
        MultiheadAttn.Label = $"{nameof(TransformerDecoderLayer)}.multihead_attn (MultiheadAttention)";
        Linear1 = RegisterModule("linear1", new Linear(device, dModel, dimFeedforward));
        Dropout = RegisterModule("dropout", new Dropout(dropout));
        Linear2 = RegisterModule("linear2", new Linear(device, dimFeedforward, dModel));
        Norm1 = RegisterModule("norm1", new LayerNorm(device, dModel, layerNormEps));
        Norm2 = RegisterModule("norm2", new LayerNorm(device, dModel, layerNormEps));
        Norm3 = RegisterModule("norm3", new LayerNorm(device, dModel, layerNormEps));
        Dropout1 = RegisterModule("dropout1", new Dropout(dropout));
        Dropout2 = RegisterModule("dropout2", new Dropout(dropout));
        Dropout3 = RegisterModule("dropout3", new Dropout(dropout));
    }

    public int DModel { get; }
    public int NHead { get; }
    public int DimFeedforward { get; }
    public float DropoutP { get; }
    public string Activation { get; }
    public float LayerNormEps { get; }
    public bool BatchFirst { get; }
    public bool NormFirst { get; }

    public MultiheadAttention SelfAttn { get; }
    public MultiheadAttention MultiheadAttn { get; }
    public Linear Linear1 { get; }
    public Dropout Dropout { get; }
    public Linear Linear2 { get; }
    public LayerNorm Norm1 { get; }
    public LayerNorm Norm2 { get; }
    public LayerNorm Norm3 { get; }
    public Dropout Dropout1 { get; }
    public Dropout Dropout2 { get; }
    public Dropout Dropout3 { get; }

    /// <summary>The block with the input as its own memory (there is no encoder output to attend to).</summary>
    public override Tensor Forward(Tensor input) => Forward(input, input);

    /// <summary>
    /// The block over <paramref name="tgt"/> [T, N, E] attending to <paramref name="memory"/> [S, N, E] (batch first with
    /// batchFirst); <paramref name="tgtMask"/> [T, T], <paramref name="memoryMask"/> [T, S] and the key padding masks
    /// [N, T], [N, S] as <see cref="MultiheadAttention"/>'s (bool true = not allowed).
    /// </summary>
    public Tensor Forward(Tensor tgt, Tensor memory, Tensor? tgtMask = null, Tensor? memoryMask = null,
        Tensor? tgtKeyPaddingMask = null, Tensor? memoryKeyPaddingMask = null, bool tgtIsCausal = false,
        bool memoryIsCausal = false)
    {
        ArgumentNullException.ThrowIfNull(tgt);
        ArgumentNullException.ThrowIfNull(memory);
        TransformerParts.CheckInput(nameof(TransformerDecoderLayer), "tgt", tgt, DModel, BatchFirst);
        TransformerParts.CheckInput(nameof(TransformerDecoderLayer), "memory", memory, DModel, BatchFirst);
        var x = tgt;
        if (NormFirst)
        {
            x = x + SelfAttention(Norm1.Forward(x), tgtMask, tgtKeyPaddingMask, tgtIsCausal);
            x = x + CrossAttention(Norm2.Forward(x), memory, memoryMask, memoryKeyPaddingMask, memoryIsCausal);
            x = x + FeedForward(Norm3.Forward(x));
        }
        else
        {
            x = Norm1.Forward(x + SelfAttention(x, tgtMask, tgtKeyPaddingMask, tgtIsCausal));
            x = Norm2.Forward(x + CrossAttention(x, memory, memoryMask, memoryKeyPaddingMask, memoryIsCausal));
            x = Norm3.Forward(x + FeedForward(x));
        }
        return x;
    }

    /// <summary>A new layer of the same configuration holding a copy of this one's parameters (PyTorch's deepcopy).</summary>
    public TransformerDecoderLayer Clone()
    {
        var copy = new TransformerDecoderLayer(device, DModel, NHead, DimFeedforward, DropoutP, Activation, LayerNormEps,
            BatchFirst, NormFirst);
        copy.LoadStateDict(StateDict());
        copy.Train(Training);
        return copy;
    }

    private Tensor SelfAttention(Tensor x, Tensor? mask, Tensor? keyPaddingMask, bool isCausal) =>
        Dropout1.Forward(SelfAttn.Forward(x, x, x, keyPaddingMask, needWeights: false, attnMask: mask,
            isCausal: isCausal).Output);

    private Tensor CrossAttention(Tensor x, Tensor memory, Tensor? mask, Tensor? keyPaddingMask, bool isCausal) =>
        Dropout2.Forward(MultiheadAttn.Forward(x, memory, memory, keyPaddingMask, needWeights: false, attnMask: mask,
            isCausal: isCausal).Output);

    private Tensor FeedForward(Tensor x) =>
        Dropout3.Forward(Linear2.Forward(Dropout.Forward(TransformerParts.Activate(Activation, Linear1.Forward(x)))));
}

/// <summary>
/// A stack of encoder layers, as <c>torch.nn.TransformerEncoder</c>: <c>layers</c> (a <see cref="ModuleList{TModule}"/>,
/// so parameters read <c>layers.0.self_attn.in_proj_weight</c>, …) applied in order, then the optional <c>norm</c>.
/// </summary>
public sealed class TransformerEncoder : Module
{
    /// <summary>
    /// <paramref name="numLayers"/> copies of <paramref name="encoderLayer"/>, as PyTorch's deepcopy: every layer starts
    /// with the same parameters (the given layer itself is not part of the stack).
    /// </summary>
    public TransformerEncoder(TransformerEncoderLayer encoderLayer, int numLayers, LayerNorm? norm = null)
        : this(Copies(encoderLayer, numLayers), norm)
    {
    }

    /// <summary><paramref name="numLayers"/> layers made by <paramref name="layerFactory"/> (each initialised afresh).</summary>
    public TransformerEncoder(Func<TransformerEncoderLayer> layerFactory, int numLayers, LayerNorm? norm = null)
        : this(Made(layerFactory, numLayers), norm)
    {
    }

    private TransformerEncoder(IEnumerable<TransformerEncoderLayer> layers, LayerNorm? norm)
    {
        Layers = RegisterModule("layers", new ModuleList<TransformerEncoderLayer>(layers));
        if (norm != null) Norm = RegisterModule("norm", norm);
    }

    public ModuleList<TransformerEncoderLayer> Layers { get; }
    public LayerNorm? Norm { get; }
    public int NumLayers => Layers.Count;

    /// <summary>
    /// Activation checkpointing while training: every run of this many layers is one
    /// <see cref="ActivationCheckpoint"/> segment (its activations recomputed in backward); 0, the default, keeps them
    /// all.
    /// </summary>
    public int CheckpointEvery
    {
        get => checkpointEvery;
        set => checkpointEvery = value >= 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), $"TransformerEncoder: CheckpointEvery must be ≥ 0, got {value}.");
    }

    private int checkpointEvery;

    public override Tensor Forward(Tensor input) => Forward(input, null);

    /// <summary>Each layer's <see cref="TransformerEncoderLayer.Forward(Tensor, Tensor?, Tensor?, bool)"/> with the same masks, then the norm.</summary>
    public Tensor Forward(Tensor src, Tensor? mask, Tensor? srcKeyPaddingMask = null, bool isCausal = false)
    {
        var x = src;
        int every = Training ? checkpointEvery : 0;
        int step = every == 0 ? Layers.Count : every;
        for (int first = 0; first < Layers.Count; first += step)
        {
            int end = Math.Min(first + step, Layers.Count), from = first;
            Tensor Segment(Tensor h)
            {
                for (int i = from; i < end; i++) h = Layers[i].Forward(h, mask, srcKeyPaddingMask, isCausal);
                return h;
            }
            x = every == 0 ? Segment(x) : ActivationCheckpoint.Run(t => Segment(t[0]), x);
        }
        return Norm == null ? x : Norm.Forward(x);
    }

    private static IEnumerable<TransformerEncoderLayer> Copies(TransformerEncoderLayer layer, int count)
    {
        ArgumentNullException.ThrowIfNull(layer);
        TransformerParts.CheckCount(nameof(TransformerEncoder), count);
        return Enumerable.Range(0, count).Select(_ => layer.Clone()).ToList();
    }

    private static IEnumerable<TransformerEncoderLayer> Made(Func<TransformerEncoderLayer> factory, int count)
    {
        ArgumentNullException.ThrowIfNull(factory);
        TransformerParts.CheckCount(nameof(TransformerEncoder), count);
        return Enumerable.Range(0, count).Select(_ => factory()).ToList();
    }
}

/// <summary>
/// A stack of decoder layers, as <c>torch.nn.TransformerDecoder</c>: <c>layers.0…</c> applied in order to the target
/// with the same memory and masks, then the optional <c>norm</c>.
/// </summary>
public sealed class TransformerDecoder : Module
{
    /// <summary><paramref name="numLayers"/> copies of <paramref name="decoderLayer"/> (PyTorch's deepcopy: equal at the start).</summary>
    public TransformerDecoder(TransformerDecoderLayer decoderLayer, int numLayers, LayerNorm? norm = null)
    {
        ArgumentNullException.ThrowIfNull(decoderLayer);
        TransformerParts.CheckCount(nameof(TransformerDecoder), numLayers);
        Layers = RegisterModule("layers",
            new ModuleList<TransformerDecoderLayer>(Enumerable.Range(0, numLayers).Select(_ => decoderLayer.Clone())));
        if (norm != null) Norm = RegisterModule("norm", norm);
    }

    /// <summary><paramref name="numLayers"/> layers made by <paramref name="layerFactory"/> (each initialised afresh).</summary>
    public TransformerDecoder(Func<TransformerDecoderLayer> layerFactory, int numLayers, LayerNorm? norm = null)
    {
        ArgumentNullException.ThrowIfNull(layerFactory);
        TransformerParts.CheckCount(nameof(TransformerDecoder), numLayers);
        Layers = RegisterModule("layers",
            new ModuleList<TransformerDecoderLayer>(Enumerable.Range(0, numLayers).Select(_ => layerFactory())));
        if (norm != null) Norm = RegisterModule("norm", norm);
    }

    public ModuleList<TransformerDecoderLayer> Layers { get; }
    public LayerNorm? Norm { get; }

    /// <summary>The stack with the input as its own memory.</summary>
    public override Tensor Forward(Tensor input) => Forward(input, input);

    public Tensor Forward(Tensor tgt, Tensor memory, Tensor? tgtMask = null, Tensor? memoryMask = null,
        Tensor? tgtKeyPaddingMask = null, Tensor? memoryKeyPaddingMask = null, bool tgtIsCausal = false,
        bool memoryIsCausal = false)
    {
        var x = tgt;
        foreach (var layer in Layers)
            x = layer.Forward(x, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal,
                memoryIsCausal);
        return Norm == null ? x : Norm.Forward(x);
    }
}

/// <summary>The argument checks and activations the transformer layers share.</summary>
internal static class TransformerParts
{
    public static void CheckArguments(string module, int dModel, int nhead, int dimFeedforward, string activation)
    {
        if (dModel < 1 || nhead < 1 || dimFeedforward < 1)
            throw new ArgumentOutOfRangeException(nameof(dModel),
                $"{module}: d_model, nhead and dim_feedforward must be ≥ 1, got {dModel}, {nhead}, {dimFeedforward}.");
        if (dModel % nhead != 0)
            throw new ArgumentException($"{module}: d_model {dModel} is not divisible by nhead {nhead}.", nameof(nhead));
        if (activation is not ("relu" or "gelu"))
            throw new ArgumentException($"{module}: activation must be \"relu\" or \"gelu\", got \"{activation}\".",
                nameof(activation));
    }

    public static void CheckCount(string module, int numLayers)
    {
        if (numLayers < 1)
            throw new ArgumentOutOfRangeException(nameof(numLayers), $"{module}: num_layers must be ≥ 1, got {numLayers}.");
    }

    public static void CheckInput(string module, string name, Tensor x, int dModel, bool batchFirst)
    {
        if (x.Rank is not (2 or 3) || x.Shape[^1] != dModel)
            throw new ArgumentException(
                $"{module}: {name} must be {(batchFirst ? "[N, S, E]" : "[S, N, E]")} or unbatched [S, E] with E = d_model " +
                $"{dModel}, got {Shapes.Format(x.Shape)}.");
    }

    public static Tensor Activate(string activation, Tensor x) => activation == "gelu" ? x.Gelu() : x.Relu();
}
