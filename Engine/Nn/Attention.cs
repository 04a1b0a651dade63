namespace Engine.Nn;

/// <summary>
/// Multi-head attention, as <c>torch.nn.MultiheadAttention</c>: with E = embed_dim, H = num_heads and d = E / H,
/// Q = query·W_qᵀ + b_q, K = key·W_kᵀ + b_k, V = value·W_vᵀ + b_v are split into H heads of width d,
/// headᵢ = softmax(QᵢKᵢᵀ/√d + mask)·Vᵢ, and the output is concat(head₁ … head_H)·W_oᵀ + b_o.
/// </summary>
/// <remarks>
/// <para>Parameters and state-dict names as PyTorch's: <c>in_proj_weight</c> [3E, E] (W_q, W_k, W_v stacked) and
/// <c>in_proj_bias</c> [3E] when key and value have width E; <c>q_proj_weight</c> [E, E], <c>k_proj_weight</c> [E, kdim],
/// <c>v_proj_weight</c> [E, vdim] (and <c>in_proj_bias</c>) when <c>kdim</c> or <c>vdim</c> differ; <c>out_proj</c>, a
/// <see cref="Linear"/> (E → E). Initialisation as PyTorch's: xavier_uniform on the input projections, zeros on both
/// biases, out_proj.weight as a Linear's.</para>
/// <para>Layouts: [L, N, E] (sequence first, PyTorch's default) or [N, L, E] with <c>batchFirst</c>, or unbatched [L, E].
/// Masks follow nn.MultiheadAttention's convention, the inverse of scaled_dot_product_attention's: a bool
/// <c>key_padding_mask</c> [N, S] or <c>attn_mask</c> [L, S] / [N·H, L, S] is true where attention is NOT allowed; a
/// float mask is added to the scores (−∞ forbids). Rows of [N·H, L, S] are ordered batch-major (n·H + h), as PyTorch's.</para>
/// </remarks>
public sealed class MultiheadAttention : Module
{
    private readonly Tensor? inProjWeight, qProjWeight, kProjWeight, vProjWeight, inProjBias;

    /// <summary>
    /// An attention layer of <paramref name="numHeads"/> heads over width <paramref name="embedDim"/> (which the heads
    /// must divide); <paramref name="dropout"/> drops attention weights in training; <paramref name="kdim"/> and
    /// <paramref name="vdim"/> are the key's and value's widths (default E). <paramref name="seed"/> names the random
    /// stream of the initialisation; null takes the next seed of <see cref="Generator"/>.
    /// </summary>
    public MultiheadAttention(Device device, int embedDim, int numHeads, float dropout = 0f, bool bias = true,
        bool batchFirst = false, int? kdim = null, int? vdim = null, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (embedDim < 1 || numHeads < 1)
            throw new ArgumentOutOfRangeException(nameof(embedDim),
                $"MultiheadAttention: embed_dim and num_heads must be ≥ 1, got {embedDim} and {numHeads}.");
        if (embedDim % numHeads != 0)
            throw new ArgumentException(
                $"MultiheadAttention: embed_dim {embedDim} is not divisible by num_heads {numHeads}.", nameof(numHeads));
        if (!(dropout >= 0f && dropout < 1f))
            throw new ArgumentOutOfRangeException(nameof(dropout),
                $"MultiheadAttention: dropout must be in [0, 1), got {dropout}.");
        if (kdim is < 1 || vdim is < 1)
            throw new ArgumentOutOfRangeException(nameof(kdim),
                $"MultiheadAttention: kdim and vdim must be ≥ 1, got {kdim} and {vdim}.");
        EmbedDim = embedDim;
        NumHeads = numHeads;
        HeadDim = embedDim / numHeads;
        DropoutP = dropout;
        BatchFirst = batchFirst;
        KDim = kdim ?? embedDim;
        VDim = vdim ?? embedDim;
        int stream = Generator.SeedOrNext(seed);
        // Each tensor draws from its own stream derived from the layer's, so no two share numbers.
        int Derived(int k) => unchecked(stream * 31 + k);
        if (KDim == embedDim && VDim == embedDim)
        {
            inProjWeight = RegisterParameter("in_proj_weight",
                Init.XavierUniform(Tensor.Uninitialized(device, new[] { 3 * embedDim, embedDim }), seed: stream));
        }
        else
        {
            qProjWeight = RegisterParameter("q_proj_weight",
                Init.XavierUniform(Tensor.Uninitialized(device, new[] { embedDim, embedDim }), seed: stream));
            kProjWeight = RegisterParameter("k_proj_weight",
                Init.XavierUniform(Tensor.Uninitialized(device, new[] { embedDim, KDim }), seed: Derived(1)));
            vProjWeight = RegisterParameter("v_proj_weight",
                Init.XavierUniform(Tensor.Uninitialized(device, new[] { embedDim, VDim }), seed: Derived(2)));
        }
        if (bias) inProjBias = RegisterParameter("in_proj_bias", Tensor.Zeros(device, new[] { 3 * embedDim }));
        OutProj = RegisterModule("out_proj", new Linear(device, embedDim, embedDim, bias, seed: Derived(3)));
        if (OutProj.Bias != null) Init.Zeros(OutProj.Bias);
    }

