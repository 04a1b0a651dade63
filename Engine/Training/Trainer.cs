using System.Diagnostics;
using Engine.Data;
using Engine.Distributed;
using Engine.Metrics;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Training;

/// <summary>The loss of a batch's predictions, e.g. <see cref="Trainer.CrossEntropy"/> or <see cref="Trainer.Mse"/>.</summary>
public delegate Tensor BatchLoss(Tensor predictions, Batch batch);

/// <summary>
/// Mini-batch training (Keras-like <c>Fit</c>): epochs of shuffled batches through forward, loss, backward and
/// one optimizer step; batch size = dataset size is full-batch gradient descent. Per epoch it records the mean
/// training loss (and accuracy for classification), evaluates a validation set, steps schedules, applies early
/// stopping and calls the callbacks. A loss that becomes NaN or ±∞ stops training with an error naming the
/// epoch and step. Each step reads back the loss (one scalar) and, for classification, the batch's predictions
/// (for the training accuracy): two host reads per step. A step's tensors live in a <see cref="DisposeScope"/>,
/// so device memory stays flat.
/// </summary>
public static class Trainer
{
    /// <summary>Softmax cross-entropy against the batch's class labels.</summary>
    public static readonly BatchLoss CrossEntropy = (p, b) =>
        Loss.CrossEntropy(p, b.Labels ?? throw new InvalidOperationException("cross-entropy needs a dataset with labels."));

    /// <summary>Mean squared error against the batch's regression targets.</summary>
    public static readonly BatchLoss Mse = (p, b) =>
        Loss.Mse(p, b.Targets ?? throw new InvalidOperationException("MSE needs a dataset with targets."));

