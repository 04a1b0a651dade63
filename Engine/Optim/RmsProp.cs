using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// RMSprop, as <c>torch.optim.RMSprop</c>.
/// <code>
/// input: γ (lr), θ₀, f(θ), α (alpha), ε, λ (weightDecay, coupled L2), μ (momentum), centered, l1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   v ← αv + (1 − α)g²
///   if centered: ḡ ← αḡ + (1 − α)g;  a ← √(v − ḡ²) + ε   else a ← √v + ε
///   if μ &gt; 0: b ← μb + g/a;  θₜ ← θₜ₋₁ − γb   else θₜ ← θₜ₋₁ − γg/a
/// </code>
/// State: <c>square_avg</c>, <c>grad_avg</c>, <c>momentum_buffer</c>. Cost: one fused launch per group.
/// </summary>
public sealed class RmsProp : Optimizer
{
    public RmsProp(IEnumerable<Tensor> parameters, float lr = 0.01f, float alpha = 0.99f, float eps = 1e-8f,
        float weightDecay = 0f, float momentum = 0f, bool centered = false, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, alpha, eps, weightDecay, momentum, centered, maximize, l1)
    {
    }

    public RmsProp(IEnumerable<ParamGroup> groups, float lr = 0.01f, float alpha = 0.99f, float eps = 1e-8f,
        float weightDecay = 0f, float momentum = 0f, bool centered = false, bool maximize = false, float l1 = 0f)
        : base("RMSprop", groups, lr, weightDecay, l1)
    {
        Alpha = Hyper.NonNegative("alpha", alpha);
        Eps = Hyper.Positive("eps", eps);
        Momentum = Hyper.NonNegative("momentum", momentum);
        Centered = centered;
        Maximize = maximize;
        AddState("square_avg");
        AddState("grad_avg");
        AddState("momentum_buffer");
    }

    public float Alpha { get; }
    public float Eps { get; }
    public float Momentum { get; }
    public bool Centered { get; }

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s.Alpha = Alpha;
        s.Eps = Eps;
        s.Momentum = Momentum;
        if (Centered) s.Flags |= (int)UpdateFlags.Centered;
        Kernels.RmsPropStep(p, g, State("square_avg", group), State("grad_avg", group), State("momentum_buffer", group), s);
    }
}
