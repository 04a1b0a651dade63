using Engine.Kernels;

namespace Engine;

/// <summary>
/// Scaled dot-product attention, as <c>torch.nn.functional.scaled_dot_product_attention</c>.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>
    /// softmax(scale·Q·Kᵀ + mask)·V over the last two axes: <paramref name="query"/> [*, L, E], <paramref name="key"/>
    /// [*, S, E], <paramref name="value"/> [*, S, Ev] → [*, L, Ev] (the leading axes equal, or broadcast as
    /// <c>matmul</c>'s). <paramref name="attnMask"/> (broadcast to [*, L, S]) is bool (true = the key takes part) or
    /// float (added to the scores); <paramref name="isCausal"/> lets query i see keys 0 … i only (the top-left
    /// triangle, as torch); <paramref name="scale"/> defaults to 1/√E; <paramref name="dropoutP"/> drops attention
    /// weights (training use: pass 0 at evaluation, as torch's caller does).
    /// </summary>
    /// <remarks>
    /// Without a mask or dropout (the causal case included) it runs fused kernels: the forward streams over key blocks
    /// with the online softmax (FlashAttention), keeping one row maximum and one log-sum-exp per query instead of the
    /// [L, S] weights; the backward recomputes each block's weights from those. Memory is linear in L and S. With an
    /// explicit mask or dropout it runs the composition of matmul, mask, softmax, dropout and matmul, which is also
    /// the fused kernels' reference (<see cref="UnfusedAttention"/>).
    /// </remarks>
    public static Tensor ScaledDotProductAttention(Tensor query, Tensor key, Tensor value, Tensor? attnMask = null,
        float dropoutP = 0f, bool isCausal = false, float? scale = null)
    {
        const string op = "scaled_dot_product_attention";
        CheckOperands(op, query, key, value);
        if (attnMask != null) CheckOperandsAnyType(op, query, attnMask);
        if (query.Rank < 2 || key.Rank < 2 || value.Rank < 2)
            throw new ArgumentException(
                $"{op}: query, key and value need at least 2 axes ([*, L, E], [*, S, E], [*, S, Ev]); got " +
                $"{Shapes.Format(query.shape)}, {Shapes.Format(key.shape)}, {Shapes.Format(value.shape)}.");
        int l = query.shape[^2], e = query.shape[^1], s = key.shape[^2], ev = value.shape[^1];
        if (key.shape[^1] != e)
            throw new ArgumentException(
                $"{op}: query {Shapes.Format(query.shape)} and key {Shapes.Format(key.shape)} differ in the last axis " +
                $"(E = {e} and {key.shape[^1]}).");
        if (value.shape[^2] != s)
            throw new ArgumentException(
                $"{op}: key {Shapes.Format(key.shape)} has {s} positions but value {Shapes.Format(value.shape)} has " +
                $"{value.shape[^2]}.");
        if (!(dropoutP >= 0f && dropoutP < 1f))
            throw new ArgumentOutOfRangeException(nameof(dropoutP), $"{op}: dropout_p must be in [0, 1), got {dropoutP}.");
        if (isCausal && attnMask != null)
            throw new ArgumentException($"{op}: give either attn_mask or is_causal, not both (as torch).");
        if (scale is { } given && !float.IsFinite(given))
            throw new ArgumentOutOfRangeException(nameof(scale), $"{op}: scale must be finite, got {given}.");
        var batch = Shapes.BroadcastShape(op, Shapes.BroadcastShape(op, query.shape[..^2], key.shape[..^2]),
            value.shape[..^2]);
        if (attnMask != null)
        {
            if (attnMask.DType is not (DType.Bool or DType.Float32))
                throw new ArgumentException($"{op}: attn_mask must be bool or float32, got {attnMask.DType.Name()}.");
            var scores = batch.Append(l).Append(s).ToArray();
            if (attnMask.Rank > scores.Length ||
                attnMask.shape.Reverse().Zip(scores.Reverse()).Any(p => p.First != 1 && p.First != p.Second))
                throw new ArgumentException(
                    $"{op}: attn_mask of shape {Shapes.Format(attnMask.shape)} does not broadcast to the scores' shape " +
                    $"{Shapes.Format(scores)} ([*, L, S]).");
        }
        float factor = scale ?? 1f / MathF.Sqrt(e);
        if (attnMask != null || dropoutP > 0f)
            return UnfusedAttention(query, key, value, attnMask, dropoutP, isCausal, factor,
                dropoutP > 0f ? unchecked((uint)Generator.NextSeed()) : 0u);
        return FusedAttention(op, query, key, value, batch, isCausal, factor);
    }

    /// <summary>
    /// The composition attention is defined by: softmax(scale·Q·Kᵀ masked)·V with the [*, L, S] weights in memory.
    /// The reference the fused kernels are tested against, and the path for explicit masks and dropout.
    /// </summary>
    internal static Tensor UnfusedAttention(Tensor query, Tensor key, Tensor value, Tensor? attnMask, float dropoutP,
        bool isCausal, float scale, uint dropoutSeed)
    {
        int l = query.shape[^2], s = key.shape[^2];
        var scores = query.MatMul(key.Transpose(-2, -1)) * scale;
        if (isCausal)
            scores = Where(Ones(query.Device, new[] { l, s }).Tril().Ne(0f), scores, float.NegativeInfinity);
        if (attnMask != null)
            scores = attnMask.DType == DType.Bool ? Where(attnMask, scores, float.NegativeInfinity) : scores + attnMask;
        var weights = scores.Softmax(-1);
        if (dropoutP > 0f) weights = weights.DropoutWithSeed(dropoutP, dropoutSeed);
        return weights.MatMul(value);
    }

    /// <summary>The fused kernels over [items, L, E] operands (batch axes broadcast by copying first).</summary>
    private static Tensor FusedAttention(string op, Tensor query, Tensor key, Tensor value, int[] batch, bool causal,
        float scale)
    {
        int l = query.shape[^2], e = query.shape[^1], s = key.shape[^2], ev = value.shape[^1];
        var q = query.shape[..^2].SequenceEqual(batch) ? query : query.Expand(batch.Append(l).Append(e).ToArray());
        var k = key.shape[..^2].SequenceEqual(batch) ? key : key.Expand(batch.Append(s).Append(e).ToArray());
        var v = value.shape[..^2].SequenceEqual(batch) ? value : value.Expand(batch.Append(s).Append(ev).ToArray());
        var shape = new AttentionShape(Shapes.Numel(batch), l, s, e, ev, scale, causal ? 1 : 0);
        var output = Uninitialized(query.Device, batch.Append(l).Append(ev).ToArray());
        var device = query.Device;
        var kernels = device.Kernels;
        var stats = device.Pool.Rent<float>(Math.Max(1, 2 * shape.Items * l));
        kernels.AttentionForward(q.Elements, k.Elements, v.Elements, output.Elements, stats.View, shape);
        return Record(output, op, new[] { q, k, v }, dOut =>
        {
            var none = stats.View.SubView(0, 0);
            kernels.AttentionBackward(q.Elements, k.Elements, v.Elements, output.Elements, dOut, stats.View,
                q.requiresGrad ? q.GradTarget() : none, k.requiresGrad ? k.GradTarget() : none,
                v.requiresGrad ? v.GradTarget() : none, shape);
        }, onRelease: () => device.Pool.Return(stats));
    }
}
