using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// RAdam (rectified Adam, Liu et al. 2019), as <c>torch.optim.RAdam</c>; coupled weight decay.
/// <code>
/// input: γ (lr = 1e−3), β₁, β₂ (0.9, 0.999), ε = 1e−8, λ (weightDecay), l1
/// ρ∞ ← 2/(1 − β₂) − 1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²;   m̂ ← m / (1 − β₁ᵗ)
///   ρₜ ← ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)
///   if ρₜ &gt; 5: r ← √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ));  θₜ ← θₜ₋₁ − γ·m̂·r·√(1 − β₂ᵗ)/(√v + ε)
///   else θₜ ← θₜ₋₁ − γm̂
/// </code>
/// State: <c>exp_avg</c>, <c>exp_avg_sq</c>. Cost: one fused launch per parameter group (ρₜ and r on the host).
/// </summary>
public sealed class RAdam : AdaptiveMomentOptimizer
{
    public RAdam(IEnumerable<Tensor> parameters, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, betas, eps, weightDecay, maximize, l1)
    {
    }

    public RAdam(IEnumerable<ParamGroup> groups, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : base("RAdam", groups, lr, betas ?? (0.9f, 0.999f), eps, weightDecay, maximize, l1, "exp_avg", "exp_avg_sq")
    {
    }

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        long t = ParameterStep;
        double bc1 = 1 - Math.Pow(Beta1, t), bc2 = 1 - Math.Pow(Beta2, t);
        double rhoInf = 2 / (1 - (double)Beta2) - 1;
        double rhoT = rhoInf - 2 * t * Math.Pow(Beta2, t) / bc2;
        s = WithMoments(s);
        s.Alpha = (float)bc1;
        if (rhoT > 5)
        {
            s.Flags |= (int)UpdateFlags.Rectified;
            s.C1 = (float)Math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
            s.C2 = (float)Math.Sqrt(bc2);
        }
        Kernels.RAdamStep(p, g, State("exp_avg", group), State("exp_avg_sq", group), s);
    }
}