    public int EmbedDim { get; }
    public int NumHeads { get; }

    /// <summary>Each head's width, E / H.</summary>
    public int HeadDim { get; }

    public float DropoutP { get; }
    public bool BatchFirst { get; }
    public int KDim { get; }
    public int VDim { get; }

    /// <summary>W_q, W_k, W_v stacked [3E, E]; null when kdim or vdim differ from E (then the three are separate).</summary>
    public Tensor? InProjWeight => inProjWeight;

    public Tensor? QProjWeight => qProjWeight;
    public Tensor? KProjWeight => kProjWeight;
    public Tensor? VProjWeight => vProjWeight;

    /// <summary>b_q, b_k, b_v stacked [3E]; null without bias.</summary>
    public Tensor? InProjBias => inProjBias;

    public Linear OutProj { get; }

    /// <summary>How errors name this layer: "MultiheadAttention", or its place in a transformer layer.</summary>
    internal string Label { get; set; } = nameof(MultiheadAttention);

    /// <summary>Self-attention: the output of <c>Forward(input, input, input, needWeights: false)</c>.</summary>
    public override Tensor Forward(Tensor input) => Forward(input, input, input, needWeights: false).Output;

    /// <summary>
    /// Attention of <paramref name="query"/> over <paramref name="key"/> and <paramref name="value"/>, as
    /// <c>MultiheadAttention.forward</c>: query [L, N, E], key [S, N, kdim], value [S, N, vdim] ([N, L, E] … with
    /// batchFirst; [L, E] … unbatched) → output like query, and, when <paramref name="needWeights"/>, the attention
    /// weights [N, L, S] averaged over heads (or [N, H, L, S] with <paramref name="averageAttnWeights"/> false; after
    /// dropout, as PyTorch returns them).
    /// </summary>
    /// <param name="query">[L, N, E] ([N, L, E] with batchFirst, [L, E] unbatched).</param>
    /// <param name="key">[S, N, kdim] (likewise).</param>
    /// <param name="value">[S, N, vdim] (likewise).</param>
    /// <param name="needWeights">return the attention weights too (false takes the fused path when there is no mask).</param>
    /// <param name="averageAttnWeights">average the weights over the heads ([N, L, S]) rather than per head ([N, H, L, S]).</param>
    /// <param name="keyPaddingMask">[N, S] ([S] unbatched): bool true = that key is padding and ignored; float = added.</param>
    /// <param name="attnMask">[L, S] or [N·H, L, S]: bool true = NOT allowed to attend; float = added to the scores.</param>
    /// <param name="isCausal">without <paramref name="attnMask"/>, query i attends to keys 0 … i only; with one, a hint
    /// that it is causal (as PyTorch 2's), and the mask given is the one applied.</param>
    /// <remarks>
    /// Without weights or masks the heads run through <see cref="Tensor.ScaledDotProductAttention"/>'s fused kernels
    /// (memory linear in L and S); weights are computed by the composition matmul, softmax, matmul.
    /// </remarks>
    public (Tensor Output, Tensor? Weights) Forward(Tensor query, Tensor key, Tensor value,
        Tensor? keyPaddingMask = null, bool needWeights = true, Tensor? attnMask = null, bool averageAttnWeights = true,
        bool isCausal = false)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        bool batched = CheckShapes(query, key, value);
        int e = EmbedDim, h = NumHeads, d = HeadDim;
        // To [N, L, E] / [N, S, kdim] / [N, S, vdim].
        Tensor BatchMajor(Tensor t) => !batched ? t.Unsqueeze(0) : BatchFirst ? t : t.Transpose(0, 1);
        bool self = ReferenceEquals(query, key) && ReferenceEquals(key, value);
        var x = BatchMajor(query);
        int n = x.Shape[0], l = x.Shape[1];
        int s = batched ? key.Shape[BatchFirst ? 1 : 0] : key.Shape[0];
        var mask = CombinedMask(query.Device, attnMask, keyPaddingMask, batched, n, l, s);

