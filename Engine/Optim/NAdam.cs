using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// NAdam (Adam with Nesterov momentum, Dozat 2016), as <c>torch.optim.NAdam</c>; coupled weight decay.
/// <code>
/// input: γ (lr = 0.002), β₁, β₂ (0.9, 0.999), ε = 1e−8, λ (weightDecay), ψ (momentumDecay = 4e−3), l1
/// init: Πμ ← 1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   μₜ ← β₁(1 − ½·0.96^(tψ));   μₜ₊₁ ← β₁(1 − ½·0.96^((t+1)ψ));   Πμ ← Πμ·μₜ
///   m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²;   D ← √(v / (1 − β₂ᵗ)) + ε
///   θₜ ← θₜ₋₁ − γ(1 − μₜ)/(1 − Πμ) · g/D − γμₜ₊₁/(1 − Πμ·μₜ₊₁) · m/D
/// </code>
/// NOTE: this is PyTorch ≥ 2.0's rule; torch 1.13 used Πμ·μₜ·μₜ₊₁ in the last term (μₜ twice), a bug fixed
/// upstream. The golden test compares with 1.13's code carrying that one-line fix (Golden/make_golden.py).
/// State: <c>exp_avg</c>, <c>exp_avg_sq</c>; PyTorch's per-parameter <c>mu_product</c> is Π_{k≤t} μ_k, a function of
/// the parameter's step t, so it is computed from the count rather than stored. Cost: one fused launch per group.
/// </summary>
public sealed class NAdam : AdaptiveMomentOptimizer
{
    /// <summary>Πμ after t steps at index t (Πμ depends on t alone, so each parameter's own count gives its own).</summary>
    private readonly List<double> muProducts = new() { 1.0 };

    public NAdam(IEnumerable<Tensor> parameters, float lr = 2e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, float momentumDecay = 4e-3f, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, betas, eps, weightDecay, momentumDecay, maximize, l1)
    {
    }

    public NAdam(IEnumerable<ParamGroup> groups, float lr = 2e-3f, (float, float)? betas = null, float eps = 1e-8f,
        float weightDecay = 0f, float momentumDecay = 4e-3f, bool maximize = false, float l1 = 0f)
        : base("NAdam", groups, lr, betas ?? (0.9f, 0.999f), eps, weightDecay, maximize, l1, "exp_avg", "exp_avg_sq")
    {
        MomentumDecay = Hyper.NonNegative("momentumDecay", momentumDecay);
    }

    public float MomentumDecay { get; }

    private double Mu(long t) => Beta1 * (1.0 - 0.5 * Math.Pow(0.96, t * (double)MomentumDecay));

    /// <summary>
    /// Πμ after t steps, from a cache grown as counts reach it. It stops growing once the product no longer changes
    /// (it underflows to 0 within some thousand steps for β₁ &lt; 1, or settles when μ reaches 1), so a long online
    /// run does not grow it without bound.
    /// </summary>
    private double MuProduct(long t)
    {
        while (muProducts.Count <= t)
        {
            double next = muProducts[^1] * Mu(muProducts.Count);
            if (next == muProducts[^1]) return next;
            muProducts.Add(next);
        }
        return muProducts[(int)t];
    }

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        long t = ParameterStep;
        double mu = Mu(t), muNext = Mu(t + 1), muProduct = MuProduct(t);
        s = WithMoments(s);
        s.Alpha = (float)(1 - Math.Pow(Beta2, t));
        s.C1 = (float)(group.Lr * (1 - mu) / (1 - muProduct));
        s.C2 = (float)(group.Lr * muNext / (1 - muProduct * muNext));
        Kernels.NAdamStep(p, g, State("exp_avg", group), State("exp_avg_sq", group), s);
    }
}
