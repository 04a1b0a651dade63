using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// AdaGrad, as <c>torch.optim.Adagrad</c>.
/// <code>
/// input: γ (lr), θ₀, f(θ), λ (weightDecay, coupled L2), η (lrDecay), S₀ (initialAccumulatorValue), ε, l1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   γ̃ ← γ / (1 + (t − 1)η);   S ← S + g²;   θₜ ← θₜ₋₁ − γ̃ g / (√S + ε)
/// </code>
/// State: <c>sum</c>. Cost: one fused launch per parameter group.
/// </summary>
public sealed class AdaGrad : Optimizer
{
    public AdaGrad(IEnumerable<Tensor> parameters, float lr = 0.01f, float lrDecay = 0f, float weightDecay = 0f,
        float initialAccumulatorValue = 0f, float eps = 1e-10f, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, lrDecay, weightDecay, initialAccumulatorValue, eps, maximize, l1)
    {
    }

    public AdaGrad(IEnumerable<ParamGroup> groups, float lr = 0.01f, float lrDecay = 0f, float weightDecay = 0f,
        float initialAccumulatorValue = 0f, float eps = 1e-10f, bool maximize = false, float l1 = 0f)
        : base("Adagrad", groups, lr, weightDecay, l1)
    {
        LrDecay = Hyper.NonNegative("lrDecay", lrDecay);
        Eps = Hyper.Positive("eps", eps);
        Maximize = maximize;
        AddState("sum", Hyper.NonNegative("initialAccumulatorValue", initialAccumulatorValue));
    }

    public float LrDecay { get; }
    public float Eps { get; }

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s.Eps = Eps;
        s.C1 = (float)(group.Lr / (1 + (ParameterStep - 1) * (double)LrDecay));
        Kernels.AdaGradStep(p, g, State("sum", group), s);
    }
}
