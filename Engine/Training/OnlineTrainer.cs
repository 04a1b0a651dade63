using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Drift;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;

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

/// <summary>A detected change: the sample index (0-based) and the detector.</summary>
public sealed record DriftEvent(long Sample, string Detector);

/// <summary>
/// Per-sample online training over a (possibly endless) stream, with progressive validation as River and
/// Vowpal Wabbit report it: each sample is first predicted and scored, then learned from with a batch-1
/// forward/backward/step. Keeps cumulative and sliding-window loss and accuracy, feeds each sample's loss to an
/// optional drift detector, and measures samples/s.
/// </summary>
/// <remarks>
/// A step allocates no device memory (the input tensor is reused and the step runs in a
/// <see cref="DisposeScope"/> over the pool) and reads back one small tensor, the prediction (C scores or the
/// regression outputs), from which the score and the loss are computed on the host.
/// </remarks>
public sealed class OnlineTrainer : IDisposable
{
    private readonly Module model;
    private readonly Optimizer optimizer;
    private readonly Queue<(double Loss, bool Hit)> recent = new();
    private Tensor? input;
    private double windowLoss;
    private int windowHits;

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

    public long Samples { get; private set; }
    public double CumulativeLoss { get; private set; }
    public long CumulativeHits { get; private set; }

    /// <summary>Progressive (predict-then-learn) accuracy over every sample so far.</summary>
    public double ProgressiveAccuracy => Samples == 0 ? 0 : (double)CumulativeHits / Samples;

    public double MeanLoss => Samples == 0 ? 0 : CumulativeLoss / Samples;

    /// <summary>Accuracy over the last <see cref="Window"/> samples.</summary>
    public double WindowAccuracy => recent.Count == 0 ? 0 : (double)windowHits / recent.Count;

    public double WindowLoss => recent.Count == 0 ? 0 : windowLoss / recent.Count;

    public List<DriftEvent> Drifts { get; } = new();

    public double SamplesPerSecond { get; private set; }

    /// <summary>
    /// Skip the step of a sample whose loss or gradients are NaN/±∞ and count it in <see cref="SkippedSteps"/>
    /// (as PyTorch's GradScaler does) instead of throwing. Checking the gradients costs one flag kernel and one
    /// 4-byte read per sample. Skipped samples do not enter the metrics or the drift detector.
    /// </summary>
    public bool SkipNonFiniteSteps { get; set; }

    /// <summary>Samples whose step was skipped (see <see cref="SkipNonFiniteSteps"/>).</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Where <see cref="CheckpointEvery"/> saves checkpoints.</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>Save a checkpoint to <see cref="CheckpointPath"/> every this many samples (0: never).</summary>
    public long CheckpointEvery { get; set; }

    private readonly Stopwatch clock = new();
    private long samplesBeforeClock;

