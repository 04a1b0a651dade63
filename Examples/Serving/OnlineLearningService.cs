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
    int TornRecordsDropped, long ReplayedSamples, int QueueDepth, string Device, double UptimeSeconds);

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
    private readonly Optimizer optimizer;
    private readonly OnlineTrainer trainer;
    private readonly LearnLog log;
    private readonly Channel<WorkItem> queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread worker;
    private readonly RateMeter learnRate = new(), predictRate = new();
    private readonly Stopwatch uptime = Stopwatch.StartNew();
    private long position, predictions, predictBatches, diverged, checkpoints, checkpointSample, replayed;
    private ServiceSnapshot snapshot = null!;
    private bool stopped;

    public OnlineLearningService(ServeOptions options)
    {
        this.options = options ?? throw new ArgumentNullException(nameof(options));
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
        optimizer = new Sgd(model.Parameters(), options.Lr);
        trainer = new OnlineTrainer(model, optimizer, new PageHinkley(), DriftReaction.None, window: 500);
        Directory.CreateDirectory(options.StateDir);
        log = LearnLog.Open(Path.Combine(options.StateDir, "log"));
        Recover();
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

    private string CheckpointPath => Path.Combine(options.StateDir, "checkpoint.safetensors");

    public Task<Prediction[]> PredictAsync(ParsedSamples samples) => Enqueue(new PredictItem(samples), i => i.Done.Task);

    /// <summary>Completes once the samples are durable in the log and learned from.</summary>
    public Task<LearnOutcome> LearnAsync(ParsedSamples samples) => Enqueue(new LearnItem(samples), i => i.Done.Task);

    /// <summary>Saves a checkpoint now (after everything queued before it); returns the stream position it holds.</summary>
    public Task<long> CheckpointAsync() => Enqueue(new ActionItem<long>(SaveCheckpoint), i => i.Done.Task);

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
        if (position > checkpointSample) SaveCheckpoint();
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

    private void Recover()
    {
        if (File.Exists(CheckpointPath))
        {
            trainer.LoadCheckpoint(CheckpointPath, out var progress);
            var saved = JsonSerializer.Deserialize<Dictionary<string, long>>(progress["serve"])!;
            (position, predictions, diverged, checkpointSample) =
                (saved["position"], saved["predictions"], saved["diverged"], saved["position"]);
        }
        foreach (var record in log.Replay(position))
        {
            Apply(record, reply: false);
            replayed += record.Samples.Count;
        }
    }

    private void Work()
    {
        var batch = new List<WorkItem>();
        while (queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            while (batch.Count < 4096 && queue.Reader.TryRead(out var item)) batch.Add(item);
            var replies = Process(batch);
            if (position / options.CheckpointEvery > checkpointSample / options.CheckpointEvery) SaveCheckpoint();
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
            catch (IOException e)
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
                    replies.Add(Complete(l.Done, () => Apply(l.Record!, reply: true)));
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

    private long SaveCheckpoint()
    {
        var progress = new Dictionary<string, string>
        {
            ["serve"] = JsonSerializer.Serialize(new Dictionary<string, long>
            {
                ["position"] = position, ["predictions"] = predictions, ["diverged"] = diverged,
            }),
        };
        trainer.SaveCheckpoint(CheckpointPath, progress);
        log.Rotate(position);
        checkpoints++;
        checkpointSample = position;
        return position;
    }

    private void Publish()
    {
        var s = new ServiceSnapshot(trainer.Samples, position, trainer.ProgressiveAccuracy, trainer.WindowAccuracy,
            trainer.WindowLoss, trainer.MeanLoss, trainer.Drifts.Count, predictions, predictBatches, learnRate.Observe(position),
            predictRate.Observe(predictions), checkpoints, checkpointSample, diverged, log.Syncs, log.TornRecordsDropped,
            replayed, queue.Reader.CanCount ? queue.Reader.Count : 0, device.ToString(), uptime.Elapsed.TotalSeconds);
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
