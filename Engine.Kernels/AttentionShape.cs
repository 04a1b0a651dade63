namespace Engine.Kernels;

/// <summary>
/// The operands of the fused attention kernels: <see cref="Items"/> independent heads (batch × heads), each with Q
/// [L, E], K [S, E], V [S, Ev], O [L, Ev] row-major and packed one head after another, and one log-sum-exp per query
/// ([Items, L]) kept by the forward for the backward. Query i of a causal head sees keys j ≤ i (torch's top-left
/// triangle).
/// </summary>
public readonly struct AttentionShape
{
    public AttentionShape(int items, int queries, int keys, int headDim, int valueDim, float scale, int causal)
    {
        Items = items;
        Queries = queries;
        Keys = keys;
        HeadDim = headDim;
        ValueDim = valueDim;
        Scale = scale;
        Causal = causal;
    }

    /// <summary>Heads: the product of the leading (batch and head) axes.</summary>
    public int Items { get; }

    /// <summary>L, query positions per head.</summary>
    public int Queries { get; }

    /// <summary>S, key (and value) positions per head.</summary>
    public int Keys { get; }

    /// <summary>E, the width of a query and a key.</summary>
    public int HeadDim { get; }

    /// <summary>Ev, the width of a value and an output row.</summary>
    public int ValueDim { get; }

    /// <summary>The factor on Q·Kᵀ (1/√E unless given).</summary>
    public float Scale { get; }

    /// <summary>1: query i sees keys 0 … i only; 0: every key.</summary>
    public int Causal { get; }

    /// <summary>Keys query <paramref name="i"/> sees: S, or min(S, i + 1) when causal.</summary>
    public int KeysSeenBy(int i) => Causal != 0 ? System.Math.Min(Keys, i + 1) : Keys;
}
