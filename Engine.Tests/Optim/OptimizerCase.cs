using Engine.Optim;
using FsCheck;
using FsCheck.Fluent;

namespace Engine.Tests.Optim;

/// <summary>One optimizer with a full set of options (those it ignores are simply unused).</summary>
public sealed record OptimizerCase(string Name, float Lr, float Beta1, float Beta2, float Eps, float WeightDecay,
    float L1, float Momentum, float Dampening, bool Nesterov, bool Maximize, bool AmsGrad, bool Centered,
    float LrDecay, float InitialAccumulator, float MomentumDecay, float Alpha = 0.9f)
{
    public static readonly string[] Names =
        { "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Lion", "Lamb", "AdaptiveSgd" };

    public override string ToString() =>
        $"{Name}(lr {Lr}, β {Beta1}/{Beta2}, eps {Eps}, wd {WeightDecay}, l1 {L1}, μ {Momentum}, τ {Dampening}, " +
        $"nesterov {Nesterov}, maximize {Maximize}, amsgrad {AmsGrad}, centered {Centered}, lrDecay {LrDecay}, " +
        $"acc0 {InitialAccumulator}, ψ {MomentumDecay}, α/ρ {Alpha})";

    /// <summary>A case with every option off and the given learning rate.</summary>
    public static OptimizerCase Plain(string name, float lr) =>
        new(name, lr, 0.9f, name == "Lion" ? 0.99f : 0.999f, name == "Lamb" ? 1e-6f : 1e-8f, 0f, 0f, 0f, 0f, false,
            false, false, false, 0f, 0f, 4e-3f);

    public Optimizer Create(IEnumerable<Tensor> p) => Name switch
    {
        "SGD" => new Sgd(p, Lr, Momentum, Nesterov ? 0f : Dampening, WeightDecay, Nesterov && Momentum > 0, Maximize, L1),
        "Adagrad" => new AdaGrad(p, Lr, LrDecay, WeightDecay, InitialAccumulator, Eps, Maximize, L1),
        "RMSprop" => new RmsProp(p, Lr, Alpha, Eps, WeightDecay, Momentum, Centered, Maximize, L1),
        "Adadelta" => new Adadelta(p, Lr, Alpha, Eps, WeightDecay, Maximize, L1),
        "Adam" => new Adam(p, Lr, (Beta1, Beta2), Eps, WeightDecay, AmsGrad, Maximize, L1),
        "AdamW" => new AdamW(p, Lr, (Beta1, Beta2), Eps, WeightDecay, AmsGrad, Maximize, L1),
        "Adamax" => new Adamax(p, Lr, (Beta1, Beta2), Eps, WeightDecay, Maximize, L1),
        "NAdam" => new NAdam(p, Lr, (Beta1, Beta2), Eps, WeightDecay, MomentumDecay, Maximize, L1),
        "RAdam" => new RAdam(p, Lr, (Beta1, Beta2), Eps, WeightDecay, Maximize, L1),
        "Lion" => new Lion(p, Lr, (Beta1, Beta2), WeightDecay, Maximize, L1),
        "Lamb" => new Lamb(p, Lr, (Beta1, Beta2), Eps, WeightDecay, Maximize, L1),
        "AdaptiveSgd" => new AdaptiveSgd(p, Lr, WeightDecay, Maximize, L1),
        _ => throw new ArgumentException(Name),
    };
}

/// <summary>FsCheck generators: hyper-parameters drawn within their valid ranges, every option toggled.</summary>
public static class OptimizerCases
{
    public static Arbitrary<OptimizerCase> Case() => Arb.From(
        from name in Gen.Elements(OptimizerCase.Names)
        from lr in Gen.Elements(1e-3f, 1e-2f, 0.05f)
        from beta1 in Gen.Elements(0.1f, 0.5f, 0.9f)
        from beta2 in Gen.Elements(0.9f, 0.99f, 0.999f)
        from eps in Gen.Elements(1e-8f, 1e-6f, 1e-3f)
        from wd in Gen.Elements(0f, 0f, 0.01f, 0.1f)
        from l1 in Gen.Elements(0f, 0f, 1e-3f)
        from momentum in Gen.Elements(0f, 0.5f, 0.9f)
        from dampening in Gen.Elements(0f, 0.1f)
        from flags in Gen.Choose(0, 15)
        from lrDecay in Gen.Elements(0f, 0.01f)
        from acc in Gen.Elements(0f, 0.1f)
        from psi in Gen.Elements(4e-3f, 0.01f)
        // RMSprop's α and Adadelta's ρ in their working range: with α ≪ 1 the centered variance v − ḡ² is a
        // difference of nearly equal numbers and float32 (torch's too) parts from a double reference.
        from alpha in Gen.Elements(0.8f, 0.9f, 0.99f)
        select new OptimizerCase(name, lr, beta1, beta2, eps, wd, l1, momentum, dampening, (flags & 1) != 0,
            (flags & 2) != 0, (flags & 4) != 0, (flags & 8) != 0, lrDecay, acc, psi, alpha));
}
