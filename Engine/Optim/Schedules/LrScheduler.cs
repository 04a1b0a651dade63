namespace Engine.Optim.Schedules;

/// <summary>
/// Base of the epoch/step schedules, as <c>torch.optim.lr_scheduler._LRScheduler</c>: construction records
/// each group's initial lr and takes step 0; every <see cref="Step"/> (call it after the optimizer's step)
/// advances <see cref="LastEpoch"/> and sets each group's lr from the schedule's (chainable) formula. Rates are
/// kept in double precision, as PyTorch keeps Python floats.
/// </summary>
public abstract class LrScheduler
{
    private readonly double[] lrs;

    protected LrScheduler(Optimizer optimizer)
    {
        Optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        BaseLrs = optimizer.ParamGroups.Select(g => (double)g.InitialLr).ToArray();
        lrs = optimizer.ParamGroups.Select(g => (double)g.Lr).ToArray();
    }

    public Optimizer Optimizer { get; }

    /// <summary>Each group's initial lr.</summary>
    public IReadOnlyList<double> BaseLrs { get; }

    /// <summary>Steps taken; 0 right after construction.</summary>
    public int LastEpoch { get; private set; } = -1;

    /// <summary>The rates set by the last step, one per group (PyTorch <c>get_last_lr()</c>).</summary>
    public IReadOnlyList<double> LastLr => lrs;

    public void Step()
    {
        LastEpoch++;
        for (int i = 0; i < lrs.Length; i++)
        {
            lrs[i] = NextLr(i, lrs[i]);
            Optimizer.ParamGroups[i].Lr = (float)lrs[i];
        }
    }

    /// <summary>What a checkpoint keeps: the step count and each group's current rate.</summary>
    internal (int LastEpoch, double[] Lrs) SaveState() => (LastEpoch, lrs.ToArray());

    /// <summary>Restores <see cref="SaveState"/>'s figures and sets them on the optimizer's groups.</summary>
    internal void LoadState(int lastEpoch, IReadOnlyList<double> savedLrs)
    {
        if (savedLrs.Count != lrs.Length)
            throw new ArgumentException(
                $"{GetType().Name}: the saved schedule has {savedLrs.Count} parameter groups, this one {lrs.Length}.");
        LastEpoch = lastEpoch;
        for (int i = 0; i < lrs.Length; i++)
        {
            lrs[i] = savedLrs[i];
            Optimizer.ParamGroups[i].Lr = (float)lrs[i];
        }
    }

    /// <summary>The rate of group <paramref name="group"/> at <see cref="LastEpoch"/> given its current one.</summary>
    protected abstract double NextLr(int group, double current);

    /// <summary>Called by subclasses at the end of their constructor: PyTorch's initial step.</summary>
    protected void Initialize() => Step();

    protected static int Positive(string name, int value) =>
        value > 0 ? value : throw new ArgumentOutOfRangeException(name, $"Invalid {name}: {value} (must be > 0).");
}

/// <summary>lr ← lr·γ every <c>stepSize</c> epochs (PyTorch <c>StepLR</c>).</summary>
public sealed class StepLR : LrScheduler
{
    public StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1) : base(optimizer)
    {
        StepSize = Positive(nameof(stepSize), stepSize);
        Gamma = gamma;
        Initialize();
    }

    public int StepSize { get; }
    public double Gamma { get; }

    protected override double NextLr(int group, double current) =>
        LastEpoch == 0 || LastEpoch % StepSize != 0 ? current : current * Gamma;
}

/// <summary>lr ← lr·γ at each milestone epoch (PyTorch <c>MultiStepLR</c>).</summary>
public sealed class MultiStepLR : LrScheduler
{
    public MultiStepLR(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1) : base(optimizer)
    {
        Milestones = milestones.ToList();
        Gamma = gamma;
        Initialize();
    }

    public IReadOnlyList<int> Milestones { get; }
    public double Gamma { get; }

    protected override double NextLr(int group, double current) =>
        current * Math.Pow(Gamma, Milestones.Count(m => m == LastEpoch));
}

/// <summary>lr ← lr·γ every epoch (PyTorch <c>ExponentialLR</c>).</summary>
public sealed class ExponentialLR : LrScheduler
{
    public ExponentialLR(Optimizer optimizer, double gamma) : base(optimizer)
    {
        Gamma = gamma;
        Initialize();
    }

    public double Gamma { get; }

    protected override double NextLr(int group, double current) => LastEpoch == 0 ? current : current * Gamma;
}

/// <summary>
/// Cosine annealing from the base lr to ηmin over <c>tMax</c> epochs (PyTorch <c>CosineAnnealingLR</c>, its
/// recursive form): ηₜ = ηmin + (η₀ − ηmin)(1 + cos(πt/Tmax))/2, continuing as a cosine beyond Tmax.
/// </summary>
public sealed class CosineAnnealingLR : LrScheduler
{
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0) : base(optimizer)
    {
        TMax = Positive(nameof(tMax), tMax);
        EtaMin = etaMin;
        Initialize();
    }

    public int TMax { get; }
    public double EtaMin { get; }

    protected override double NextLr(int group, double current)
    {
        int t = LastEpoch;
        if (t == 0) return current;
        if ((t - 1 - TMax) % (2 * TMax) == 0)
            return current + (BaseLrs[group] - EtaMin) * (1 - Math.Cos(Math.PI / TMax)) / 2;
        return (1 + Math.Cos(Math.PI * t / TMax)) / (1 + Math.Cos(Math.PI * (t - 1) / TMax)) * (current - EtaMin)
               + EtaMin;
    }
}

/// <summary>
/// Linear warm-up (PyTorch <c>LinearLR</c>): the factor goes linearly from <c>startFactor</c> to
/// <c>endFactor</c> over <c>totalIters</c> epochs, then stays.
/// </summary>
public sealed class LinearLR : LrScheduler
{
    public LinearLR(Optimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5)
        : base(optimizer)
    {
        if (!(startFactor > 0 && startFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(startFactor), $"Invalid startFactor: {startFactor} (must be in (0, 1]).");
        if (!(endFactor >= 0 && endFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(endFactor), $"Invalid endFactor: {endFactor} (must be in [0, 1]).");
        StartFactor = startFactor;
        EndFactor = endFactor;
        TotalIters = Positive(nameof(totalIters), totalIters);
        Initialize();
    }

    public double StartFactor { get; }
    public double EndFactor { get; }
    public int TotalIters { get; }

    protected override double NextLr(int group, double current)
    {
        if (LastEpoch == 0) return current * StartFactor;
        if (LastEpoch > TotalIters) return current;
        return current * (1 + (EndFactor - StartFactor) /
            (TotalIters * StartFactor + (LastEpoch - 1) * (EndFactor - StartFactor)));
    }
}
