namespace Engine.Training;

/// <summary>One epoch's figures. Accuracies are null for regression; validation figures null without a validation set.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double? TrainAccuracy, double? ValidationLoss,
    double? ValidationAccuracy, double Lr, double Seconds);

/// <summary>What <see cref="Trainer.Fit"/> did, epoch by epoch (Keras's History).</summary>
public sealed class History
{
    public List<EpochRecord> Epochs { get; } = new();

    /// <summary>True when early stopping ended training before the last epoch.</summary>
    public bool StoppedEarly { get; internal set; }

    /// <summary>The epoch with the best monitored figure (1-based), when early stopping was on.</summary>
    public int? BestEpoch { get; internal set; }

    /// <summary>
    /// Steps skipped because the loss or a gradient was NaN/±∞ (with <see cref="TrainerOptions.SkipNonFiniteSteps"/>).
    /// </summary>
    public long SkippedSteps { get; internal set; }
}

/// <summary>Where training is, for callbacks.</summary>
public sealed record TrainingProgress(int Epoch, int Step, int BatchesPerEpoch, double Loss);
