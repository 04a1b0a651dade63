using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Engine;
using Engine.Drift;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;
using Engine.Training;

namespace Examples.Serving;

/// <summary>A prediction: the class and its probabilities (softmax of the logits) for a classifier, the outputs for regression.</summary>
public sealed record Prediction(int? Label, float[] Values);

/// <summary>A learn request's outcome: its samples' stream positions, each sample's prediction made before learning from it.</summary>
public sealed record LearnOutcome(long FirstSample, IReadOnlyList<Prediction?> Predictions, int Diverged);

/// <summary>What /metrics reports; published by the worker after every batch of work.</summary>
public sealed record ServiceSnapshot(long SamplesLearned, long StreamPosition, double ProgressiveAccuracy,
    double WindowAccuracy, double WindowLoss, double MeanLoss, int DriftEvents, long Predictions, long PredictBatches, double LearnRate,
    double PredictRate, long Checkpoints, long CheckpointSample, long DivergedSamples, long LogSyncs,
    int TornRecordsDropped, long ReplayedSamples, int QueueDepth, string Device, double UptimeSeconds,
    long CheckpointFailures, string? LastCheckpointError, long RejectedLearns, long SalvageLostSamples);

/// <summary>
/// The model behind the HTTP endpoints, driven by one worker thread: requests queue to it, queued predictions are
/// micro-batched into one forward pass, learns are applied one sample at a time in arrival order (each sample is
/// predicted before it is learned from: progressive validation).
/// </summary>
/// <remarks>
/// Durability: before the worker applies the learns it took from the queue, it appends them to the
/// <see cref="LearnLog"/> and fsyncs once for all of them (group commit); a learn is acknowledged only after that.
/// Every <see cref="ServeOptions.CheckpointEvery"/> samples, on <c>POST /checkpoint</c> and on shutdown it saves a
/// checkpoint (model, optimizer, the online trainer's metrics and detector, the stream position) and starts a new log
/// segment. Starting, it loads the checkpoint and replays the log after it through the same code, so after a crash
/// the model is bit for bit the one a server that never stopped would hold after the same acknowledged learns.
/// <para>
/// Failures: a learn that cannot be logged is refused (503) and leaves nothing in the log. A checkpoint that cannot be
/// written keeps the previous checkpoint and the log (which still hold everything), is counted and reported in the
/// metrics and on stderr, answers <c>POST /checkpoint</c> with 507, and is retried after another
/// <see cref="ServeOptions.CheckpointEvery"/> samples; serving goes on. A learn after which a weight, or the model's
/// output for the learn's own samples, is NaN/∞ is rolled back (rebuilt from the checkpoint and the log without it: the
/// same happens on replay), its samples counted as diverged.
/// </para>
/// </remarks>
public sealed class OnlineLearningService : IDisposable
{
    private abstract class WorkItem;

