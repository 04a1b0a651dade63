using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Data;
using Engine.Drift;
using Engine.Kernels;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Training;

/// <summary>One sample of a stream: features, and a class label or regression targets.</summary>
public sealed record Sample(float[] Features, int? Label = null, float[]? Target = null);

/// <summary>What an online trainer does when its detector reports a change.</summary>
public enum DriftReaction
{
    /// <summary>Only raise <see cref="OnlineTrainer.DriftDetected"/>.</summary>
    None,

    /// <summary>Also reset the optimizer's state (moments, accumulators).</summary>
    ResetOptimizerState,

    /// <summary>Also multiply every group's lr by <see cref="OnlineTrainer.LrBoost"/>.</summary>
    RaiseLearningRate,
}

/// <summary>A detected change: the sample's position in the stream (0-based, skipped samples counted) and the detector.</summary>
public sealed record DriftEvent(long Sample, string Detector);

/// <summary>
/// Per-sample online training over a (possibly endless) stream, with progressive validation as River and
/// Vowpal Wabbit report it: each sample is first predicted and scored, then learned from with a batch-1
/// forward/backward/step. Keeps cumulative and sliding-window loss and accuracy, feeds each sample's loss to an
/// optional drift detector, and measures samples/s.
/// </summary>
/// <remarks>
/// A step allocates no device memory (the input tensor and the score buffer are reused and the step runs in a
/// <see cref="DisposeScope"/> over the pool). Each sample's loss and hit are scored on the device into a score
/// buffer, which is read back in one copy every <see cref="ScoreEvery"/> samples (default 1: one 8-byte read per
/// sample, taken before the step so a diverging sample leaves the model untouched); nothing else comes back to the
/// host (with <see cref="SkipNonFiniteSteps"/>, also its 4-byte flag per sample), and the metrics and the drift
/// detector are fed when the scores arrive.
/// </remarks>
public sealed class OnlineTrainer : IDisposable
{
    private readonly Module model;
    private readonly Optimizer optimizer;
    private readonly Queue<(double Loss, bool Hit)> recent = new();
    private readonly List<DriftEvent> drifts = new();
    private Tensor? input;
    private Distributed.DistributedDataParallel? ddp;
    private int averageModelsEvery;
    private long sinceAverage;
    private readonly double[] agreement = new double[1];
    private double windowLoss;
    private int windowHits;
    private long samples, skippedSteps, cumulativeHits, classified;
    private double cumulativeLoss, lastLoss = double.NaN;
    private int scoreEvery = 1;
    private MemoryBuffer1D<float, Stride1D.Dense>? scoreBuffer;
    private float[] hostScores = new float[2];
    private bool[] stepSkipped = new bool[1];
    private bool[] stepLabelled = new bool[1];
    private int pending;
    private bool pendingRead;

