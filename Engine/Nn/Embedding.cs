namespace Engine.Nn;

/// <summary>
/// A lookup table of <see cref="NumEmbeddings"/> vectors of <see cref="EmbeddingDim"/> (PyTorch <c>nn.Embedding</c>:
/// weight [num, dim] drawn from N(0, 1)). Forward maps an int64/int32 index tensor of any shape to [*indices, dim]; the
/// backward adds each position's gradient into its row, repeated indices in index order (deterministic).
/// </summary>
public sealed class Embedding : Module
{
    /// <param name="device">Where the table lives.</param>
    /// <param name="numEmbeddings">Rows of the table (the vocabulary).</param>
    /// <param name="embeddingDim">Width of a row.</param>
    /// <param name="seed">The N(0, 1) draw's seed (null: the next of <see cref="Generator"/>).</param>
    /// <param name="paddingIdx">See <see cref="PaddingIdx"/>.</param>
    /// <param name="maxNorm">PyTorch's <c>max_norm</c>: before each lookup, the looked-up rows whose
    /// <paramref name="normType"/>-norm exceeds it are scaled down to it in place (null: off).</param>
    /// <param name="normType">The p of the p-norm for <paramref name="maxNorm"/> (2 by default).</param>
    public Embedding(Device device, int numEmbeddings, int embeddingDim, int? seed = null, int? paddingIdx = null,
        float? maxNorm = null, float normType = 2f)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (numEmbeddings < 1 || embeddingDim < 1)
            throw new ArgumentOutOfRangeException(nameof(numEmbeddings),
                $"Embedding: sizes must be ≥ 1, got {numEmbeddings} × {embeddingDim}.");
        if (paddingIdx is { } pad && (pad >= numEmbeddings || pad < -numEmbeddings))
            throw new ArgumentOutOfRangeException(nameof(paddingIdx),
                $"Embedding: padding_idx {pad} is outside [-{numEmbeddings}, {numEmbeddings}) for {numEmbeddings} embeddings.");
        if (maxNorm is { } m && !(m > 0f))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), $"Embedding: max_norm must be > 0, got {m}.");
        if (!(normType > 0f))
            throw new ArgumentOutOfRangeException(nameof(normType), $"Embedding: norm_type must be > 0, got {normType}.");
        MaxNorm = maxNorm;
        NormType = normType;
        PaddingIdx = paddingIdx is { } p && p < 0 ? p + numEmbeddings : paddingIdx;
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        weight = RegisterParameter("weight", Tensor.RandN(device, new[] { numEmbeddings, embeddingDim },
            Generator.SeedOrNext(seed)));
        if (PaddingIdx is { } row)
        {
            var values = weight.ToArray();
            Array.Clear(values, row * embeddingDim, embeddingDim);
            weight.CopyFrom(values);
        }
    }

    /// <summary>
    /// The row that stands for padding (PyTorch's <c>padding_idx</c>, negative counted from the end): it starts as zeros
    /// and gets no gradient, so it stays what it is; null for none.
    /// </summary>
    public int? PaddingIdx { get; }

    public int NumEmbeddings { get; }
    public int EmbeddingDim { get; }

    /// <summary>PyTorch's <c>max_norm</c> (null: off): looked-up rows are renormalised to it in place.</summary>
    public float? MaxNorm { get; }

    /// <summary>PyTorch's <c>norm_type</c>: the p of the p-norm <see cref="MaxNorm"/> bounds.</summary>
    public float NormType { get; }
    /// <summary>
    /// The table [num, dim]. Setting it ties this table to another module's tensor of the same shape (see
    /// <see cref="Linear.Weight"/>); do it before creating the optimizer.
    /// </summary>
    public Tensor Weight
    {
        get => weight;
        set => weight = ReplaceParameter("weight", value);
    }

    private Tensor weight;

    public override Tensor Forward(Tensor input)
    {
        if (MaxNorm is { } maxNorm) Tensor.EmbeddingRenorm(Weight, input, maxNorm, NormType);
        return RunHooks(input, Tensor.Embedding(input, Weight, PaddingIdx));
    }
}
