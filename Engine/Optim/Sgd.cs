using Engine.Kernels;
using ILGPU;

namespace Engine.Optim;

/// <summary>
/// Stochastic gradient descent, as <c>torch.optim.SGD</c>; with the whole dataset as one batch it is
/// full-batch gradient descent, with mini-batches mini-batch SGD.
/// <code>
/// input: γ (lr), θ₀, f(θ), λ (weightDecay, coupled L2), μ (momentum), τ (dampening), nesterov, maximize, l1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize);  g ← g + λθₜ₋₁ + l1·sign(θₜ₋₁)
///   if μ ≠ 0:  b ← g if t = 1 else μb + (1 − τ)g;   g ← g + μb if nesterov else b
///   θₜ ← θₜ₋₁ − γg
/// </code>
/// State: <c>momentum_buffer</c>. Cost: one fused launch per parameter group. Without momentum, weight decay or l1 the
/// update θ ← θ ∓ γg can be fused into backward (<see cref="Optimizer.StepInBackward"/>).
/// </summary>
public sealed class Sgd : Optimizer
{
    public Sgd(IEnumerable<Tensor> parameters, float lr, float momentum = 0f, float dampening = 0f,
        float weightDecay = 0f, bool nesterov = false, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, momentum, dampening, weightDecay, nesterov, maximize, l1)
    {
    }

    public Sgd(IEnumerable<ParamGroup> groups, float lr, float momentum = 0f, float dampening = 0f,
        float weightDecay = 0f, bool nesterov = false, bool maximize = false, float l1 = 0f)
        : base("SGD", groups, lr, weightDecay, l1)
    {
        Momentum = Hyper.NonNegative("momentum", momentum);
        Dampening = Hyper.NonNegative("dampening", dampening);
        if (nesterov && (momentum <= 0f || dampening != 0f))
            throw new ArgumentException("SGD: Nesterov momentum requires a momentum > 0 and zero dampening.");
        Nesterov = nesterov;
        Maximize = maximize;
        AddState("momentum_buffer");
    }

    /// <summary>μ; settable so that schedules such as <see cref="Schedules.OneCycleLR"/> can cycle it.</summary>
    public float Momentum { get; set; }
    public float Dampening { get; }
    public bool Nesterov { get; }

    protected override float? FusedStepScale(ParamGroup group) =>
        Momentum == 0f && group.WeightDecay == 0f && group.L1 == 0f ? (Maximize ? group.Lr : -group.Lr) : null;

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s.Momentum = Momentum;
        s.Dampening = Dampening;
        if (Nesterov) s.Flags |= (int)UpdateFlags.Nesterov;
        if (ParameterStep == 1) s.Flags |= (int)UpdateFlags.FirstStep;
        Kernels.SgdStep(p, g, State("momentum_buffer", group), s);
    }
}