        Tensor q, k, v;
        if (self && inProjWeight != null)
        {
            var qkv = Tensor.Linear(x, inProjWeight, inProjBias).Chunk(3, -1);
            (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        }
        else
        {
            Tensor? Bias(int part) => inProjBias?.Narrow(0, part * e, e);
            Tensor Weight(int part, Tensor? separate) => separate ?? inProjWeight!.Narrow(0, part * e, e);
            q = Tensor.Linear(x, Weight(0, qProjWeight), Bias(0));
            k = Tensor.Linear(BatchMajor(key), Weight(1, kProjWeight), Bias(1));
            v = Tensor.Linear(BatchMajor(value), Weight(2, vProjWeight), Bias(2));
        }
        // [N, T, E] → [N, H, T, d]: head h takes columns h·d … h·d + d − 1, as PyTorch's view(T, N·H, d).
        Tensor Heads(Tensor t) => t.Reshape(n, t.Shape[1], h, d).Transpose(1, 2);
        (q, k, v) = (Heads(q), Heads(k), Heads(v));

        float dropoutP = Training ? DropoutP : 0f;
        bool causal = isCausal && attnMask == null;
        if (causal && (mask != null || needWeights))
        {
            using (Autograd.NoGrad())
            {
                var future = Tensor.Ones(query.Device, new[] { l, s }).Triu(1).Ne(0f);
                var causalMask = Tensor.Zeros(query.Device, new[] { l, s }).MaskedFill(future, float.NegativeInfinity);
                mask = mask == null ? causalMask : mask + causalMask;
            }
            causal = false;
        }
        Tensor heads;
        Tensor? weights = null;
        if (!needWeights)
        {
            // NOTE: scaled_dot_product_attention accepts only masks its fast broadcast kernels can read (leading or
            // trailing blocks), so a [N, 1, L, S] padding mask is expanded to the scores' shape first.
            if (mask != null && !mask.Shape.SequenceEqual(new[] { n, h, l, s }) && mask.Rank != 2)
                mask = mask.Expand(n, h, l, s);
            heads = Tensor.ScaledDotProductAttention(q, k, v, mask, dropoutP, causal);
        }
        else
        {
            var scores = q.MatMul(k.Transpose(-2, -1)) * (1f / MathF.Sqrt(d));
            if (mask != null) scores = scores + mask;
            weights = scores.Softmax(-1);
            if (dropoutP > 0f) weights = weights.DropoutWithSeed(dropoutP, unchecked((uint)Generator.NextSeed()));
            heads = weights.MatMul(v);
        }
        var output = OutProj.Forward(heads.Transpose(1, 2).Reshape(n, l, e));
        output = !batched ? output.Squeeze(0) : BatchFirst ? output : output.Transpose(0, 1);
        if (weights != null)
        {
            if (averageAttnWeights) weights = weights.Mean(1);
            if (!batched) weights = weights.Squeeze(0);
        }
        return (output, weights);
    }

