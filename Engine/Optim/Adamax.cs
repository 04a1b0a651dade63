using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// Adamax (Adam with the infinity norm), as <c>torch.optim.Adamax</c>; coupled weight decay.
/// <code>
/// input: γ (lr = 0.002), β₁, β₂ (betas = 0.9, 0.999), ε = 1e−8, λ (weightDecay), l1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   m ← β₁m + (1 − β₁)g;   u ← max(β₂u, |g| + ε);   θₜ ← θₜ₋₁ − (γ / (1 − β₁ᵗ)) · m/u
/// </code>
/// State: <c>exp_avg</c>, <c>exp_inf</c>. Cost: one fused launch per parameter group.
/// </summary>
public sealed class Adamax : AdaptiveMomentOptimizer
{
    public Adamax(IEnumerable<Tensor> parameters, float lr = 2e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, betas, eps, weightDecay, maximize, l1)
    {
    }

    public Adamax(IEnumerable<ParamGroup> groups, float lr = 2e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : base("Adamax", groups, lr, betas ?? (0.9f, 0.999f), eps, weightDecay, maximize, l1, "exp_avg", "exp_inf")
    {
    }

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s = WithMoments(s);
        s.C1 = (float)(group.Lr / (1 - Math.Pow(Beta1, ParameterStep)));
        Kernels.AdamaxStep(p, g, State("exp_avg", group), State("exp_inf", group), s);
    }
}
