using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Optim;

/// <summary>
/// LAMB (layer-wise adaptive moments, You et al. 2019, Algorithm 2) with a per-tensor trust ratio.
/// <code>
/// input: η (lr = 1e−3), β₁, β₂ (0.9, 0.999), ε = 1e−6, λ (weightDecay = 0, decoupled: added to the update), l1
/// for t = 1, 2, …
///   g ← ∇f(θₜ₋₁) (−∇ if maximize) + l1·sign(θ)
///   m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²;   m̂ ← m/(1 − β₁ᵗ);   v̂ ← v/(1 − β₂ᵗ)
///   for each parameter tensor: r ← m̂/(√v̂ + ε) + λθ;   θ ← θ − η·(‖θ‖/‖r‖)·r   (ratio 1 if a norm is 0)
/// </code>
/// State: <c>exp_avg</c>, <c>exp_avg_sq</c>. Cost: one launch per parameter group: one GPU group per tensor
/// computes r, both norms (shared-memory reduction) and the update.
/// </summary>
public sealed class Lamb : AdaptiveMomentOptimizer
{
    private readonly TensorStorage scratch;
    private readonly Dictionary<ParamGroup, MemoryBuffer1D<int, Stride1D.Dense>> starts;

    public Lamb(IEnumerable<Tensor> parameters, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-6f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : this(new[] { new ParamGroup(parameters) }, lr, betas, eps, weightDecay, maximize, l1)
    {
    }

    public Lamb(IEnumerable<ParamGroup> groups, float lr = 1e-3f, (float, float)? betas = null, float eps = 1e-6f,
        float weightDecay = 0f, bool maximize = false, float l1 = 0f)
        : base("Lamb", groups, lr, betas ?? (0.9f, 0.999f), eps, weightDecay, maximize, l1, "exp_avg", "exp_avg_sq")
    {
        scratch = new TensorStorage(Device, TotalElements);
        starts = ParamGroups.ToDictionary(group => group, group =>
        {
            var bounds = new List<int> { 0 };
            foreach (var p in group.Parameters) bounds.Add(bounds[^1] + p.Numel);
            return Device.Accelerator.Allocate1D(bounds.ToArray());
        });
    }

    protected override void ReleaseResources()
    {
        scratch.Release();
        foreach (var buffer in starts.Values) buffer.Dispose();
    }

    /// <summary>One launch covers the whole group (see <see cref="Optimizer.Step"/>).</summary>
    protected override bool UpdatesPerParameter => false;

    protected override void Update(ParamGroup group, ArrayView<float> p, ArrayView<float> g, UpdateScalars s)
    {
        s = WithMoments(s);
        s.C1 = (float)(1 - Math.Pow(Beta1, ParameterStep));
        s.C2 = (float)(1 - Math.Pow(Beta2, ParameterStep));
        s.Flags |= (int)UpdateFlags.DecoupledDecay;
        Kernels.LambStep(p, g, State("exp_avg", group), State("exp_avg_sq", group),
            scratch.View.SubView(group.Start, group.Length), starts[group].View, s);
    }
}