    private sealed class PredictItem(ParsedSamples samples) : WorkItem
    {
        public ParsedSamples Samples { get; } = samples;
        public TaskCompletionSource<Prediction[]> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class LearnItem(ParsedSamples samples) : WorkItem
    {
        public ParsedSamples Samples { get; } = samples;
        public LearnRecord? Record { get; set; }
        public TaskCompletionSource<LearnOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class ActionItem<T>(Func<T> action) : WorkItem
    {
        public T Run() => action();
        public TaskCompletionSource<T> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly ServeOptions options;
    private readonly Device device;
    private readonly Sequential model;
    private Optimizer optimizer;
    private OnlineTrainer trainer;
    private readonly LearnLog log;

    /// <summary>The weights before any learning: where a rebuild without a checkpoint starts.</summary>
    private readonly Dictionary<string, HostTensor> initialWeights;

    /// <summary>Learns (by first sample) whose step made the model non-finite: every rebuild and replay skips them.</summary>
    private readonly HashSet<long> rejectedLearns = new();

    /// <summary>A test seam: runs before each checkpoint write with its path (throw to make the write fail).</summary>
    private readonly Action<string>? beforeCheckpointWrite;
    private readonly Channel<WorkItem> queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread worker;
    private readonly RateMeter learnRate = new(), predictRate = new();
    private readonly Stopwatch uptime = Stopwatch.StartNew();
    private long position, predictions, predictBatches, diverged, checkpoints, checkpointSample, replayed;
    private long checkpointFailures, nextCheckpointAttempt;
    private string? lastCheckpointError;
    private ServiceSnapshot snapshot = null!;
    private bool stopped;

    /// <param name="beforeCheckpointWrite">a test seam: called with the checkpoint's path before each write; what it throws
    /// is what a failed write throws.</param>
    public OnlineLearningService(ServeOptions options, Action<string>? beforeCheckpointWrite = null)
    {
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        this.beforeCheckpointWrite = beforeCheckpointWrite;
        if (!(options.MaxAbsFeature > 0)) throw new ArgumentException($"serve: --max-abs-feature must be > 0, got {options.MaxAbsFeature}.");
        if (options.Task is not ("classify" or "regress"))
            throw new ArgumentException($"serve: --task must be classify or regress, got '{options.Task}'.");
        if (options.CheckpointEvery < 1) throw new ArgumentException($"serve: --checkpoint-every must be ≥ 1, got {options.CheckpointEvery}.");
        device = Device.Create(options.Device);
        Generator.ManualSeed(options.Seed);
        model = options.ModelPath != null ? MlpFromFile(device, options.ModelPath)
            : MnistJob.Mlp(device, options.Seed);
        var linears = model.Children.Select(c => c.Child).OfType<Linear>().ToList();
        InputCount = linears[0].InFeatures;
        OutputCount = linears[^1].OutFeatures;
        initialWeights = model.StateDict();
        (optimizer, trainer) = FreshTrainer();
        Directory.CreateDirectory(options.StateDir);
        log = LearnLog.Open(Path.Combine(options.StateDir, "log"));
        string logFolder = Path.Combine(options.StateDir, "log");
        if (!File.Exists(CheckpointPath) && Directory.EnumerateFiles(logFolder, "learn-*.log").Any(f => !f.EndsWith("learn-000000000000.log", StringComparison.Ordinal)))
            throw new InvalidDataException(
                $"serve: {CheckpointPath} is missing but {logFolder} holds a log that continues a checkpoint (its segments start after " +
                "sample 0); starting would lose the learns the checkpoint held. Restore the checkpoint, or move the state folder away to start afresh.");
        Rebuild(upToSample: null, salvage: options.Salvage);
        // A salvage may leave a gap in the sample numbers; a checkpoint past it takes it out of the log for good.
        if (log.SalvageReport.Count > 0) TrySaveCheckpoint();
        Publish();
        worker = new Thread(Work) { IsBackground = true, Name = "engine-serve-worker" };
        worker.Start();
    }

    public int InputCount { get; }

    /// <summary>Classes of a classifier, outputs of a regression model.</summary>
    public int OutputCount { get; }

    public bool Classification => options.Task == "classify";

    public string DeviceDescription => device.ToString();

    public ServiceSnapshot Snapshot => Volatile.Read(ref snapshot);

    /// <summary>What <see cref="ServeOptions.Salvage"/> did to the log while starting (empty: nothing).</summary>
    public IReadOnlyList<string> SalvageReport => log.SalvageReport;

    private string CheckpointPath => Path.Combine(options.StateDir, "checkpoint.safetensors");

    public Task<Prediction[]> PredictAsync(ParsedSamples samples) => Enqueue(new PredictItem(samples), i => i.Done.Task);

    /// <summary>Completes once the samples are durable in the log and learned from.</summary>
    public Task<LearnOutcome> LearnAsync(ParsedSamples samples) => Enqueue(new LearnItem(samples), i => i.Done.Task);

    /// <summary>Saves a checkpoint now (after everything queued before it); returns the stream position it holds.</summary>
    /// <exception cref="BadRequestException">507 when the checkpoint could not be written (the previous one and the log
    /// still hold everything).</exception>
    public Task<long> CheckpointAsync() => Enqueue(new ActionItem<long>(() => TrySaveCheckpoint() ?? throw new BadRequestException(
        $"the checkpoint could not be written ({lastCheckpointError}); the previous checkpoint (sample {checkpointSample}) and the log " +
        "are kept, so nothing acknowledged is lost, and the server goes on serving.", 507)), i => i.Done.Task);

    /// <summary>The model's state dict as safetensors bytes, taken between two pieces of work.</summary>
    public Task<byte[]> ModelAsync() => Enqueue(new ActionItem<byte[]>(() => SafeTensors.Serialize(model.StateDict(),
        new Dictionary<string, string> { ["format"] = "pt", ["engine.task"] = options.Task })), i => i.Done.Task);

    private Task<T> Enqueue<TItem, T>(TItem item, Func<TItem, Task<T>> result) where TItem : WorkItem
    {
        if (!queue.Writer.TryWrite(item)) throw new BadRequestException("the service is shutting down.", 503);
        return result(item);
    }

    /// <summary>Stops taking work, finishes what is queued, saves a final checkpoint and releases the device.</summary>
    public void Stop()
    {
        if (stopped) return;
        stopped = true;
        queue.Writer.TryComplete();
        worker.Join();
        if (position > checkpointSample) TrySaveCheckpoint();
        Publish();
    }

    public void Dispose()
    {
        Stop();
        log.Dispose();
        trainer.Dispose();
        optimizer.Dispose();
        model.Dispose();
        device.Dispose();
    }

    private (Optimizer, OnlineTrainer) FreshTrainer()
    {
        var sgd = new Sgd(model.Parameters(), options.Lr);
        return (sgd, new OnlineTrainer(model, sgd, new PageHinkley(), DriftReaction.None, window: 500));
    }

    /// <summary>
    /// Restores the state from the checkpoint (the initial weights without one) and replays the log after it, through
    /// the same code that applied it live, up to <paramref name="upToSample"/> (null: all of it). A learn whose step
    /// leaves the model non-finite is added to <see cref="rejectedLearns"/> and the rebuild starts over without it.
    /// </summary>
    private void Rebuild(long? upToSample, bool salvage = false)
    {
        while (true)
        {
            trainer.Dispose();
            optimizer.Dispose();
            model.LoadStateDict(initialWeights);
            (optimizer, trainer) = FreshTrainer();
            (position, predictions, diverged, checkpointSample, replayed) = (0, 0, 0, 0, 0);
            if (File.Exists(CheckpointPath))
            {
                trainer.LoadCheckpoint(CheckpointPath, out var progress);
                var saved = JsonSerializer.Deserialize<Dictionary<string, long>>(progress["serve"])!;
                (position, predictions, diverged, checkpointSample) =
                    (saved["position"], saved["predictions"], saved["diverged"], saved["position"]);
            }
            nextCheckpointAttempt = checkpointSample;
            bool restart = false;
            foreach (var record in log.Replay(position, salvage))
            {
                if (record.FirstSample >= upToSample) break;
                position = record.FirstSample; // past a gap that a salvage left, the stream goes on at the record
                if (!ApplyChecked(record, reply: false, out _))
                {
                    restart = true;
                    break;
                }
                replayed += record.Samples.Count;
            }
            salvage = false; // done once: the log now holds only what verifies
            if (!restart) return;
        }
    }

    /// <summary>
    /// <see cref="Apply"/>, then the check that the step left every weight finite; a learn that did not is rolled back
    /// (the state rebuilt without it) and counted as diverged. Returns false when it rolled back during a rebuild, which
    /// must then start over.
    /// </summary>
    private bool ApplyChecked(LearnRecord record, bool reply, out LearnOutcome outcome)
    {
        if (rejectedLearns.Contains(record.FirstSample))
        {
            outcome = Rejected(record);
            return true;
        }
        outcome = Apply(record, reply);
        if (optimizer.ParametersAreFinite() && OutputsAreFinite(record.Samples)) return true;
        rejectedLearns.Add(record.FirstSample);
        Console.Error.WriteLine($"serve: the learn of samples {record.FirstSample}–{record.FirstSample + record.Samples.Count - 1} made " +
                                "the model's weights non-finite; it is rolled back (rebuilt from the checkpoint and the log without it).");
        if (!reply) return false;
        Rebuild(upToSample: record.FirstSample + record.Samples.Count);
        outcome = new LearnOutcome(record.FirstSample, new Prediction?[record.Samples.Count], record.Samples.Count);
        return true;
    }

    /// <summary>
    /// Whether the model, after learning from <paramref name="samples"/>, still gives finite outputs for them: a step can
    /// leave every weight finite and still huge (1e38 inputs times a bounded gradient), after which every forward
    /// overflows. One forward pass over the request's rows; the only inputs the check can know.
    /// </summary>
    private bool OutputsAreFinite(ParsedSamples samples)
    {
        using (Autograd.NoGrad())
        using (var scope = new DisposeScope())
            return Array.TrueForAll(model.Forward(Tensor.FromArray(device, samples.Features, new[] { samples.Count, InputCount })).ToArray(),
                float.IsFinite);
    }

    /// <summary>A rejected learn: the stream moves past its samples, none of them learned.</summary>
    private LearnOutcome Rejected(LearnRecord record)
    {
        position = record.FirstSample + record.Samples.Count;
        diverged += record.Samples.Count;
        return new LearnOutcome(record.FirstSample, new Prediction?[record.Samples.Count], record.Samples.Count);
    }

    private void Work()
    {
        var batch = new List<WorkItem>();
        while (queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            while (batch.Count < 4096 && queue.Reader.TryRead(out var item)) batch.Add(item);
            var replies = Process(batch);
            if (position / options.CheckpointEvery > nextCheckpointAttempt / options.CheckpointEvery) TrySaveCheckpoint();
            Publish();
            foreach (var reply in replies) reply(); // after Publish: a client that was answered sees its work in /metrics
        }
    }

    /// <summary>Does the batch's work in order; returns the replies, sent once the metrics include it.</summary>
    private List<Action> Process(List<WorkItem> batch)
    {
        var replies = new List<Action>();
        var learns = batch.OfType<LearnItem>().ToList();
        if (learns.Count > 0)
        {
            try
            {
                var records = log.Append(learns.Select(l => (l.Samples, InputCount)).ToList());
                for (int i = 0; i < learns.Count; i++) learns[i].Record = records[i];
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                foreach (var l in learns)
                    l.Done.TrySetException(new BadRequestException($"the learn could not be made durable ({e.Message}); nothing was learned.", 503));
                batch.RemoveAll(i => i is LearnItem);
            }
        }
        var group = new List<PredictItem>();
        int groupRows = 0;
        foreach (var item in batch)
        {
            if (item is PredictItem p && groupRows + p.Samples.Count <= options.MaxPredictBatch)
            {
                group.Add(p);
                groupRows += p.Samples.Count;
                continue;
            }
            Predict(group, replies);
            group = new List<PredictItem>();
            groupRows = 0;
            switch (item)
            {
                case PredictItem alone:
                    group.Add(alone);
                    groupRows = alone.Samples.Count;
                    break;
                case LearnItem l:
                    replies.Add(Complete(l.Done, () =>
                    {
                        ApplyChecked(l.Record!, reply: true, out var outcome); // live: a rollback rebuilds, never fails
                        return outcome;
                    }));
                    break;
                case ActionItem<long> a:
                    replies.Add(Complete(a.Done, a.Run));
                    break;
                case ActionItem<byte[]> a:
                    replies.Add(Complete(a.Done, a.Run));
                    break;
            }
        }
        Predict(group, replies);
        return replies;
    }

    /// <summary>Runs <paramref name="work"/> now; the returned action delivers its result (or exception) to the caller.</summary>
    private static Action Complete<T>(TaskCompletionSource<T> done, Func<T> work)
    {
        try
        {
            var result = work();
            return () => done.TrySetResult(result);
        }
        catch (Exception e)
        {
            return () => done.TrySetException(e);
        }
    }

    /// <summary>One forward pass over the rows of every item in <paramref name="group"/>.</summary>
    private void Predict(List<PredictItem> group, List<Action> replies)
    {
        if (group.Count == 0) return;
        try
        {
            int rows = group.Sum(p => p.Samples.Count);
            var features = group.Count == 1 ? group[0].Samples.Features : group.SelectMany(p => p.Samples.Features).ToArray();
            float[] outputs;
            using (Autograd.NoGrad())
            using (var scope = new DisposeScope())
                outputs = model.Forward(Tensor.FromArray(device, features, new[] { rows, InputCount })).ToArray();
            predictBatches++;
            int bad = Array.FindIndex(outputs, v => !float.IsFinite(v));
            if (bad >= 0)
            {
                int row = bad / OutputCount;
                foreach (var p in group)
                {
                    if (row < p.Samples.Count)
                    {
                        var e = new BadRequestException($"sample {row}: the model's outputs for it are not finite (its features are too " +
                                                        "large for this model); nothing to predict.", 422);
                        replies.Add(() => p.Done.TrySetException(e));
                    }
                    else
                    {
                        // Rows of other requests in the same forward pass: answer them on their own.
                        replies.Add(() => PredictAlone(p));
                    }
                    row -= p.Samples.Count;
                }
                return;
            }
            int at = 0;
            foreach (var p in group)
            {
                var result = new Prediction[p.Samples.Count];
                for (int r = 0; r < result.Length; r++, at++) result[r] = ToPrediction(outputs.AsSpan(at * OutputCount, OutputCount));
                predictions += result.Length;
                replies.Add(() => p.Done.TrySetResult(result));
            }
        }
        catch (Exception e)
        {
            foreach (var p in group) replies.Add(() => p.Done.TrySetException(e));
        }
    }

    /// <summary>Learns the record's samples in order; with <paramref name="reply"/> also their predictions before learning.</summary>
    private LearnOutcome Apply(LearnRecord record, bool reply)
    {
        var s = record.Samples;
        var replies = reply ? new Prediction?[s.Count] : Array.Empty<Prediction?>();
        Span<float> output = stackalloc float[OutputCount];
        int skipped = 0;
        int targetsPer = s.Targets == null ? 0 : s.Targets.Length / s.Count;
        for (int i = 0; i < s.Count; i++)
        {
            var features = s.Features[(i * InputCount)..((i + 1) * InputCount)];
            var sample = s.Labels != null ? new Sample(features, s.Labels[i])
                : new Sample(features, Target: s.Targets![(i * targetsPer)..((i + 1) * targetsPer)]);
            try
            {
                trainer.Learn(sample, reply ? output : Span<float>.Empty);
                if (reply) replies[i] = ToPrediction(output);
            }
            catch (TrainingDivergedException)
            {
                skipped++; // the step was not taken: the model is as before this sample (and will be on replay)
            }
        }
        position += s.Count;
        diverged += skipped;
        return new LearnOutcome(record.FirstSample, replies, skipped);
    }

    private Prediction ToPrediction(ReadOnlySpan<float> outputs)
    {
        if (!Classification) return new Prediction(null, outputs.ToArray());
        float max = float.NegativeInfinity;
        int label = 0;
        for (int c = 0; c < outputs.Length; c++)
            if (outputs[c] > max) (max, label) = (outputs[c], c);
        var p = new float[outputs.Length];
        double sum = 0;
        for (int c = 0; c < p.Length; c++) sum += p[c] = MathF.Exp(outputs[c] - max);
        for (int c = 0; c < p.Length; c++) p[c] = (float)(p[c] / sum);
        return new Prediction(label, p);
    }

    /// <summary>
    /// Saves a checkpoint and starts a new log segment there. On failure (a full disk, say) the previous checkpoint and
    /// the log stay as they were and still hold every acknowledged learn: the error is reported (stderr, /metrics), the
    /// next automatic attempt waits for another <see cref="ServeOptions.CheckpointEvery"/> samples, and null is returned.
    /// </summary>
    private long? TrySaveCheckpoint()
    {
        var progress = new Dictionary<string, string>
        {
            ["serve"] = JsonSerializer.Serialize(new Dictionary<string, long>
            {
                ["position"] = position, ["predictions"] = predictions, ["diverged"] = diverged,
            }),
        };
        try
        {
            beforeCheckpointWrite?.Invoke(CheckpointPath);
            trainer.SaveCheckpoint(CheckpointPath, progress);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            checkpointFailures++;
            lastCheckpointError = e.Message;
            nextCheckpointAttempt = position;
            Console.Error.WriteLine($"serve: checkpoint at sample {position} failed ({e.Message}); keeping the checkpoint at sample " +
                                    $"{checkpointSample} and the log, and serving on.");
            return null;
        }
        checkpoints++;
        checkpointSample = nextCheckpointAttempt = position;
        try
        {
            log.Rotate(position);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The checkpoint is saved; appends go on in the current segment, whose records before it replay skips.
            Console.Error.WriteLine($"serve: a new log segment could not be started at sample {position} ({e.Message}); the current one goes on.");
        }
        return position;
    }

    /// <summary>Answers one request's predictions with a forward pass of its own (after a batch held a row gone non-finite).</summary>
    private void PredictAlone(PredictItem item)
    {
        var replies = new List<Action>();
        Predict(new List<PredictItem> { item }, replies);
        foreach (var reply in replies) reply();
    }

    private void Publish()
    {
        var s = new ServiceSnapshot(trainer.Samples, position, trainer.ProgressiveAccuracy, trainer.WindowAccuracy,
            trainer.WindowLoss, trainer.MeanLoss, trainer.Drifts.Count, predictions, predictBatches, learnRate.Observe(position),
            predictRate.Observe(predictions), checkpoints, checkpointSample, diverged, log.Syncs, log.TornRecordsDropped,
            replayed, queue.Reader.CanCount ? queue.Reader.Count : 0, device.ToString(), uptime.Elapsed.TotalSeconds,
            checkpointFailures, lastCheckpointError, rejectedLearns.Count, log.LostSamples);
        Volatile.Write(ref snapshot, s);
    }

    /// <summary>
    /// A Linear/ReLU MLP shaped by a safetensors state dict: <c>{i}.weight</c> [out, in] (and <c>{i}.bias</c>) at
    /// Sequential positions i, ReLU at the positions between, as <c>torch.nn.Sequential(Linear, ReLU, Linear, …)</c> saves it.
    /// </summary>
    public static Sequential MlpFromFile(Device device, string path)
    {
        var file = SafeTensors.Load(path);
        var weights = file.Tensors.Keys.Where(k => k.EndsWith(".weight", StringComparison.Ordinal))
            .Select(k => (Key: k, Index: int.TryParse(k[..^".weight".Length], NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : -1))
            .OrderBy(w => w.Index).ToList();
        if (weights.Count == 0 || weights.Any(w => w.Index < 0 || file.Tensors[w.Key].Shape.Length != 2))
            throw new ArgumentException($"{path}: not a Sequential Linear/ReLU MLP (expected '0.weight', '2.weight', … of shape [out, in]).");
        var layers = new List<Module>();
        for (int n = 0; n < weights.Count; n++)
        {
            var shape = file.Tensors[weights[n].Key].Shape;
            if (n > 0 && file.Tensors[weights[n - 1].Key].Shape[0] != shape[1])
                throw new ArgumentException($"{path}: '{weights[n].Key}' takes {shape[1]} inputs but the layer before gives {file.Tensors[weights[n - 1].Key].Shape[0]}.");
            while (layers.Count < weights[n].Index) layers.Add(new Relu());
            layers.Add(new Linear(device, shape[1], shape[0], bias: file.Tensors.ContainsKey($"{weights[n].Index}.bias")));
        }
        var model = new Sequential(layers.ToArray());
        model.LoadStateDict(file.Tensors);
        return model;
    }
}
