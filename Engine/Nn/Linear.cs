namespace Engine.Nn;

/// <summary>
/// y = x·Wᵀ + b, as <c>torch.nn.Linear</c>: weight stored [out, in] (so checkpoints interoperate with PyTorch),
/// bias [out]. PyTorch's default initialisation: W, b ~ U(−1/√in, 1/√in) (kaiming_uniform with a = √5).
/// </summary>
public sealed class Linear : Module
{
    public Linear(Device device, int inFeatures, int outFeatures, bool bias = true, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (inFeatures < 1 || outFeatures < 1)
            throw new ArgumentOutOfRangeException(nameof(inFeatures),
                $"Linear: features must be ≥ 1, got in {inFeatures}, out {outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        float bound = 1f / MathF.Sqrt(inFeatures);
        Weight = RegisterParameter("weight",
            Tensor.RandU(device, new[] { outFeatures, inFeatures }, seed, -bound, bound));
        Bias = bias ? RegisterParameter("bias", Tensor.RandU(device, new[] { outFeatures }, seed + 1, -bound, bound)) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input) => Tensor.Linear(input, Weight, Bias);
}
