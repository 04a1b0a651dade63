namespace Engine.Nn;

/// <summary>
/// Layer normalization over the trailing dimensions <c>normalizedShape</c>, as <c>torch.nn.LayerNorm</c>: each
/// sample's values there are normalized with their own mean and biased variance (the same in training and
/// evaluation), then y = γ·x̂ + β with γ (ones) and β (zeros) of shape <c>normalizedShape</c> when
/// <c>elementwiseAffine</c>. State-dict names: <c>weight</c>, <c>bias</c>.
/// </summary>
public sealed class LayerNorm : Module
{
    private readonly int[] normalizedShape;

    public LayerNorm(Device device, int[] normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d < 1))
            throw new ArgumentOutOfRangeException(nameof(normalizedShape),
                $"LayerNorm: normalized_shape must be non-empty with dimensions ≥ 1, got {Shapes.Format(normalizedShape)}.");
        if (!(eps > 0f)) throw new ArgumentOutOfRangeException(nameof(eps), $"LayerNorm: eps must be > 0, got {eps}.");
        this.normalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        if (elementwiseAffine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(device, this.normalizedShape));
            Bias = RegisterParameter("bias", Tensor.Zeros(device, this.normalizedShape));
        }
    }

    /// <summary>LayerNorm over the last dimension of size <paramref name="features"/>.</summary>
    public LayerNorm(Device device, int features, float eps = 1e-5f, bool elementwiseAffine = true)
        : this(device, new[] { features }, eps, elementwiseAffine)
    {
    }

    public int[] NormalizedShape => (int[])normalizedShape.Clone();
    public float Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input) =>
        RunHooks(input, Tensor.LayerNorm(input, normalizedShape, Weight, Bias, Eps));
}
