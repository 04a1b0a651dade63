using Engine.Kernels;

namespace Engine.Nn;

/// <summary>
/// y = x·Wᵀ + b, as <c>torch.nn.Linear</c>: weight stored [out, in] (so checkpoints interoperate with PyTorch),
/// bias [out]. PyTorch's default initialisation: W, b ~ U(−1/√in, 1/√in) (kaiming_uniform with a = √5).
/// The seed names one random stream: the weight takes its first out·in numbers and the bias the next
/// out, as PyTorch draws both from one generator, so layers built with seeds 1, 2, … share no numbers.
/// </summary>
public sealed class Linear : Module
{
    /// <summary>A layer; <c>seed</c> names its random stream, and null (the default) takes the next seed of <see cref="Generator"/>.</summary>
    public Linear(Device device, int inFeatures, int outFeatures, bool bias = true, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (inFeatures < 1 || outFeatures < 1)
            throw new ArgumentOutOfRangeException(nameof(inFeatures),
                $"Linear: features must be ≥ 1, got in {inFeatures}, out {outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        float bound = 1f / MathF.Sqrt(inFeatures);
        int stream = Generator.SeedOrNext(seed);
        weight = RegisterParameter("weight",
            Tensor.RandU(device, new[] { outFeatures, inFeatures }, stream, -bound, bound));
        if (bias)
        {
            var b = Tensor.Uninitialized(device, new[] { outFeatures });
            device.Kernels.Random(b.Elements, unchecked((uint)stream), -bound, bound, normal: false,
                offset: unchecked((uint)(outFeatures * inFeatures)));
            biasParameter = RegisterParameter("bias", b);
        }
        AllowPruning(bias ? new[] { "weight", "bias" } : new[] { "weight" });
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    /// <summary>
    /// The weight [out, in]. Setting it ties this layer to another module's tensor of the same shape, as PyTorch's
    /// <c>lm_head.weight = wte.weight</c>: <c>head.Weight = embedding.Weight</c>. The tensor is then shared (trained
    /// once, its gradient summing both uses, saved under both names); do it before creating the optimizer.
    /// Once pruned (<see cref="Prune"/>), it reads weight_orig ⊙ weight_mask, as PyTorch's <c>module.weight</c>.
    /// </summary>
    public Tensor Weight
    {
        get => Masked(weight);
        set
        {
            if (TryGetPruned("weight", out _, out _))
                throw new InvalidOperationException("Linear.Weight: the weight is pruned; Prune.Remove it before tying it.");
            weight = ReplaceParameter("weight", value);
        }
    }

    /// <summary>The bias [out], or null; once pruned, bias_orig ⊙ bias_mask.</summary>
    public Tensor? Bias => biasParameter is null ? null : Masked(biasParameter);

    private Tensor weight;
    private readonly Tensor? biasParameter;

    public override Tensor Forward(Tensor input) => RunHooks(input, Tensor.Linear(input, Weight, Bias));
}
