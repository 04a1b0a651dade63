using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// Adam, as <c>torch.optim.Adam</c>; weight decay is <b>coupled</b> (an L2 term added to the gradient). For
/// decoupled decay use <see cref="AdamW"/>.
/// <code>
/// input: γ (lr), β₁, β₂ (betas), θ₀, f(θ), λ (weightDecay), ε, amsgrad, maximize, l1
/// init: m₀ ← 0, v₀ ← 0, v̂₀ ← 0
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²
///   if amsgrad: v̂ ← max(v̂, v) and use v̂ for v below
///   θₜ ← θₜ₋₁ − (γ / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// State: <c>exp_avg</c>, <c>exp_avg_sq</c>, <c>max_exp_avg_sq</c>. Cost: one fused launch per parameter
/// group; the bias corrections are computed on the host.
/// </summary>
public class Adam : AdaptiveMomentOptimizer
{
    public Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, bool amsgrad = false, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, betas, eps, weightDecay, amsgrad, maximize, l1)
    {
    }

    public Adam(IEnumerable<ParamGroup> groups, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, bool amsgrad = false, bool maximize = false, float l1 = 0f)
        : this("Adam", groups, lr, betas, eps, weightDecay, amsgrad, maximize, l1)
    {
    }

    protected Adam(string name, IEnumerable<ParamGroup> groups, float lr, (float, float)? betas, float eps,
        float weightDecay, bool amsgrad, bool maximize, float l1)
        : base(name, groups, lr, betas ?? (0.9f, 0.999f), eps, weightDecay, maximize, l1, "exp_avg", "exp_avg_sq")
    {
        AmsGrad = amsgrad;
        if (amsgrad) AddState("max_exp_avg_sq");
    }

    public bool AmsGrad { get; }

    /// <summary>Whether weight decay is decoupled (AdamW) rather than added to the gradient.</summary>
    protected virtual bool Decoupled => false;

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s = WithMoments(s);
        s.C1 = (float)(group.Lr / (1 - Math.Pow(Beta1, ParameterStep)));
        s.C2 = (float)Math.Sqrt(1 - Math.Pow(Beta2, ParameterStep));
        if (AmsGrad) s.Flags |= (int)UpdateFlags.AmsGrad;
        if (Decoupled) s.Flags |= (int)UpdateFlags.DecoupledDecay;
        var v = State("exp_avg_sq", group);
        Kernels.AdamStep(p, g, State("exp_avg", group), v, AmsGrad ? State("max_exp_avg_sq", group) : v, s);
    }
}

/// <summary>
/// AdamW, as <c>torch.optim.AdamW</c>: Adam with <b>decoupled</b> weight decay (default λ = 0.01), applied to
/// the parameter before the Adam step rather than added to the gradient.
/// <code>
/// for t = 1, 2, …
///   θ ← θₜ₋₁ − γλθₜ₋₁;   g ← ∇f(θₜ₋₁) (−∇ if maximize) + l1·sign(θ)
///   m, v (and v̂) as in Adam;   θₜ ← θ − (γ / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// Cost: one fused launch per parameter group.
/// </summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Tensor> parameters, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0.01f, bool amsgrad = false, bool maximize = false, float l1 = 0f)
        : base("AdamW", new[] { new ParamGroup(parameters) }, lr, betas, eps, weightDecay, amsgrad, maximize, l1)
    {
    }

    public AdamW(IEnumerable<ParamGroup> groups, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0.01f, bool amsgrad = false, bool maximize = false, float l1 = 0f)
        : base("AdamW", groups, lr, betas, eps, weightDecay, amsgrad, maximize, l1)
    {
    }

    protected override bool Decoupled => true;
}