    public OnlineTrainer(Module model, Optimizer optimizer, IDriftDetector? detector = null,
        DriftReaction reaction = DriftReaction.None, int window = 500, float lrBoost = 2f)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), $"window must be ≥ 1, got {window}.");
        Detector = detector;
        Reaction = reaction;
        Window = window;
        LrBoost = lrBoost;
    }

    public IDriftDetector? Detector { get; }
    public DriftReaction Reaction { get; }
    public int Window { get; }
    public float LrBoost { get; }

    public event Action<DriftEvent>? DriftDetected;

    /// <summary>
    /// Samples between reads of the device-side scores (≥ 1). With N &gt; 1 the per-sample read becomes one read of
    /// 2N floats, and the metrics, the drift detector and its reaction see a sample up to N − 1 samples late; a
    /// divergence (NaN/∞ loss without <see cref="SkipNonFiniteSteps"/>) is then reported after the steps in between
    /// were applied. Reading any metric first brings the pending scores in (one read).
    /// </summary>
    public int ScoreEvery
    {
        get => scoreEvery;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), $"ScoreEvery must be ≥ 1, got {value}.");
            Flush();
            scoreEvery = value;
        }
    }

    /// <summary>Samples learned from and scored (skipped ones excluded).</summary>
    public long Samples { get { Flush(); return samples; } }

    public double CumulativeLoss { get { Flush(); return cumulativeLoss; } }

    public long CumulativeHits { get { Flush(); return cumulativeHits; } }

    /// <summary>The loss of the last scored sample (its prediction, before it was learned from).</summary>
    public double LastLoss { get { Flush(); return lastLoss; } }

    /// <summary>
    /// Progressive (predict-then-learn) accuracy over every labelled sample so far; NaN before the first, and on a
    /// regression stream (targets, no labels), where accuracy has no meaning.
    /// </summary>
    public double ProgressiveAccuracy { get { Flush(); return classified == 0 ? double.NaN : (double)cumulativeHits / classified; } }

    public double MeanLoss => Samples == 0 ? 0 : cumulativeLoss / samples;

    /// <summary>Accuracy over the last <see cref="Window"/> samples; NaN when no labelled sample was seen.</summary>
    public double WindowAccuracy { get { Flush(); return classified == 0 ? double.NaN : (double)windowHits / recent.Count; } }

    public double WindowLoss { get { Flush(); return recent.Count == 0 ? 0 : windowLoss / recent.Count; } }

    public List<DriftEvent> Drifts { get { Flush(); return drifts; } }

    public double SamplesPerSecond { get; private set; }

    /// <summary>
    /// Skip the step of a sample whose loss or gradients are NaN/±∞ and count it in <see cref="SkippedSteps"/>
    /// (as PyTorch's GradScaler does) instead of throwing. Checking the gradients and the loss costs two flag
    /// kernels and one 4-byte read per sample. Skipped samples do not enter the metrics or the drift detector.
    /// </summary>
    public bool SkipNonFiniteSteps { get; set; }

    /// <summary>
    /// The loss each sample is learned with, as <see cref="Trainer.Fit"/> takes it (e.g. <see cref="Trainer.Mse"/>,
    /// or a Huber or L1 loss of your own); the batch it gets is the one sample ([1, …] features, its label or targets).
    /// Null (the default): cross-entropy for a labelled sample, mean squared error for one with targets. A loss of your
    /// own runs the general path (the fused per-sample kernels are for the default cross-entropy).
    /// </summary>
    public BatchLoss? LossFunction { get; set; }

    /// <summary>Samples whose step was skipped (see <see cref="SkipNonFiniteSteps"/>), non-finite samples included.</summary>
    public long SkippedSteps { get { Flush(); return skippedSteps; } }

    private int[]? sampleShape;
    private int sampleNumel;

    /// <summary>
    /// The shape of one sample, e.g. [1, 28, 28] for a CNN on MNIST digits ([C, H, W], as
    /// <see cref="Data.Dataset.SampleShape"/>): each sample's features, row-major, go to the model as
    /// [1, ..SampleShape]. Null (the default): flat, [1, features]. With a shape, a sample with another number of
    /// features is refused.
    /// </summary>
    /// <exception cref="ArgumentException">An empty shape or a dimension below 1.</exception>
    public int[]? SampleShape
    {
        get => (int[]?)sampleShape?.Clone();
        init
        {
            if (value != null && (value.Length == 0 || value.Any(d => d < 1)))
                throw new ArgumentException(
                    $"online: SampleShape [{string.Join(", ", value)}] must have at least one dimension, each ≥ 1.", nameof(value));
            sampleShape = (int[]?)value?.Clone();
            sampleNumel = value?.Aggregate(1, (p, d) => checked(p * d)) ?? 0;
        }
    }

    /// <summary>
    /// Differentially private learning (<see cref="Privacy.OnlinePrivacy"/>: each step's gradient, one sample's, clipped to
    /// C, plus N(0, σ²C²), with the ε accounting its remarks state); it takes the general (unfused) path. Not with
    /// <see cref="Distribute"/>. Null: ordinary steps.
    /// </summary>
    public Privacy.OnlinePrivacy? Privacy { get; init; }

    /// <summary>Where <see cref="CheckpointEvery"/> saves checkpoints.</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>Save a checkpoint to <see cref="CheckpointPath"/> every this many samples (0: never).</summary>
    public long CheckpointEvery { get; set; }

    private readonly Stopwatch clock = new();
    private long samplesBeforeClock;

    /// <summary>
    /// Predicts and scores one sample (on the device), then learns from it. Its loss and hit reach the metrics when
    /// the scores are read back (every <see cref="ScoreEvery"/> samples).
    /// </summary>
    public void Learn(Sample sample) => Learn(sample, Span<float>.Empty);

    /// <summary>
    /// Data-parallel online learning: each rank learns from its own stream, in lockstep (every rank calls
    /// <see cref="Learn(Sample)"/> equally often; <see cref="Run"/> stops all ranks at the end of the shortest stream).
    /// Rank 0's parameters and optimizer state are broadcast now. With <paramref name="averageModelsEvery"/> = 0 the
    /// gradients are averaged over the ranks at every step (one all-reduce; the ranks' samples form one batch of N, and
    /// a non-finite loss on any rank stops or skips the step on all); with K &gt; 0 every rank steps on its own sample
    /// and the models are averaged every K samples (local SGD: one all-reduce per K steps). Metrics stay per rank.
    /// </summary>
    public void Distribute(Distributed.ICommunicator communicator, int averageModelsEvery = 0)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        if (Privacy != null && communicator.Size > 1)
            throw new NotSupportedException("online: differentially private learning (Privacy) cannot be distributed.");
        if (averageModelsEvery < 0)
            throw new ArgumentOutOfRangeException(nameof(averageModelsEvery), $"averageModelsEvery must be ≥ 0, got {averageModelsEvery}.");
        Flush();
        ddp = communicator.Size > 1 ? new Distributed.DistributedDataParallel(model, optimizer, communicator) : null;
        this.averageModelsEvery = averageModelsEvery;
        sinceAverage = 0;
    }

    private bool AveragingGradients => ddp != null && averageModelsEvery == 0;

    /// <summary>
    /// The fused per-sample step (<see cref="Kernels.DenseStepKernels"/>): for a <see cref="Sequential"/> of
    /// <see cref="Linear"/> layers with biases, each optionally followed by <see cref="Engine.Nn.Relu"/>, trained on labels with
    /// plain SGD, one step is 2 launches per layer instead of about 14: the forward with ReLU fused, the last layer with
    /// softmax cross-entropy, the score and its gradient in one, and per layer the backward and the update in one. Null
    /// (the default) takes it where it applies and the backend prefers it (both do: on a GPU it saves launches, on the
    /// SIMD backend the autograd graph; mlp-s at batch 1 steps ~1.6× as fast); true takes it wherever it applies; false never. The result is the general path's, up to
    /// the order of float additions.
    /// </summary>
    public bool? FusedSteps { get; set; }

    private sealed record DenseLayer(Linear Linear, bool Relu);

    private sealed class DensePlan(List<DenseLayer> layers, Tensor[] activations, Tensor[] gradients, Tensor logits) : IDisposable
    {
        public List<DenseLayer> Layers { get; } = layers;

        /// <summary>activations[l]: layer l's output (l &lt; L − 1); the input is the trainer's.</summary>
        public Tensor[] Activations { get; } = activations;

        /// <summary>gradients[l]: ∂L/∂(layer l's pre-activation output).</summary>
        public Tensor[] Gradients { get; } = gradients;

        public Tensor Logits { get; } = logits;

        public void Dispose()
        {
            foreach (var t in Activations.Concat(Gradients).Append(Logits)) t.Dispose();
        }
    }

    private DensePlan? densePlan;
    private bool denseChecked;

    private DensePlan? FusedPlan(Sample sample, int features)
    {
        if (FusedSteps == false || (FusedSteps == null && !optimizer.Device.Kernels.PrefersFusedOnlineStep)) return null;
        if (SkipNonFiniteSteps || ddp != null || sample.Label == null || LossFunction != null || Privacy != null) return null;
        if (!denseChecked)
        {
            denseChecked = true;
            densePlan = BuildDensePlan();
        }
        if (densePlan == null || densePlan.Layers[0].Linear.InFeatures != features) return null;
        // The rule is read at every step: a schedule or a drift reaction may change the learning rate in between.
        foreach (var layer in densePlan.Layers)
            if (StepScale(layer) == null) return null;
        return densePlan;
    }

    /// <summary>The layer's SGD scale (−lr) when its weight and bias take the same plain scaled-gradient step.</summary>
    private float? StepScale(DenseLayer layer) =>
        optimizer.FusedScaleFor(layer.Linear.Weight) is float scale && optimizer.FusedScaleFor(layer.Linear.Bias!) == scale
            ? scale : null;

    /// <summary>The layers of a Linear(+ReLU) stack that plain SGD trains, or null when the model is anything else.</summary>
    private DensePlan? BuildDensePlan()
    {
        if (model is not Sequential sequential) return null;
        var modules = sequential.Children.Select(c => c.Child).ToList();
        var layers = new List<DenseLayer>();
        for (int i = 0; i < modules.Count; i++)
        {
            // A pruned layer's weight is weight_orig ⊙ mask, computed per forward: the general path trains it.
            if (modules[i] is not Linear { Bias: not null } linear || Prune.IsPruned(linear)) return null;
            bool relu = i + 1 < modules.Count && modules[i + 1] is Engine.Nn.Relu;
            if (relu) i++;
            layers.Add(new DenseLayer(linear, relu));
        }
        if (layers.Count == 0 || layers[^1].Relu) return null; // the logits come straight out of the last Linear
        for (int l = 1; l < layers.Count; l++)
            if (layers[l].Linear.InFeatures != layers[l - 1].Linear.OutFeatures) return null;
        var device = optimizer.Device;
        var activations = layers.SkipLast(1).Select(l => Tensor.Zeros(device, new[] { l.Linear.OutFeatures })).ToArray();
        var gradients = layers.Select(l => Tensor.Zeros(device, new[] { l.Linear.OutFeatures })).ToArray();
        return new DensePlan(layers, activations, gradients, Tensor.Zeros(device, new[] { layers[^1].Linear.OutFeatures }));
    }

    /// <summary>One fused step; returns whether the score buffer is full (as the general path does).</summary>
    private bool LearnFused(DensePlan plan, Sample sample, Span<float> output, long index, int slot)
    {
        var k = optimizer.Device.Kernels;
        var layers = plan.Layers;
        int classes = layers[^1].Linear.OutFeatures, label = sample.Label!.Value;
        if ((uint)label >= classes)
            throw new ArgumentOutOfRangeException(nameof(sample), $"online: sample {index} has label {label}, outside [0, {classes}).");
        if (!output.IsEmpty && output.Length != classes)
            throw new ArgumentException($"online: an output span of {output.Length} for a model with {classes} outputs.", nameof(output));
        ArrayView<float> In(int l) => l == 0 ? input!.Elements : plan.Activations[l - 1].Elements;
        DenseStepShape Shape(int l) => new()
        {
            Outputs = layers[l].Linear.OutFeatures, Inputs = layers[l].Linear.InFeatures, Label = label, Slot = slot,
            Scale = StepScale(layers[l])!.Value, Relu = layers[l].Relu ? 1 : 0,
        };
        for (int l = 0; l < layers.Count - 1; l++)
            k.DenseForward(In(l), layers[l].Linear.Weight.Elements, layers[l].Linear.Bias!.Elements, plan.Activations[l].Elements, Shape(l));
        int last = layers.Count - 1;
        k.DenseForwardCrossEntropy(In(last), layers[last].Linear.Weight.Elements, layers[last].Linear.Bias!.Elements, plan.Logits.Elements,
            plan.Gradients[last].Elements, scoreBuffer!.View, Shape(last));
        if (!output.IsEmpty) k.Download(plan.Logits.Elements, output);
        pending++;
        bool full = pending == scoreEvery;
        if (full)
        {
            ReadScores(); // before the step: a diverging sample throws with the model untouched
            ThrowIfDiverged();
        }
        for (int l = last; l >= 0; l--)
        {
            // The input of layer l came out of layer l − 1's ReLU when that layer had one.
            var shape = Shape(l) with { Relu = l > 0 && layers[l - 1].Relu ? 1 : 0, WriteDx = l > 0 ? 1 : 0 };
            k.DenseBackwardSgd(In(l), layers[l].Linear.Weight.Elements, layers[l].Linear.Bias!.Elements, plan.Gradients[l].Elements,
                l > 0 ? plan.Gradients[l - 1].Elements : plan.Gradients[l].Elements, shape);
        }
        optimizer.CountFusedStep();
        return full;
    }

    /// <summary>
    /// <see cref="Learn(Sample)"/>, also copying the model's output for the sample, made before learning from it (the
    /// progressive prediction: logits for a classifier), into <paramref name="output"/> (one read of the output;
    /// nothing is read when it is empty).
    /// </summary>
    public void Learn(Sample sample, Span<float> output)
    {
        ArgumentNullException.ThrowIfNull(sample);
        int bad = Array.FindIndex(sample.Features, v => !float.IsFinite(v));
        if (bad >= 0 && SkipNonFiniteSteps && ddp == null)
        {
            // Skipped like a sample whose loss is non-finite: counted, never learned from (the pending scores first,
            // so the stream's order is kept).
            Flush();
            skippedSteps++;
            return;
        }
        if (bad >= 0)
            throw new ArgumentException(
                $"online: sample {samples + skippedSteps + pending} has feature {bad} = {sample.Features[bad]}; every " +
                "feature must be finite" + (ddp != null ? " (distributed, a sample cannot be skipped on one rank alone)." :
                    ", or set SkipNonFiniteSteps to skip such samples."), nameof(sample));
        if (sampleShape != null && sample.Features.Length != sampleNumel)
            throw new ArgumentException(
                $"online: sample {samples + skippedSteps + pending} has {sample.Features.Length} features; SampleShape " +
                $"[{string.Join(", ", sampleShape)}] holds {sampleNumel}.", nameof(sample));
        clock.Start();
        var device = optimizer.Device;
        if (input == null || input.Numel != sample.Features.Length)
        {
            input?.Dispose();
            input = Tensor.Zeros(device, sampleShape == null ? new[] { 1, sample.Features.Length } : sampleShape.Prepend(1).ToArray());
        }
        input.CopyFrom(sample.Features);
        if (scoreBuffer == null || scoreBuffer.Length < 2L * scoreEvery)
        {
            if (scoreBuffer != null) device.Pool.Return(scoreBuffer);
            scoreBuffer = device.Pool.Rent<float>(2L * scoreEvery);
            hostScores = new float[2 * scoreEvery];
            stepSkipped = new bool[scoreEvery];
            stepLabelled = new bool[scoreEvery];
        }
        long index = samples + skippedSteps + pending;
        int slot = pending;
        stepSkipped[slot] = false;
        stepLabelled[slot] = sample.Label != null;
        bool last;
        if (FusedPlan(sample, input.Numel) is { } plan)
        {
            last = LearnFused(plan, sample, output, index, slot);
        }
        else
        using (var scope = new DisposeScope())
        {
            var prediction = model.Forward(input);
            int outputs = prediction.Numel;
            if (!output.IsEmpty)
            {
                if (output.Length != outputs)
                    throw new ArgumentException($"online: an output span of {output.Length} for a model with {outputs} outputs.", nameof(output));
                device.Kernels.Download(prediction.Elements, output);
            }
            if (sample.Label is int given && (uint)given >= outputs)
                throw new ArgumentOutOfRangeException(nameof(sample), $"online: sample {index} has label {given}, outside [0, {outputs}).");
            Tensor loss;
            if (LossFunction is { } lossFunction)
            {
                loss = OwnLoss(lossFunction, sample, prediction, index, outputs);
            }
            else if (sample.Label is int label)
            {
                loss = Loss.CrossEntropy(prediction, new[] { label });
                device.Kernels.ScoreSample(prediction.Elements, outputs, label, loss.Elements, scoreBuffer.View, slot);
            }
            else
            {
                var target = sample.Target ?? throw new ArgumentException($"online: sample {index} has neither label nor target.");
                if (target.Length != outputs)
                    throw new ArgumentException($"online: sample {index} has {target.Length} targets, the model {outputs} outputs.");
                loss = Loss.Mse(prediction, Tensor.FromArray(device, target, prediction.Shape));
                device.Kernels.ScoreSample(prediction.Elements, 0, 0, loss.Elements, scoreBuffer.View, slot);
            }
            pending++;
            last = pending == scoreEvery;
            if (AveragingGradients && !SkipNonFiniteSteps) AgreeTheLossIsFinite(loss, index);
            if (last && !SkipNonFiniteSteps)
            {
                // Read before the step: a diverging sample throws with the model as it was.
                ReadScores();
                ThrowIfDiverged();
            }
            // The step is fused into backward where the optimizer allows it (plain SGD: a weight is updated by the
            // product that would have written its gradient), unless gradients must be checked before the step.
            bool userSetting = optimizer.StepInBackward;
            optimizer.StepInBackward = !SkipNonFiniteSteps && !AveragingGradients && Privacy == null;
            try
            {
                loss.Backward();
                if (AveragingGradients) ddp!.AverageGradients();
                Privacy?.Privatize(optimizer);
                stepSkipped[slot] = SkipNonFiniteSteps && !optimizer.GradientsAreFinite(loss.Elements);
                if (!stepSkipped[slot]) optimizer.Step();
                optimizer.ZeroGrad();
            }
            finally
            {
                optimizer.StepInBackward = userSetting;
            }
        }
        if (ddp != null && averageModelsEvery > 0 && ++sinceAverage == averageModelsEvery)
        {
            ddp.AverageParameters();
            sinceAverage = 0;
        }
        if (last) Flush();
        clock.Stop();
        SamplesPerSecond = (samples + skippedSteps + pending - samplesBeforeClock) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Brings the scores of samples learned since the last read into the metrics and the drift detector (one read
    /// of 2 floats per sample), and saves a checkpoint if one fell due. Metric getters call it.
    /// </summary>
    public void Flush()
    {
        if (pending == 0) return;
        ReadScores();
        if (!SkipNonFiniteSteps) ThrowIfDiverged();
        long before = samples;
        for (int i = 0; i < pending; i++)
        {
            if (stepSkipped[i]) skippedSteps++;
            else Record(hostScores[2 * i], hostScores[2 * i + 1] != 0f, stepLabelled[i]);
        }
        pending = 0;
        pendingRead = false;
        if (CheckpointPath != null && CheckpointEvery > 0 && samples / CheckpointEvery > before / CheckpointEvery)
            SaveCheckpoint(CheckpointPath);
    }

    private void ReadScores()
    {
        if (pendingRead) return;
        optimizer.Device.Kernels.Download(scoreBuffer!.View, hostScores.AsSpan(0, 2 * pending));
        pendingRead = true;
    }

    /// <summary>Without skipping, a non-finite loss stops training: the samples before it are recorded, it is not.</summary>
    private void ThrowIfDiverged()
    {
        for (int i = 0; i < pending; i++)
        {
            float loss = hostScores[2 * i];
            if (float.IsFinite(loss) || stepSkipped[i]) continue;
            long at = samples + skippedSteps + i;
            for (int j = 0; j < i; j++) Record(hostScores[2 * j], hostScores[2 * j + 1] != 0f, stepLabelled[j]);
            string late = pending - 1 > i
                ? $" It was read back {pending - 1 - i} samples later (ScoreEvery {scoreEvery}), after its step was " +
                  "applied: the parameters may hold NaN/∞."
                : "";
            pending = 0;
            pendingRead = false;
            throw new TrainingDivergedException(
                $"Online training diverged: loss {loss} at sample {at}.{late} Lower the learning rate, or set " +
                "SkipNonFiniteSteps to skip such samples.");
        }
    }

    /// <summary>
    /// Learns from every sample of the stream (stops when it ends, or after <paramref name="limit"/>). Distributed, all
    /// ranks stop when the first of their streams ends (one small all-reduce per sample keeps them in lockstep).
    /// </summary>
    public void Run(IEnumerable<Sample> stream, long limit = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var samplesLeft = stream.GetEnumerator();
        var more = new double[1];
        while (true)
        {
            more[0] = samples + pending < limit && samplesLeft.MoveNext() ? 1 : 0;
            ddp?.Communicator.AllReduce(more, Distributed.ReduceOp.Min);
            if (more[0] == 0) break;
            Learn(samplesLeft.Current);
        }
        Flush();
    }

    /// <summary>Gradient averaging: a non-finite loss on any rank stops every rank at the same sample (no rank left waiting).</summary>
    private void AgreeTheLossIsFinite(Tensor loss, long index)
    {
        var bad = agreement;
        bad[0] = NonFinite.AllFinite(optimizer.Device, loss.Elements) ? 0 : 1;
        ddp!.Communicator.AllReduce(bad, Distributed.ReduceOp.Max);
        if (bad[0] == 0) return;
        ReadScores();
        ThrowIfDiverged(); // this rank's loss is the bad one: the usual error
        for (int j = 0; j < pending - 1; j++) Record(hostScores[2 * j], hostScores[2 * j + 1] != 0f, stepLabelled[j]);
        pending = 0;
        pendingRead = false;
        throw new TrainingDivergedException(
            $"Online training diverged: another rank's loss was non-finite at its sample {index}; every rank stops " +
            "there. Lower the learning rate, or set SkipNonFiniteSteps to skip such samples.");
    }

    public async Task RunAsync(IAsyncEnumerable<Sample> stream, long limit = long.MaxValue,
        CancellationToken cancellation = default)
    {
        await foreach (var sample in stream.WithCancellation(cancellation))
        {
            if (samples + pending >= limit) break;
            Learn(sample);
        }
        Flush();
    }

    public void Dispose()
    {
        densePlan?.Dispose();
        input?.Dispose();
        if (scoreBuffer != null) optimizer.Device.Pool.Return(scoreBuffer);
        scoreBuffer = null;
    }

    /// <summary>
    /// Saves model, optimizer, metrics, window and drift-detector state, so that <see cref="LoadCheckpoint"/> in a
    /// fresh process continues exactly. The stream's position is <see cref="Samples"/> + <see cref="SkippedSteps"/>.
    /// </summary>
    public void SaveCheckpoint(string path) => SaveCheckpoint(path, null);

    /// <summary><see cref="SaveCheckpoint(string)"/> with the caller's own progress entries saved beside the trainer's.</summary>
    public void SaveCheckpoint(string path, IReadOnlyDictionary<string, string>? extraProgress)
    {
        Flush();
        var progress = new OnlineProgress(samples, skippedSteps, cumulativeLoss, cumulativeHits, windowLoss, windowHits,
            recent.Select(r => r.Loss).ToArray(), recent.Select(r => r.Hit).ToArray(), drifts.ToList(),
            Detector?.SaveState(), clock.Elapsed.TotalSeconds, classified);
        var entries = new Dictionary<string, string>(extraProgress ?? new Dictionary<string, string>())
        {
            ["online"] = JsonSerializer.Serialize(progress, Json),
        };
        Checkpoint.Save(path, model, optimizer, progress: entries);
    }

    /// <summary>
    /// Restores a checkpoint of <see cref="SaveCheckpoint"/> (checked in full first). Returns the number of stream
    /// samples it had consumed: skip that many before going on.
    /// </summary>
    public long LoadCheckpoint(string path) => LoadCheckpoint(path, out _);

    /// <summary><see cref="LoadCheckpoint(string)"/>, also giving back every progress entry (the caller's own included).</summary>
    public long LoadCheckpoint(string path, out IReadOnlyDictionary<string, string> progress)
    {
        var contents = Checkpoint.Load(path, model, optimizer);
        progress = contents.Progress;
        if (!contents.Progress.TryGetValue("online", out var json))
            throw new InvalidDataException($"{path}: a checkpoint without online-trainer progress (saved by another loop?).");
        var p = JsonSerializer.Deserialize<OnlineProgress>(json, Json)!;
        pending = 0;
        pendingRead = false;
        (samples, skippedSteps, cumulativeLoss, cumulativeHits, windowLoss, windowHits) =
            (p.Samples, p.SkippedSteps, p.CumulativeLoss, p.CumulativeHits, p.WindowLoss, p.WindowHits);
        classified = p.Classified ?? p.Samples; // a checkpoint from before the count: every sample was labelled
        recent.Clear();
        for (int i = 0; i < p.RecentLosses.Length; i++) recent.Enqueue((p.RecentLosses[i], p.RecentHits[i]));
        drifts.Clear();
        drifts.AddRange(p.Drifts);
        if (Detector != null && p.DetectorState != null) Detector.LoadState(p.DetectorState);
        clock.Reset();
        samplesBeforeClock = samples + skippedSteps;
        return samples + skippedSteps;
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private sealed record OnlineProgress(long Samples, long SkippedSteps, double CumulativeLoss, long CumulativeHits,
        double WindowLoss, int WindowHits, double[] RecentLosses, bool[] RecentHits, List<DriftEvent> Drifts,
        double[]? DetectorState, double Seconds, long? Classified = null);

    /// <summary>The sample's loss by <see cref="LossFunction"/>, scored into the sample's slot like the built-in ones.</summary>
    private Tensor OwnLoss(BatchLoss lossFunction, Sample sample, Tensor prediction, long index, int outputs)
    {
        var device = optimizer.Device;
        var targets = sample.Target == null ? null : Tensor.FromArray(device, sample.Target, new[] { 1, sample.Target.Length });
        var batch = new Batch(input!, sample.Label is int label ? new[] { label } : null, targets,
            new[] { (int)Math.Min(index, int.MaxValue) });
        var loss = lossFunction(prediction, batch);
        if (loss.Numel != 1)
            throw new InvalidOperationException(
                $"online: the loss function gave a tensor of shape {Shapes.Format(loss.Shape)} for sample {index}; it must give one value.");
        device.Kernels.ScoreSample(prediction.Elements, sample.Label != null ? outputs : 0, sample.Label ?? 0, loss.Elements,
            scoreBuffer!.View, pending);
        return loss;
    }

    private void Record(double loss, bool hit, bool labelled)
    {
        lastLoss = loss;
        if (labelled) classified++;
        cumulativeLoss += loss;
        if (hit) cumulativeHits++;
        recent.Enqueue((loss, hit));
        windowLoss += loss;
        if (hit) windowHits++;
        if (recent.Count > Window)
        {
            var old = recent.Dequeue();
            windowLoss -= old.Loss;
            if (old.Hit) windowHits--;
        }
        if (Detector != null && Detector.Update(loss))
        {
            var drift = new DriftEvent(samples + skippedSteps, Detector.Name);
            drifts.Add(drift);
            if (Reaction == DriftReaction.ResetOptimizerState) optimizer.ResetState();
            else if (Reaction == DriftReaction.RaiseLearningRate)
                foreach (var g in optimizer.ParamGroups) g.Lr *= LrBoost;
            DriftDetected?.Invoke(drift);
        }
        samples++;
    }
}
