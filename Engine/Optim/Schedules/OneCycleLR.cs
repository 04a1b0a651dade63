namespace Engine.Optim.Schedules;

/// <summary>
/// The 1cycle policy (Smith 2018), as PyTorch <c>OneCycleLR</c> (two phases): lr rises from
/// maxLr/divFactor to maxLr over the first pctStart of <c>totalSteps</c>, then anneals to
/// maxLr/(divFactor·finalDivFactor); momentum (SGD's μ or Adam's β₁) moves inversely between
/// maxMomentum and baseMomentum when <c>cycleMomentum</c>. Annealing is cosine or linear. Step it per batch.
/// </summary>
public sealed class OneCycleLR : LrScheduler
{
    private readonly (double EndStep, double StartLr, double EndLr, double StartM, double EndM)[][] phases;

    public OneCycleLR(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3,
        string annealStrategy = "cos", bool cycleMomentum = true, double baseMomentum = 0.85,
        double maxMomentum = 0.95, double divFactor = 25, double finalDivFactor = 1e4)
        : base(Prepare(optimizer, maxLr, divFactor))
    {
        TotalSteps = Positive(nameof(totalSteps), totalSteps);
        if (!(pctStart >= 0 && pctStart <= 1))
            throw new ArgumentOutOfRangeException(nameof(pctStart), $"Invalid pctStart: {pctStart} (must be in [0, 1]).");
        if (annealStrategy != "cos" && annealStrategy != "linear")
            throw new ArgumentException($"annealStrategy must be \"cos\" or \"linear\", got \"{annealStrategy}\".");
        Cosine = annealStrategy == "cos";
        CycleMomentum = cycleMomentum;
        if (cycleMomentum && optimizer is not (Sgd { Momentum: > 0 } or Adam))
            throw new ArgumentException(
                "OneCycleLR: cycleMomentum needs an SGD with momentum > 0 or an Adam/AdamW; pass cycleMomentum: false.");
        double initial = maxLr / divFactor, min = initial / finalDivFactor;
        phases = optimizer.ParamGroups.Select(_ => new[]
        {
            (pctStart * totalSteps - 1, initial, maxLr, maxMomentum, baseMomentum),
            (totalSteps - 1.0, maxLr, min, baseMomentum, maxMomentum),
        }).ToArray();
        if (cycleMomentum) SetMomentum(maxMomentum);
        Initialize();
    }

    public int TotalSteps { get; }
    public bool Cosine { get; }
    public bool CycleMomentum { get; }

    protected override double NextLr(int group, double current)
    {
        int step = LastEpoch;
        if (step > TotalSteps)
            throw new InvalidOperationException(
                $"OneCycleLR stepped {step} times, more than totalSteps = {TotalSteps}.");
        double start = 0;
        var groupPhases = phases[group];
        for (int i = 0; i < groupPhases.Length; i++)
        {
            var phase = groupPhases[i];
            if (step <= phase.EndStep || i == groupPhases.Length - 1)
            {
                double pct = (step - start) / (phase.EndStep - start);
                if (CycleMomentum && group == 0) SetMomentum(Anneal(phase.StartM, phase.EndM, pct));
                return Anneal(phase.StartLr, phase.EndLr, pct);
            }
            start = phase.EndStep;
        }
        return current;
    }

    private double Anneal(double from, double to, double pct) =>
        Cosine ? to + (from - to) / 2 * (Math.Cos(Math.PI * pct) + 1) : (to - from) * pct + from;

    private void SetMomentum(double m)
    {
        switch (Optimizer)
        {
            case Sgd sgd: sgd.Momentum = (float)m; break;
            case Adam adam: adam.Beta1 = (float)m; break;
        }
    }

    private static Optimizer Prepare(Optimizer optimizer, double maxLr, double divFactor)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        foreach (var g in optimizer.ParamGroups)
        {
            g.Lr = (float)(maxLr / divFactor);
            g.InitialLr = g.Lr;
        }
        return optimizer;
    }
}