    /// <summary>Checks the operands' layouts; true when batched (rank 3), false when unbatched (rank 2).</summary>
    private bool CheckShapes(Tensor query, Tensor key, Tensor value)
    {
        string layout = BatchFirst ? "[N, L, E]" : "[L, N, E]";
        string Describe() =>
            $"query {Shapes.Format(query.Shape)}, key {Shapes.Format(key.Shape)}, value {Shapes.Format(value.Shape)}";
        if (query.Rank is not (2 or 3) || key.Rank != query.Rank || value.Rank != query.Rank)
            throw new ArgumentException(
                $"{Label}: expected query, key and value of rank 3 ({layout}) or 2 (unbatched [L, E]), got " +
                $"{Describe()}.");
        if (query.Shape[^1] != EmbedDim || key.Shape[^1] != KDim || value.Shape[^1] != VDim)
            throw new ArgumentException(
                $"{Label}: the last axes must be embed_dim {EmbedDim}, kdim {KDim} and vdim {VDim}; got " +
                $"{Describe()}.");
        bool batched = query.Rank == 3;
        int seqAxis = batched && BatchFirst ? 1 : 0;
        if (key.Shape[seqAxis] != value.Shape[seqAxis])
            throw new ArgumentException(
                $"{Label}: key and value must have the same number of positions S; got {Describe()}.");
        if (batched)
        {
            int batchAxis = BatchFirst ? 0 : 1;
            if (key.Shape[batchAxis] != query.Shape[batchAxis] || value.Shape[batchAxis] != query.Shape[batchAxis])
                throw new ArgumentException(
                    $"{Label}: query, key and value must have the same batch size N ({layout}); got " +
                    $"{Describe()}.");
        }
        return batched;
    }

    /// <summary>
    /// The masks as one float mask added to the [N, H, L, S] scores (−∞ where a bool mask is true), shaped to broadcast;
    /// null without masks.
    /// </summary>
    private Tensor? CombinedMask(Device device, Tensor? attnMask, Tensor? keyPaddingMask, bool batched, int n, int l,
        int s)
    {
        Tensor? mask = null;
        using var noGrad = Autograd.NoGrad();
        if (attnMask != null)
        {
            CheckMaskType("attn_mask", attnMask);
            int rows = batched ? n * NumHeads : NumHeads;
            if (attnMask.Rank == 2 && attnMask.Shape[0] == l && attnMask.Shape[1] == s)
                mask = Additive(device, attnMask);
            else if (attnMask.Rank == 3 && attnMask.Shape[0] == rows && attnMask.Shape[1] == l && attnMask.Shape[2] == s)
                mask = Additive(device, attnMask).Reshape(batched ? n : 1, NumHeads, l, s);
            else
                throw new ArgumentException(
                    $"{Label}: attn_mask must be [L, S] = [{l}, {s}] or [N·num_heads, L, S] = " +
                    $"[{rows}, {l}, {s}], got {Shapes.Format(attnMask.Shape)}.");
        }
        if (keyPaddingMask != null)
        {
            CheckMaskType("key_padding_mask", keyPaddingMask);
            var expected = batched ? new[] { n, s } : new[] { s };
            if (!keyPaddingMask.Shape.SequenceEqual(expected))
                throw new ArgumentException(
                    $"{Label}: key_padding_mask must be {(batched ? "[N, S]" : "[S]")} = " +
                    $"{Shapes.Format(expected)}, got {Shapes.Format(keyPaddingMask.Shape)}.");
            var padding = Additive(device, keyPaddingMask).Reshape(batched ? n : 1, 1, 1, s);
            mask = mask == null ? padding : mask + padding;
        }
        return mask;
    }

    private void CheckMaskType(string name, Tensor mask)
    {
        if (mask.DType is not (DType.Bool or DType.Float32))
            throw new ArgumentException(
                $"{Label}: {name} must be bool or float32, got {mask.DType.Name()} of shape " +
                $"{Shapes.Format(mask.Shape)}.");
    }

    /// <summary>A bool mask (true = not allowed) as 0 / −∞; a float mask as it is.</summary>
    private static Tensor Additive(Device device, Tensor mask) =>
        mask.DType == DType.Bool
            ? Tensor.Zeros(device, mask.Shape).MaskedFill(mask, float.NegativeInfinity)
            : mask;
}
