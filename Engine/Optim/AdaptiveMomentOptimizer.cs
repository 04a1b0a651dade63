using Engine.Kernels;

namespace Engine.Optim;

/// <summary>
/// The Adam family's shared part: betas (β₁, β₂) validated in [0, 1), ε &gt; 0, and the flat <c>exp_avg</c> /
/// <c>exp_avg_sq</c> moments most of its rules keep.
/// </summary>
public abstract class AdaptiveMomentOptimizer : Optimizer
{
    protected AdaptiveMomentOptimizer(string name, IEnumerable<ParamGroup> groups, float lr, (float, float) betas,
        float eps, float weightDecay, bool maximize, float l1, params string[] moments)
        : base(name, groups, lr, weightDecay, l1)
    {
        Beta1 = Hyper.UnitInterval("beta1", betas.Item1);
        Beta2 = Hyper.UnitInterval("beta2", betas.Item2);
        Eps = Hyper.Positive("eps", eps);
        Maximize = maximize;
        foreach (var moment in moments) AddState(moment);
    }

    /// <summary>β₁; settable so that schedules such as <see cref="Schedules.OneCycleLR"/> can cycle it.</summary>
    public float Beta1 { get; set; }

    public float Beta2 { get; }

    public float Eps { get; }

    /// <summary>The step's scalars with β₁, β₂ and ε filled in.</summary>
    protected UpdateScalars WithMoments(UpdateScalars s)
    {
        s.Beta1 = Beta1;
        s.Beta2 = Beta2;
        s.Eps = Eps;
        return s;
    }
}