    /// <summary>Predicts, scores, then learns from one sample. Returns the prediction's loss.</summary>
    public double Learn(Sample sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        clock.Start();
        var device = optimizer.Device;
        if (input == null || input.Numel != sample.Features.Length)
        {
            input?.Dispose();
            input = Tensor.Zeros(device, new[] { 1, sample.Features.Length });
        }
        input.CopyFrom(sample.Features);
        double loss;
        bool hit;
        using (var scope = new DisposeScope())
        {
            var prediction = model.Forward(input);
            var scores = prediction.ToArray();
            Tensor l;
            if (sample.Label is int label)
            {
                if ((uint)label >= scores.Length)
                    throw new ArgumentOutOfRangeException(nameof(sample),
                        $"online: sample {Samples} has label {label}, outside [0, {scores.Length}).");
                double max = scores.Max();
                double logSum = max + Math.Log(scores.Sum(s => Math.Exp(s - max)));
                loss = logSum - scores[label];
                hit = Metrics.Classification.ArgMax(scores, scores.Length)[0] == label;
                l = Loss.CrossEntropy(prediction, new[] { label });
            }
            else
            {
                var target = sample.Target ?? throw new ArgumentException($"online: sample {Samples} has neither label nor target.");
                if (target.Length != scores.Length)
                    throw new ArgumentException($"online: sample {Samples} has {target.Length} targets, the model {scores.Length} outputs.");
                loss = scores.Zip(target, (p, y) => (double)(p - y) * (p - y)).Average();
                hit = false;
                l = Loss.Mse(prediction, Tensor.FromArray(device, target, new[] { 1, target.Length }));
            }
            bool finite = double.IsFinite(loss);
            if (!finite && !SkipNonFiniteSteps)
                throw new InvalidOperationException(
                    $"Online training diverged: loss {loss} at sample {Samples}. Lower the learning rate, or set " +
                    "SkipNonFiniteSteps to skip such samples.");
            if (finite) l.Backward();
            if (!finite || (SkipNonFiniteSteps && !optimizer.GradientsAreFinite()))
            {
                optimizer.ZeroGrad();
                SkippedSteps++;
                clock.Stop();
                return loss;
            }
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        Record(loss, hit);
        if (CheckpointPath != null && CheckpointEvery > 0 && Samples % CheckpointEvery == 0) SaveCheckpoint(CheckpointPath);
        clock.Stop();
        SamplesPerSecond = (Samples - samplesBeforeClock) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
        return loss;
    }

    /// <summary>Learns from every sample of the stream (stops when it ends, or after <paramref name="limit"/>).</summary>
    public void Run(IEnumerable<Sample> stream, long limit = long.MaxValue)
    {
        foreach (var sample in stream)
        {
            if (Samples >= limit) break;
            Learn(sample);
        }
    }

    public async Task RunAsync(IAsyncEnumerable<Sample> stream, long limit = long.MaxValue,
        CancellationToken cancellation = default)
    {
        await foreach (var sample in stream.WithCancellation(cancellation))
        {
            if (Samples >= limit) break;
            Learn(sample);
        }
    }

    public void Dispose() => input?.Dispose();

    /// <summary>
    /// Saves model, optimizer, metrics, window and drift-detector state, so that <see cref="LoadCheckpoint"/> in a
    /// fresh process continues exactly. The stream's position is <see cref="Samples"/> + <see cref="SkippedSteps"/>.
    /// </summary>
    public void SaveCheckpoint(string path)
    {
        var progress = new OnlineProgress(Samples, SkippedSteps, CumulativeLoss, CumulativeHits, windowLoss, windowHits,
            recent.Select(r => r.Loss).ToArray(), recent.Select(r => r.Hit).ToArray(), Drifts.ToList(),
            Detector?.SaveState(), clock.Elapsed.TotalSeconds);
        Checkpoint.Save(path, model, optimizer,
            progress: new Dictionary<string, string> { ["online"] = JsonSerializer.Serialize(progress, Json) });
    }

    /// <summary>
    /// Restores a checkpoint of <see cref="SaveCheckpoint"/> (checked in full first). Returns the number of stream
    /// samples it had consumed: skip that many before going on.
    /// </summary>
    public long LoadCheckpoint(string path)
    {
        var contents = Checkpoint.Load(path, model, optimizer);
        if (!contents.Progress.TryGetValue("online", out var json))
            throw new InvalidDataException($"{path}: a checkpoint without online-trainer progress (saved by another loop?).");
        var p = JsonSerializer.Deserialize<OnlineProgress>(json, Json)!;
        (Samples, SkippedSteps, CumulativeLoss, CumulativeHits, windowLoss, windowHits) =
            (p.Samples, p.SkippedSteps, p.CumulativeLoss, p.CumulativeHits, p.WindowLoss, p.WindowHits);
        recent.Clear();
        for (int i = 0; i < p.RecentLosses.Length; i++) recent.Enqueue((p.RecentLosses[i], p.RecentHits[i]));
        Drifts.Clear();
        Drifts.AddRange(p.Drifts);
        if (Detector != null && p.DetectorState != null) Detector.LoadState(p.DetectorState);
        clock.Reset();
        samplesBeforeClock = Samples;
        return Samples + SkippedSteps;
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private sealed record OnlineProgress(long Samples, long SkippedSteps, double CumulativeLoss, long CumulativeHits,
        double WindowLoss, int WindowHits, double[] RecentLosses, bool[] RecentHits, List<DriftEvent> Drifts,
        double[]? DetectorState, double Seconds);

    private void Record(double loss, bool hit)
    {
        CumulativeLoss += loss;
        if (hit) CumulativeHits++;
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
            var drift = new DriftEvent(Samples, Detector.Name);
            Drifts.Add(drift);
            if (Reaction == DriftReaction.ResetOptimizerState) optimizer.ResetState();
            else if (Reaction == DriftReaction.RaiseLearningRate)
                foreach (var g in optimizer.ParamGroups) g.Lr *= LrBoost;
            DriftDetected?.Invoke(drift);
        }
        Samples++;
    }
}
