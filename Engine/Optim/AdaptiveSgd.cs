using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Optim;

/// <summary>
/// SGD with an adaptive learning rate that shrinks where the gradient is large.
/// <code>
/// input: η₀ (lr), λ (weightDecay, coupled L2), l1
/// for t = 1, 2, …
///   gₜ ← ∇f(θₜ₋₁) (−∇ if maximize) + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   ηₜ ← η₀ / (1 + ‖gₜ‖²)   with ‖·‖ the global L2 norm over all parameters
///   θₜ ← θₜ₋₁ − ηₜgₜ
/// </code>
/// Cost: per parameter group, one reduction launch (‖gₜ‖², left on the device) and one update launch; the
/// norm is taken over the group's parameters, i.e. all of them with a single group.
/// </summary>
public sealed class AdaptiveSgd : Optimizer
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> normSquared;

    public AdaptiveSgd(IEnumerable<Tensor> parameters, float lr, float weightDecay = 0f, bool maximize = false,
        float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, weightDecay, maximize, l1)
    {
    }

    public AdaptiveSgd(IEnumerable<ParamGroup> groups, float lr, float weightDecay = 0f, bool maximize = false,
        float l1 = 0f)
        : base("AdaptiveSgd", groups, lr, weightDecay, l1)
    {
        Maximize = maximize;
        normSquared = Device.Accelerator.Allocate1D<float>(1);
    }

    protected override void ReleaseResources() => normSquared.Dispose();

    /// <summary>One launch covers the whole group (see <see cref="Optimizer.Step"/>).</summary>
    protected override bool UpdatesPerParameter => false;

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        Kernels.EffectiveGradientNormSquared(p, g, normSquared.View, s);
        Kernels.AdaptiveSgdStep(p, g, normSquared.View, s);
    }
}
