namespace Engine.Nn;

/// <summary>
/// Batch normalization over the channels (axis 1) of its input, PyTorch's <c>_BatchNorm</c>: in training
/// mode each channel is normalized with the batch's mean and biased variance, and the running statistics become
/// (1 − momentum)·running + momentum·batch (with the unbiased variance; <c>momentum: null</c> is the cumulative
/// average 1/num_batches_tracked); in evaluation mode the running statistics are used. Then y = γ·x̂ + β (affine).
/// State-dict names are PyTorch's: <c>weight</c>, <c>bias</c>, <c>running_mean</c>, <c>running_var</c>,
/// <c>num_batches_tracked</c> (int64), so checkpoints load both ways.
/// </summary>
public abstract class BatchNormBase : Module
{
    private long numBatchesTracked;

    private readonly string layer;
    private readonly int[] ranks;
    private readonly string expected;

    /// <summary>A layer named <paramref name="layer"/> taking inputs of the given ranks (described by <paramref name="expected"/>).</summary>
    private protected BatchNormBase(string layer, int[] ranks, string expected, Device device, int numFeatures,
        float eps, float? momentum, bool affine, bool trackRunningStats)
    {
        this.layer = layer;
        this.ranks = ranks;
        this.expected = expected;
        ArgumentNullException.ThrowIfNull(device);
        if (numFeatures < 1)
            throw new ArgumentOutOfRangeException(nameof(numFeatures), $"{layer}: num_features must be ≥ 1, got {numFeatures}.");
        if (!(eps > 0f)) throw new ArgumentOutOfRangeException(nameof(eps), $"{layer}: eps must be > 0, got {eps}.");
        if (momentum is { } m && !(m >= 0f && m <= 1f))
            throw new ArgumentOutOfRangeException(nameof(momentum), $"{layer}: momentum must be in [0, 1] or null, got {m}.");
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        var shape = new[] { numFeatures };
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(device, shape));
            Bias = RegisterParameter("bias", Tensor.Zeros(device, shape));
        }
        if (trackRunningStats)
        {
            // Mean and variance are neighbours in one buffer, so the statistics kernel updates both in place.
            var running = new TensorStorage(device, 2 * numFeatures);
            RunningMean = RegisterBuffer("running_mean", Tensor.ViewInto(running, device, shape, 0));
            RunningVar = RegisterBuffer("running_var", Tensor.ViewInto(running, device, shape, numFeatures));
            running.Release();
            Init.Zeros(RunningMean);
            Init.Constant(RunningVar, 1f);
            RegisterCounter("num_batches_tracked", () => numBatchesTracked, v => numBatchesTracked = v);
        }
    }

    public int NumFeatures { get; }
    public float Eps { get; }

    /// <summary>Weight of each new batch in the running statistics; null: the cumulative average.</summary>
    public float? Momentum { get; }

    /// <summary>γ, initialised to ones (null without affine).</summary>
    public Tensor? Weight { get; }

    /// <summary>β, initialised to zeros (null without affine).</summary>
    public Tensor? Bias { get; }

    /// <summary>Running mean, initialised to zeros (null without running statistics).</summary>
    public Tensor? RunningMean { get; }

    /// <summary>Running (unbiased) variance, initialised to ones (null without running statistics).</summary>
    public Tensor? RunningVar { get; }

    /// <summary>Training-mode forward calls folded into the running statistics.</summary>
    public long NumBatchesTracked => numBatchesTracked;

    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!ranks.Contains(input.Rank) || input.Shape[1] != NumFeatures)
            throw new ArgumentException(
                $"{layer}({NumFeatures}): expected input {expected.Replace("C", NumFeatures.ToString())}, got {Shapes.Format(input.Shape)}.");
        bool tracking = RunningMean != null;
        float factor = Momentum ?? 0f;
        if (Training && tracking)
        {
            int perChannel = input.Numel / NumFeatures;
            if (perChannel <= 1) // before counting the batch: PyTorch's error, not a NaN
                throw new ArgumentException(
                    $"{layer}: expected more than 1 value per channel when training, got input size {Shapes.Format(input.Shape)}.");
            numBatchesTracked++;
            factor = Momentum ?? 1f / numBatchesTracked;
        }
        bool useRunning = !Training && tracking;
        return Tensor.BatchNorm(input, Training || useRunning ? RunningMean : null, Training || useRunning ? RunningVar : null,
            Weight, Bias, training: Training || !tracking, momentum: factor, eps: Eps);
    }
}

/// <summary>Batch normalization over the features of [N, C] or [N, C, L] inputs, as <c>torch.nn.BatchNorm1d</c>.</summary>
public sealed class BatchNorm1d(Device device, int numFeatures, float eps = 1e-5f, float? momentum = 0.1f,
    bool affine = true, bool trackRunningStats = true)
    : BatchNormBase("BatchNorm1d", new[] { 2, 3 }, "[N, C] or [N, C, L]", device, numFeatures, eps, momentum, affine,
        trackRunningStats);

/// <summary>
/// Batch normalization over the channels of [N, C, H, W] images, as <c>torch.nn.BatchNorm2d</c>: each channel's
/// statistics over N·H·W values (the same channel-statistics kernels as <see cref="BatchNorm1d"/>).
/// </summary>
public sealed class BatchNorm2d(Device device, int numFeatures, float eps = 1e-5f, float? momentum = 0.1f,
    bool affine = true, bool trackRunningStats = true)
    : BatchNormBase("BatchNorm2d", new[] { 4 }, "[N, C, H, W]", device, numFeatures, eps, momentum, affine,
        trackRunningStats);
