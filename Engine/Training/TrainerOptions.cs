using Engine.Optim.Schedules;

namespace Engine.Training;

/// <summary>Early stopping on the validation loss (Keras's EarlyStopping).</summary>
/// <param name="Patience">epochs without an improvement of more than <paramref name="MinDelta"/> before stopping.</param>
/// <param name="MinDelta">the smallest decrease of the monitored loss that counts as an improvement.</param>
/// <param name="RestoreBestWeights">put back the parameters of the best epoch when stopping or finishing.</param>
public sealed record EarlyStopping(int Patience = 5, double MinDelta = 0, bool RestoreBestWeights = true);

/// <summary>Settings of <see cref="Trainer.Fit"/>.</summary>
public sealed class TrainerOptions
{
    public int Epochs { get; init; } = 10;

    /// <summary>Rows per step; 0 or ≥ the dataset's size means full-batch gradient descent.</summary>
    public int BatchSize { get; init; } = 32;

    public bool Shuffle { get; init; } = true;

    public bool DropLast { get; init; }

    public int Seed { get; init; }

    /// <summary>A held-out set evaluated after every epoch.</summary>
    public Data.Dataset? Validation { get; init; }

    /// <summary>Alternatively, the fraction of the training set held out (seeded split), in [0, 1).</summary>
    public double ValidationFraction { get; init; }

    public EarlyStopping? EarlyStopping { get; init; }

    /// <summary>A schedule stepped after every epoch, or after every batch with <see cref="StepSchedulePerBatch"/>.</summary>
    public LrScheduler? Schedule { get; init; }

    public bool StepSchedulePerBatch { get; init; }

    /// <summary>Stepped with the epoch's validation loss (or training loss without validation).</summary>
    public ReduceLROnPlateau? Plateau { get; init; }

    public Action<EpochRecord>? OnEpochEnd { get; init; }

    public Action<TrainingProgress>? OnBatchEnd { get; init; }

    /// <summary>
    /// Called after each backward pass, before the optimizer step, while the gradients are there to inspect (Lightning's
    /// <c>on_after_backward</c>); e.g. <see cref="Diagnostics.GradientNormRecorder.Record"/>.
    /// </summary>
    public Action<TrainingProgress>? OnAfterBackward { get; init; }

    /// <summary>
    /// Gradient accumulation: one optimizer step per this many batches of <see cref="BatchSize"/> (micro-batches), each
    /// micro-batch's loss scaled by its share of the group's rows (1/k for equal micro-batches), so the step equals one
    /// on a batch k times larger; the schedule, <see cref="OnAfterBackward"/> (clipping) and
    /// <see cref="CheckpointEverySteps"/> count optimizer steps; under <see cref="Communicator"/> the gradients are
    /// all-reduced only after the group's last micro-batch (DDP's <c>no_sync</c>). An epoch's last group may be
    /// shorter. 1: a step per batch.
    /// </summary>
    public int AccumulationSteps { get; init; } = 1;

    /// <summary>
    /// Skip the optimizer step of a batch whose loss or gradients are NaN/±∞ and count it in
    /// <see cref="History.SkippedSteps"/> (as PyTorch's GradScaler does), instead of stopping with an error. Checking
    /// the gradients costs one flag kernel and one 4-byte read per step.
    /// </summary>
    public bool SkipNonFiniteSteps { get; init; }

    /// <summary>
    /// Where checkpoints go (safetensors: model, optimizer, schedules, RNG positions, progress). A final one is
    /// written when training ends.
    /// </summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Save a checkpoint every this many epochs (0: never during training).</summary>
    public int CheckpointEveryEpochs { get; init; }

    /// <summary>Save a checkpoint every this many optimizer steps, mid-epoch included (0: never).</summary>
    public int CheckpointEverySteps { get; init; }

    /// <summary>
    /// When <see cref="CheckpointPath"/> exists, load it and continue from where it was saved (Keras's
    /// BackupAndRestore); the result equals an uninterrupted run. A finished run returns its history at once.
    /// </summary>
    public bool Resume { get; init; }

    /// <summary>
    /// Data-parallel training over these processes (e.g. <see cref="Distributed.Communicator.FromEnvironment"/> under
    /// <c>mpirun</c>): <see cref="BatchSize"/> stays the global batch and each rank trains on its shard of every batch
    /// (<see cref="Data.DataLoader.Shard"/>); parameters and optimizer state come from rank 0 at the start and on resume;
    /// gradients are all-reduced once per step, weighted by each shard's rows; losses, accuracies and validation are
    /// aggregated over the ranks; only rank 0 writes checkpoints and calls <see cref="OnEpochEnd"/> and
    /// <see cref="OnBatchEnd"/>. Null or a world of one: ordinary training.
    /// </summary>
    public Distributed.ICommunicator? Communicator { get; init; }

    /// <summary>
    /// What the data-parallel run shards over the ranks (<see cref="Distributed.ZeroStage.OptimizerState"/>: ZeRO stage 1,
    /// each rank keeps 1/N of the optimizer state; <see cref="Distributed.ZeroStage.Gradients"/>: stage 2, and 1/N of the
    /// gradients); the same on every rank. Checkpoints gather the whole state to save it (every rank holds it for a
    /// moment, in host memory) unless <see cref="ShardedCheckpoints"/>. Ignored in a world of one.
    /// </summary>
    public Distributed.ZeroStage Zero { get; init; }

    /// <summary>
    /// Clips the gradients' global L2 norm to this before each optimizer step (<c>torch.nn.utils.clip_grad_norm_</c>,
    /// after the accumulation and the average over the ranks; under ZeRO stage 2 over the ranks' shards). Null: no clipping.
    /// </summary>
    public float? ClipGradNorm { get; init; }

    /// <summary>ZeRO stage 2: the gradient bucket size in MiB (PyTorch DDP's <c>bucket_cap_mb</c>).</summary>
    public double BucketCapMb { get; init; } = 25;

    /// <summary>
    /// Under ZeRO, each rank writes its own shard of the optimizer state beside the checkpoint
    /// (<c>{CheckpointPath}.step{N}.shard{r}-of-{N}</c>) instead of gathering the whole state to rank 0 (FSDP's
    /// <c>SHARDED_STATE_DICT</c>): no rank ever holds the whole state. The checkpoint file names its shards; loading reads
    /// them all, so a resume works at any rank count and in a single process, and a missing or mismatched shard is an
    /// error naming it. The path must be one every rank can write and read (a shared file system).
    /// </summary>
    public bool ShardedCheckpoints { get; init; }

    /// <summary>
    /// Differentially private training (<see cref="Privacy.DpSgd.MakePrivate"/> of the same model and optimizer, over a
    /// loader of the same dataset): batches come from its Poisson-sampling <see cref="Privacy.DpSgd.Loader"/> (its expected
    /// batch size replaces <see cref="BatchSize"/>, which then only sizes evaluation), and each step is its clip-and-noise
    /// step; an empty batch steps on noise alone. Not with <see cref="AccumulationSteps"/> &gt; 1, a
    /// <see cref="Communicator"/>, <see cref="ClipGradNorm"/> (DP-SGD clips per sample) or <see cref="Resume"/>. Null: ordinary training.
    /// </summary>
    public Privacy.DpSgd? Privacy { get; init; }
}
