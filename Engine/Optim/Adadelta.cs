using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// Adadelta, as <c>torch.optim.Adadelta</c>.
/// <code>
/// input: γ (lr), θ₀, f(θ), ρ (rho), ε, λ (weightDecay, coupled L2), l1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   v ← ρv + (1 − ρ)g²;   Δ ← √(u + ε) / √(v + ε) · g;   u ← ρu + (1 − ρ)Δ²;   θₜ ← θₜ₋₁ − γΔ
/// </code>
/// State: <c>square_avg</c>, <c>acc_delta</c>. Cost: one fused launch per parameter group.
/// </summary>
public sealed class Adadelta : Optimizer
{
    public Adadelta(IEnumerable<Tensor> parameters, float lr = 1f, float rho = 0.9f, float eps = 1e-6f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, rho, eps, weightDecay, maximize, l1)
    {
    }

    public Adadelta(IEnumerable<ParamGroup> groups, float lr = 1f, float rho = 0.9f, float eps = 1e-6f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : base("Adadelta", groups, lr, weightDecay, l1)
    {
        Rho = Hyper.ClosedUnitInterval("rho", rho);
        Eps = Hyper.Positive("eps", eps);
        Maximize = maximize;
        AddState("square_avg");
        AddState("acc_delta");
    }

    public float Rho { get; }
    public float Eps { get; }

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s.Alpha = Rho;
        s.Eps = Eps;
        Kernels.AdadeltaStep(p, g, State("square_avg", group), State("acc_delta", group), s);
    }
}
