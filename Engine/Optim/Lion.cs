using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// Lion (EvoLved Sign Momentum, Chen et al. 2023, Algorithm 2); weight decay is <b>decoupled</b>.
/// <code>
/// input: η (lr = 1e−4), β₁, β₂ (0.9, 0.99), λ (weightDecay = 0), l1
/// init: m₀ ← 0
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize) + l1·sign(θ)
///   c ← β₁m + (1 − β₁)g;   θₜ ← θₜ₋₁ − η(sign(c) + λθₜ₋₁);   m ← β₂m + (1 − β₂)g
/// </code>
/// Every coordinate moves by exactly η (without decay). State: <c>exp_avg</c>. Cost: one fused launch per group.
/// </summary>
public sealed class Lion : Optimizer
{
    public Lion(IEnumerable<Tensor> parameters, float lr = 1e-4f, (float, float)? betas = null, float weightDecay = 0f,
        bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, betas, weightDecay, maximize, l1)
    {
    }

    public Lion(IEnumerable<ParamGroup> groups, float lr = 1e-4f, (float, float)? betas = null, float weightDecay = 0f,
        bool maximize = false, float l1 = 0f)
        : base("Lion", groups, lr, weightDecay, l1)
    {
        var (b1, b2) = betas ?? (0.9f, 0.99f);
        Beta1 = Hyper.UnitInterval("beta1", b1);
        Beta2 = Hyper.UnitInterval("beta2", b2);
        Maximize = maximize;
        AddState("exp_avg");
    }

    public float Beta1 { get; }
    public float Beta2 { get; }

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s.Beta1 = Beta1;
        s.Beta2 = Beta2;
        s.Flags |= (int)UpdateFlags.DecoupledDecay;
        Kernels.LionStep(p, g, State("exp_avg", group), s);
    }
}
