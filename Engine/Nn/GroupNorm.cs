namespace Engine.Nn;

/// <summary>
/// Group normalization, as <c>torch.nn.GroupNorm</c>: the channels of [N, C, *] split into <c>numGroups</c> groups,
/// each (sample, group) normalized by its own statistics (so it behaves the same in training and evaluation, and
/// with batch 1), then y = x̂·γ_c + β_c with γ = 1, β = 0 initially (<c>weight</c>, <c>bias</c>).
/// </summary>
public sealed class GroupNorm : Module
{
    public GroupNorm(Device device, int numGroups, int numChannels, float eps = 1e-5f, bool affine = true)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (numGroups < 1 || numChannels < 1 || numChannels % numGroups != 0)
            throw new ArgumentException(
                $"GroupNorm: num_channels {numChannels} must be divisible by num_groups {numGroups} (both ≥ 1).");
        NumGroups = numGroups;
        NumChannels = numChannels;
        Eps = eps;
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(device, new[] { numChannels }));
            Bias = RegisterParameter("bias", Tensor.Zeros(device, new[] { numChannels }));
        }
    }

    public int NumGroups { get; }
    public int NumChannels { get; }
    public float Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank < 2 || input.Shape[1] != NumChannels)
            throw new ArgumentException(
                $"GroupNorm({NumGroups}, {NumChannels}): expected input [N, {NumChannels}, *], got {Shapes.Format(input.Shape)}.");
        return Tensor.GroupNorm(input, NumGroups, Weight, Bias, Eps);
    }
}
