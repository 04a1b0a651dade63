namespace Engine.Optim.Schedules;

/// <summary>
/// Cuts the lr by <c>factor</c> when a metric has stopped improving for <c>patience</c> epochs (PyTorch
/// <c>ReduceLROnPlateau</c>): mode "min"/"max", threshold mode "rel"/"abs", cooldown, per-group minimum lr, and
/// changes smaller than eps ignored. Call <see cref="Step(double)"/> with the epoch's validation metric.
/// </summary>
public sealed class ReduceLROnPlateau
{
    private readonly double[] minLrs;
    private int cooldownCounter;

    public ReduceLROnPlateau(Optimizer optimizer, string mode = "min", double factor = 0.1, int patience = 10,
        double threshold = 1e-4, string thresholdMode = "rel", int cooldown = 0, double minLr = 0, double eps = 1e-8)
    {
        Optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        if (mode != "min" && mode != "max") throw new ArgumentException($"mode must be \"min\" or \"max\", got \"{mode}\".");
        if (thresholdMode != "rel" && thresholdMode != "abs")
            throw new ArgumentException($"thresholdMode must be \"rel\" or \"abs\", got \"{thresholdMode}\".");
        if (!(factor < 1.0)) throw new ArgumentOutOfRangeException(nameof(factor), $"Factor should be < 1.0, got {factor}.");
        Mode = mode;
        Factor = factor;
        Patience = patience;
        Threshold = threshold;
        ThresholdMode = thresholdMode;
        Cooldown = cooldown;
        Eps = eps;
        minLrs = optimizer.ParamGroups.Select(_ => minLr).ToArray();
        Best = mode == "min" ? double.PositiveInfinity : double.NegativeInfinity;
    }

    public Optimizer Optimizer { get; }
    public string Mode { get; }
    public double Factor { get; }
    public int Patience { get; }
    public double Threshold { get; }
    public string ThresholdMode { get; }
    public int Cooldown { get; }
    public double Eps { get; }
    public double Best { get; private set; }
    public int NumBadEpochs { get; private set; }
    public int LastEpoch { get; private set; }

    public void Step(double metric)
    {
        LastEpoch++;
        if (IsBetter(metric))
        {
            Best = metric;
            NumBadEpochs = 0;
        }
        else
        {
            NumBadEpochs++;
        }
        if (cooldownCounter > 0)
        {
            cooldownCounter--;
            NumBadEpochs = 0;
        }
        if (NumBadEpochs > Patience)
        {
            for (int i = 0; i < Optimizer.ParamGroups.Count; i++)
            {
                var group = Optimizer.ParamGroups[i];
                double old = group.Lr, next = Math.Max(old * Factor, minLrs[i]);
                if (old - next > Eps) group.Lr = (float)next;
            }
            cooldownCounter = Cooldown;
            NumBadEpochs = 0;
        }
    }

    /// <summary>What a checkpoint keeps: best, bad epochs, cooldown counter and step count.</summary>
    internal double[] SaveState() => new[] { Best, NumBadEpochs, cooldownCounter, LastEpoch };

    internal void LoadState(IReadOnlyList<double> saved)
    {
        if (saved.Count != 4) throw new ArgumentException($"ReduceLROnPlateau: the saved state has {saved.Count} values, expected 4.");
        Best = saved[0];
        NumBadEpochs = (int)saved[1];
        cooldownCounter = (int)saved[2];
        LastEpoch = (int)saved[3];
    }

    private bool IsBetter(double a) => (Mode, ThresholdMode) switch
    {
        ("min", "rel") => a < Best * (1 - Threshold),
        ("min", _) => a < Best - Threshold,
        (_, "rel") => a > Best * (Threshold + 1),
        _ => a > Best + Threshold,
    };
}