    /// <summary>Throws for a label outside the model's classes, naming its dataset row (not its place in the batch).</summary>
    private static void CheckLabels(Batch batch, int classes, string where)
    {
        var labels = batch.Labels!;
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] < (uint)classes) continue;
            throw new ArgumentOutOfRangeException(nameof(batch),
                $"Trainer: dataset row {batch.Indices[i]} has label {labels[i]}, outside [0, {classes}) for a model " +
                $"with {classes} outputs ({where}).");
        }
    }

    /// <summary>Refuses a privacy setup made for another model, optimizer or dataset, or with settings it cannot take.</summary>
    private static void CheckPrivacy(Privacy.DpSgd privacy, Module model, Optimizer optimizer, Dataset train,
        TrainerOptions options, ICommunicator? comm)
    {
        if (!ReferenceEquals(privacy.Model, model))
            throw new ArgumentException("Trainer.Fit: options.Privacy was made for another model.", nameof(options));
        if (!ReferenceEquals(privacy.Optimizer.Optimizer, optimizer))
            throw new ArgumentException("Trainer.Fit: options.Privacy was made for another optimizer.", nameof(options));
        if (!ReferenceEquals(privacy.Loader.Dataset, train))
            throw new ArgumentException(
                "Trainer.Fit: options.Privacy was made for another dataset (its sampling rate is accounted for that one); " +
                "with ValidationFraction, split first and make the loader of the training part.", nameof(options));
        if (options.AccumulationSteps != 1 || comm != null)
            throw new NotSupportedException(
                "Trainer.Fit: differentially private training takes neither AccumulationSteps > 1 nor a Communicator.");
        if (options.ClipGradNorm != null)
            throw new NotSupportedException(
                "Trainer.Fit: ClipGradNorm with Privacy: DP-SGD clips each sample's gradient to its maxGradNorm and replaces " +
                "the batch gradient with the clipped, noised sum, so a global clip before the step would act on nothing; set " +
                "maxGradNorm instead.");
        if (options.Resume)
            throw new NotSupportedException(
                "Trainer.Fit: Resume with Privacy is not supported: checkpoints do not hold the accountant's history, so the " +
                "resumed run would under-report ε.");
    }

    public static History Fit(Module model, BatchLoss loss, Optimizer optimizer, Dataset train, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(options), $"Epochs must be ≥ 1, got {options.Epochs}.");
        if (options.BatchSize < 0)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"Trainer.Fit: BatchSize must be ≥ 1, or 0 for full-batch gradient descent; got {options.BatchSize}.");
        if (options.AccumulationSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"Trainer.Fit: AccumulationSteps must be ≥ 1 (batches per optimizer step), got {options.AccumulationSteps}.");
        if (options.ClipGradNorm is float clip && !(clip > 0 && float.IsFinite(clip)))
            throw new ArgumentOutOfRangeException(nameof(options), $"Trainer.Fit: ClipGradNorm must be a positive norm (or null), got {clip}.");
        if (!(options.ValidationFraction >= 0 && options.ValidationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"ValidationFraction must be in [0, 1), got {options.ValidationFraction}.");

        if (train.Count == 0) throw new ArgumentException("Trainer.Fit: the training set is empty (0 rows).", nameof(train));
        var validation = options.Validation;
        if (validation == null && options.ValidationFraction > 0)
        {
            int rows = train.Count;
            var parts = train.Split(options.Seed, 1 - options.ValidationFraction, options.ValidationFraction);
            (train, validation) = (parts[0], parts[1]);
            if (validation.Count == 0 || train.Count == 0)
                throw new ArgumentOutOfRangeException(nameof(options),
                    $"Trainer.Fit: ValidationFraction {options.ValidationFraction} of {rows} rows leaves " +
                    $"{validation.Count} validation and {train.Count} training rows; both need at least one.");
        }
        if (validation is { Count: 0 })
            throw new ArgumentException("Trainer.Fit: the validation set is empty (0 rows).", nameof(options));
        var device = optimizer.Device;
        int batchSize = options.BatchSize <= 0 || options.BatchSize >= train.Count ? train.Count : options.BatchSize;
        var comm = options.Communicator is { Size: > 1 } world ? world : null;
        bool leader = comm == null || comm.Rank == 0;
        var privacy = options.Privacy;
        if (privacy != null) CheckPrivacy(privacy, model, optimizer, train, options, comm);
        var loader = privacy?.Loader ?? new DataLoader(device, train, batchSize, options.Shuffle, options.DropLast, options.Seed)
        {
            Shard = comm == null ? null : (comm.Rank, comm.Size),
        };
        var parameters = model.NamedTensors().ToList(); // parameters and buffers (BatchNorm statistics)
        bool classification = train.Labels != null;
        var run = new TrainerRun();
        string? resumedFrom = null;
        if (options.CheckpointPath != null && options.Resume && File.Exists(options.CheckpointPath))
        {
            run = TrainerRun.Resume(options.CheckpointPath, model, optimizer, options);
            resumedFrom = options.CheckpointPath;
        }
        if (comm != null) ResumeAgreement.Check(comm, run, resumedFrom);
        if (run.Finished) return run.History;
        var ddp = comm == null ? null : new DistributedDataParallel(model, optimizer, comm, options.Zero, options.BucketCapMb);
        // ZeRO stage 2 sums each backward's gradients during it: the weight comes first and every backward is reduced.
        bool reducedInBackward = ddp is { Zero: ZeroStage.Gradients } && comm!.Size > 1;
        var totals = new double[3]; // a step's loss sum, non-finite flag and hits, all-reduced over the ranks

        for (int epoch = run.Epoch; epoch <= options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            model.Train();
            loader.Epoch = epoch - 1;
            int skip = run.Epoch == epoch ? run.StepInEpoch : 0;
            if (skip == 0) run.StartEpoch(epoch);
            int step = skip;
            int accumulate = options.AccumulationSteps;
            var group = new AccumulationGroup();
            foreach (var batch in loader.NextEpoch(skip))
            {
                step++;
                // The group of micro-batches this one belongs to: [first, last] (0-based), its global rows.
                int first = (step - 1) / accumulate * accumulate, last = Math.Min(first + accumulate, loader.BatchCount) - 1;
                bool groupEnd = step - 1 == last;
                if (step - 1 == first) group = new AccumulationGroup();
                using var scope = new DisposeScope();
                using (batch)
                {
                    // A rank whose shard of a short last batch is empty still takes part in the collectives.
                    Tensor? l = null, predictions = null;
                    float value = 0f;
                    long hits = 0;
                    if (batch.Count > 0)
                    {
                        predictions = model.Forward(batch.Features);
                        if (batch.Labels != null && predictions.Rank == 2)
                            CheckLabels(batch, predictions.Shape[1], $"epoch {epoch}, step {step}");
                        l = loss(predictions, batch);
                        value = l.Item();
                        if (classification)
                        {
                            var predicted = Classification.ArgMax(predictions.ToArray(), predictions.Shape[1]);
                            for (int i = 0; i < predicted.Length; i++) if (predicted[i] == batch.Labels![i]) hits++;
                        }
                    }
                    bool finite = float.IsFinite(value);
                    if (comm != null) // the global batch's mean loss, hits and finiteness, the same on every rank
                    {
                        (totals[0], totals[1], totals[2]) = ((double)value * batch.Count, finite ? 0 : 1, hits);
                        comm.AllReduce(totals, ReduceOp.Sum);
                        value = (float)(totals[0] / batch.GlobalCount);
                        finite = totals[1] == 0 && float.IsFinite(value);
                        hits = (long)totals[2];
                    }
                    if (!finite && !options.SkipNonFiniteSteps)
                        throw new TrainingDivergedException(
                            $"Training diverged: the loss is {value} at epoch {epoch}, step {step} " +
                            $"(lr {optimizer.Lr}). Lower the learning rate, clip gradients, or set SkipNonFiniteSteps.");
                    group.Add(value, batch.GlobalCount, hits, finite);
                    if (finite && accumulate == 1)
                    {
                        double weight = (double)batch.Count / batch.GlobalCount;
                        if (reducedInBackward) ddp!.GradientWeight = weight;
                        l?.Backward();
                        ddp?.AverageGradients(weight);
                    }
                    else if (finite)
                    {
                        // This micro-batch's share of the group's mean: Σ over the group (and the ranks) is its mean.
                        int groupRows = 0;
                        for (int i = first; i <= last; i++) groupRows += loader.GlobalRowsOf(i);
                        if (reducedInBackward) ddp!.GradientWeight = 1.0;
                        if (l != null) (l * (float)((double)batch.Count / groupRows)).Backward();
                        if (groupEnd || reducedInBackward) ddp?.AverageGradients(1.0);
                    }
                    if (groupEnd)
                    {
                        if (group.Finite)
                            options.OnAfterBackward?.Invoke(new TrainingProgress(epoch, step, loader.BatchCount,
                                accumulate == 1 ? value : group.MeanLoss));
                        if (group.Finite && options.ClipGradNorm is float maxNorm)
                        {
                            using var norm = ddp != null ? ddp.ClipGradNorm(maxNorm) : GradClip.ClipGradNorm(optimizer.Parameters, maxNorm);
                        }
                        if (group.Finite && (!options.SkipNonFiniteSteps || (ddp?.GradientsAreFinite() ?? optimizer.GradientsAreFinite())))
                        {
                            if (ddp != null) ddp.OptimizerStep();
                            else if (privacy != null) privacy.Step();
                            else optimizer.Step();
                            run.LossSum += group.LossSum;
                            run.Rows += group.Rows;
                            run.Hits += group.Hits;
                        }
                        else
                        {
                            run.History.SkippedSteps++;
                        }
                        if (privacy != null) privacy.ZeroGrad();
                        else optimizer.ZeroGrad();
                        run.GlobalStep++;
                        if (options.StepSchedulePerBatch) options.Schedule?.Step();
                    }
                    if (leader) options.OnBatchEnd?.Invoke(new TrainingProgress(epoch, step, loader.BatchCount, value));
                }
                if (groupEnd && options.CheckpointPath != null && options.CheckpointEverySteps > 0 &&
                    run.GlobalStep % options.CheckpointEverySteps == 0)
                {
                    run.Epoch = epoch;
                    run.StepInEpoch = step;
                    run.EpochSeconds += clock.Elapsed.TotalSeconds;
                    clock.Restart();
                    Save();
                }
            }
            if (!options.StepSchedulePerBatch) options.Schedule?.Step();

            double? valLoss = null, valAccuracy = null;
            if (validation != null) (valLoss, valAccuracy) = Evaluate(model, loss, validation, device, batchSize, comm);
            double trainLoss = run.LossSum / Math.Max(1, run.Rows);
            options.Plateau?.Step(valLoss ?? trainLoss);
            var record = new EpochRecord(epoch, trainLoss, classification ? (double)run.Hits / Math.Max(1, run.Rows) : null,
                valLoss, valAccuracy, optimizer.Lr, run.EpochSeconds + clock.Elapsed.TotalSeconds);
            run.History.Epochs.Add(record);
            if (leader) options.OnEpochEnd?.Invoke(record);
            run.Epoch = epoch + 1;
            run.StepInEpoch = 0;

            if (options.EarlyStopping is { } stop)
            {
                double monitored = valLoss ?? trainLoss;
                if (monitored < run.Best - stop.MinDelta)
                {
                    run.Best = monitored;
                    run.SinceBest = 0;
                    run.History.BestEpoch = epoch;
                    if (stop.RestoreBestWeights) run.BestWeights = parameters.ToDictionary(p => p.Name, p => p.Tensor.ToArray());
                }
                else if (++run.SinceBest >= stop.Patience)
                {
                    run.History.StoppedEarly = epoch < options.Epochs;
                    break;
                }
            }
            if (options.CheckpointPath != null && options.CheckpointEveryEpochs > 0 && epoch % options.CheckpointEveryEpochs == 0)
                Save();
        }
        if (run.BestWeights != null)
        {
            using (Autograd.NoGrad())
                foreach (var (name, p) in parameters) p.CopyFrom(run.BestWeights[name]);
        }
        if (options.CheckpointPath != null)
        {
            run.Finished = true;
            Save();
        }
        comm?.Barrier(); // the checkpoint is written before any rank goes on (and, say, reads it)
        return run.History;

        // Under ZeRO every rank gathers the optimizer state's shards (a collective) and rank 0 writes; with sharded
        // checkpoints every rank writes its shard, then rank 0 the file naming them, then stale shards go.
        void Save()
        {
            string path = options.CheckpointPath!;
            if (options.ShardedCheckpoints && ddp is { Zero: not ZeroStage.None } && comm!.Size > 1)
            {
                Serialization.Checkpoint.SaveOptimizerShard(path, optimizer, run.GlobalStep, comm.Rank, comm.Size);
                comm.Barrier(); // every shard is on disk before the file that names them
                if (leader) run.Save(path, model, optimizer, options, new Serialization.OptimizerShards(comm.Size, run.GlobalStep));
                comm.Barrier();
                if (leader) Serialization.Checkpoint.DeleteStaleShards(path, run.GlobalStep, comm.Size);
                return;
            }
            ddp?.ConsolidateState();
            if (!leader) return;
            run.Save(path, model, optimizer, options);
            Serialization.Checkpoint.DeleteStaleShards(path, run.GlobalStep, 0); // a sharded save's shards, now unnamed
        }
    }

    /// <summary>Mean loss (and accuracy for classification) of the model on a dataset, in eval mode, without a graph.</summary>
    /// <remarks>With a <paramref name="communicator"/> of several ranks, each rank evaluates its contiguous share of the
    /// rows and the sums are all-reduced: every rank gets the whole set's figures.</remarks>
    public static (double Loss, double? Accuracy) Evaluate(Module model, BatchLoss loss, Dataset data, Device device,
        int batchSize = 256, ICommunicator? communicator = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) throw new ArgumentException("Trainer.Evaluate: the dataset is empty (0 rows).", nameof(data));
        if (communicator is { Size: > 1 } comm)
        {
            int from = (int)((long)data.Count * comm.Rank / comm.Size), to = (int)((long)data.Count * (comm.Rank + 1) / comm.Size);
            var totals = new double[3];
            if (to > from)
            {
                var (shardLoss, shardAccuracy) = Evaluate(model, loss, data.Subset(Enumerable.Range(from, to - from).ToArray()),
                    device, batchSize);
                totals = new[] { shardLoss * (to - from), (shardAccuracy ?? 0) * (to - from), to - from };
            }
            comm.AllReduce(totals, ReduceOp.Sum);
            return (totals[0] / data.Count, data.Labels == null ? null : totals[1] / data.Count);
        }
        bool wasTraining = model.Training;
        model.Eval();
        try
        {
            var loader = new DataLoader(device, data, Math.Max(1, Math.Min(batchSize, data.Count)), shuffle: false);
            double sum = 0;
            long hits = 0;
            using (Autograd.NoGrad())
            {
                foreach (var batch in loader.NextEpoch())
                {
                    using var scope = new DisposeScope();
                    using (batch)
                    {
                        var predictions = model.Forward(batch.Features);
                        if (batch.Labels != null && predictions.Rank == 2)
                            CheckLabels(batch, predictions.Shape[1], "evaluation");
                        sum += loss(predictions, batch).Item() * batch.Count;
                        if (data.Labels == null) continue;
                        var predicted = Classification.ArgMax(predictions.ToArray(), predictions.Shape[1]);
                        for (int i = 0; i < predicted.Length; i++) if (predicted[i] == batch.Labels![i]) hits++;
                    }
                }
            }
            return (sum / data.Count, data.Labels == null ? null : (double)hits / data.Count);
        }
        finally
        {
            model.Train(wasTraining);
        }
    }

    /// <summary>The loss, rows and hits of an optimizer step's micro-batches, kept until the step is taken or skipped.</summary>
    private sealed class AccumulationGroup
    {
        public double LossSum { get; private set; }
        public long Rows { get; private set; }
        public long Hits { get; private set; }
        public bool Finite { get; private set; } = true;
        public float MeanLoss => (float)(LossSum / Math.Max(1, Rows));

        public void Add(float meanLoss, int rows, long hits, bool finite)
        {
            Finite &= finite;
            if (!finite) return;
            LossSum += meanLoss * rows;
            Rows += rows;
            Hits += hits;
        }
    }
}
