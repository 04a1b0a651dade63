using System.Diagnostics;
using System.Text.Json;
using Engine;
using Engine.Distributed;
using Engine.Optim;
using Engine.Serialization;
using Spectre.Console;

namespace Examples.Gpt;

/// <summary>
/// The <c>gpt</c> example: a character-level nanoGPT on tiny-shakespeare (first 90 % train, last 10 % validation), in
/// batch mode (nanoGPT's CPU recipe: random blocks, AdamW β₂ 0.99 with weight decay on matrices only, warm-up then
/// cosine decay, clipping at 1) and in online mode (the training text read once, in order: each block scored, then
/// learned from with one step), with their validation losses in one table; then a sample from the batch model through
/// the KV cache, and the model saved as safetensors under PyTorch's names with <c>--out</c>. Under
/// <c>mpirun -np N</c> batch mode trains data-parallel: every rank draws the same batch and takes its share of the
/// rows, the gradients are averaged, and with <c>--zero 1</c> each rank keeps 1/N of AdamW's state (ZeRO stage 1);
/// rank 0 reports, and <c>--memory</c> prints every rank's peak and optimizer state.
/// </summary>
public static class GptJob
{
    public sealed record Result(string Mode, int Steps, long Tokens, double TrainLoss, double? Progressive,
        double ValLoss, double Seconds);

    public static int Run(GptOptions o) => DistributedRun.Run(comm => Run(o, comm));

    private static int Run(GptOptions o, ICommunicator comm)
    {
        if (o.Mode is not ("batch" or "online" or "compare"))
            throw new ArgumentException($"gpt: --mode must be batch, online or compare, got '{o.Mode}'.");
        if (o.Zero is not (0 or 1 or 2))
            throw new ArgumentException($"gpt: --zero must be 0, 1 or 2, got {o.Zero}.");
        if (comm.Size > 1 && (o.Mode != "batch" || o.Trajectory != null))
            throw new ArgumentException($"gpt: under mpirun ({comm.Size} ranks) only --mode batch trains (data-parallel), " +
                                        "without --trajectory.");
        if (comm.Size > 1 && o.BatchSize < comm.Size)
            throw new ArgumentException($"gpt: --batch-size {o.BatchSize} is smaller than the {comm.Size} ranks sharing it.");
        var perRank = Console.Out;
        if (comm.Rank != 0) Console.SetOut(TextWriter.Null); // rank 0 reports
        using var dev = Device.Create(o.Device);
        var corpus = Corpus.Load(o.Data);
        var config = new GptConfig(corpus.Vocabulary.Length, o.BlockSize, o.Layers, o.Heads, o.Embd, o.Dropout);
        Console.WriteLine($"device: {dev}; tiny-shakespeare {corpus.Train.Length:N0} train / {corpus.Val.Length:N0} " +
                          $"validation characters, vocabulary {corpus.Vocabulary.Length}");
        var results = new List<Result>();
        GptModel? batchModel = null;
        if (o.Mode is "batch" or "compare")
        {
            batchModel = new GptModel(dev, config, o.Seed) { CheckpointEvery = o.Checkpoint };
            Console.WriteLine($"model: {config.Layers} layers, {config.Heads} heads, n_embd {config.Embd}, block " +
                              $"{config.BlockSize}: {batchModel.Parameters().Sum(p => (long)p.Numel):N0} parameters");
            results.Add(TrainBatch(batchModel, corpus, o, comm, perRank));
        }
        GptModel? onlineModel = null;
        if (o.Mode is "online" or "compare")
        {
            onlineModel = new GptModel(dev, config, o.Seed) { CheckpointEvery = o.Checkpoint };
            results.Add(TrainOnline(onlineModel, corpus, o));
        }
        var table = new Table().AddColumns("mode", "steps", "tokens", "train loss", "progressive loss (bits/char)",
            "validation loss", "wall time", "tokens/s");
        foreach (var r in results)
            table.AddRow(r.Mode, $"{r.Steps:N0}", $"{r.Tokens:N0}", $"{r.TrainLoss:F4}",
                r.Progressive is { } p ? $"{p:F4} ({p / Math.Log(2):F3})" : "-", $"{r.ValLoss:F4}", $"{r.Seconds:F1} s",
                $"{r.Tokens / r.Seconds:N0}");
        AnsiConsole.Write(table);
        var model = batchModel ?? onlineModel!;
        if (o.Sample > 0 && comm.Rank == 0)
        {
            var prompt = corpus.Encode(o.Prompt);
            var text = model.Generate(prompt, o.Sample, o.Temperature, o.TopK, new Random(o.Seed));
            Console.WriteLine($"sample ({o.Sample} characters, temperature {o.Temperature}, top-k {o.TopK}, KV cache):");
            Console.WriteLine(corpus.Decode(text));
        }
        if (o.Out != null && comm.Rank == 0)
        {
            SafeTensors.Save(o.Out, model.StateDict(), Metadata(config, corpus));
            Console.WriteLine($"model: {Path.GetFullPath(o.Out)} (load it in PyTorch: python3 Examples/Gpt/gpt_torch.py " +
                              $"continue {o.Out})");
        }
        batchModel?.Dispose();
        onlineModel?.Dispose();
        return 0;
    }

    /// <summary>The peak allocated bytes since the last call (as megabytes), kept in <paramref name="runPeak"/>.</summary>
    private static string PeakSinceLastReport(Device dev, ref long runPeak)
    {
        long peak = dev.Memory.PeakAllocatedBytes;
        runPeak = Math.Max(runPeak, peak);
        dev.ResetPeakMemoryStats();
        return Megabytes(peak);
    }

    private static string Megabytes(long bytes) => $"{bytes / 1048576.0:F1} MB";

    /// <summary>The configuration and vocabulary, so the PyTorch script rebuilds the same model and text encoding.</summary>
    private static Dictionary<string, string> Metadata(GptConfig c, Corpus corpus) => new()
    {
        ["vocab_size"] = c.VocabSize.ToString(),
        ["block_size"] = c.BlockSize.ToString(),
        ["n_layer"] = c.Layers.ToString(),
        ["n_head"] = c.Heads.ToString(),
        ["n_embd"] = c.Embd.ToString(),
        ["vocabulary"] = JsonSerializer.Serialize(corpus.Vocabulary),
    };

    private static Result TrainBatch(GptModel model, Corpus corpus, GptOptions o, ICommunicator comm, TextWriter perRank)
    {
        var dev = model.Device;
        using var optimizer = GptRecipe.Optimizer(model, o);
        // Data-parallel under mpirun: every rank draws the same batch and takes rows [from, to) of it.
        var ddp = comm.Size > 1
            ? new DistributedDataParallel(model, optimizer, comm, o.Zero switch
            {
                1 => ZeroStage.OptimizerState,
                2 => ZeroStage.Gradients,
                _ => ZeroStage.None,
            }, o.BucketMb)
            : null;
        int from = o.BatchSize * comm.Rank / comm.Size, to = o.BatchSize * (comm.Rank + 1) / comm.Size;
        var random = new Random(o.Seed);
        int b = o.BatchSize, t = o.BlockSize;
        var trajectory = o.Trajectory != null ? new Trajectory(o.Trajectory, model) : null;
        double lastTrain = double.NaN, lastVal = double.NaN;
        var clock = Stopwatch.StartNew();
        var evalClock = new Stopwatch();
        Console.WriteLine($"batch: {o.Iters} steps of {b}×{t} tokens, AdamW lr {o.Lr} → {o.MinLr} (warm-up {o.Warmup}), " +
                          $"weight decay {o.WeightDecay} on matrices, clip {o.GradClip}" +
                          (o.Checkpoint > 0 ? $", activation checkpointing every {o.Checkpoint} block(s)" : ""));
        long runPeak = 0;
        for (int it = 0; it <= o.Iters; it++)
        {
            if (it % o.EvalInterval == 0 || it == o.Iters)
            {
                // The training steps' peak since the last report (read before the estimates, which run without a graph).
                string peak = o.Memory && it > 0 ? $", peak {PeakSinceLastReport(dev, ref runPeak)}" : "";
                evalClock.Start();
                lastTrain = Estimate(model, corpus.Train, o, new Random(o.Seed + 1 + it));
                lastVal = Estimate(model, corpus.Val, o, new Random(o.Seed + 2 + it));
                evalClock.Stop();
                Console.WriteLine($"  step {it,5}: train loss {lastTrain:F4}, val loss {lastVal:F4}  " +
                                  $"({(clock.Elapsed - evalClock.Elapsed).TotalSeconds:F1} s training){peak}");
                dev.ResetPeakMemoryStats();
            }
            if (it == o.Iters) break;
            float lr = GptRecipe.LearningRate(it, o);
            foreach (var g in optimizer.ParamGroups) g.Lr = lr;
            using var scope = new DisposeScope();
            var offsets = Enumerable.Range(0, b).Select(_ => random.Next(corpus.Train.Length - t)).ToArray();
            var mine = ddp == null ? offsets : offsets[from..to];
            var (x, y) = GptRecipe.Batch(corpus.Train, mine, t);
            var loss = model.Loss(Tensor.FromArray(dev, x, new[] { mine.Length, t }), y);
            double weight = (double)mine.Length / b; // this rank's share of the whole batch's mean gradient
            if (ddp is { Zero: ZeroStage.Gradients }) ddp.GradientWeight = weight; // ZeRO-2 sums during backward
            loss.Backward();
            ddp?.AverageGradients(weight);
            if (o.GradClip > 0) // over the ranks' shards under ZeRO-2
                _ = ddp != null ? ddp.ClipGradNorm(o.GradClip) : GradClip.ClipGradNorm(model.Parameters(), o.GradClip);
            if (ddp != null) ddp.OptimizerStep();
            else optimizer.Step();
            optimizer.ZeroGrad();
            trajectory?.Record(offsets, loss.Item());
        }
        double seconds = (clock.Elapsed - evalClock.Elapsed).TotalSeconds;
        if (o.Memory && ddp == null) Console.WriteLine($"batch: peak memory of the training steps {Megabytes(runPeak)} allocated");
        if (o.Memory && ddp != null)
        {
            // Every rank's own figures, in rank order.
            for (int r = 0; r < comm.Size; r++)
            {
                if (r == comm.Rank)
                    perRank.WriteLine($"rank {r} of {comm.Size}: peak memory of the training steps {Megabytes(runPeak)} " +
                                      $"allocated, optimizer state {Megabytes(ddp.OptimizerStateBytes)}, gradients " +
                                      $"{Megabytes(ddp.GradientBytes)}" + o.Zero switch
                                      {
                                          1 => " (ZeRO-1: 1/N of AdamW's moments)",
                                          2 => " (ZeRO-2: 1/N of AdamW's moments and of the gradients)",
                                          _ => "",
                                      });
                perRank.Flush();
                comm.Barrier();
            }
        }
        trajectory?.Finish(model, o);
        return new Result("batch", o.Iters, (long)o.Iters * b * t, lastTrain, null, lastVal, seconds);
    }

    /// <summary>
    /// The training text once, in order, as consecutive blocks of <c>BlockSize</c> next-character predictions: each
    /// block's loss is taken before the model learns from it (the progressive, prequential loss), then one AdamW step
    /// at the peak lr after the same warm-up (a stream has no horizon to decay over).
    /// </summary>
    private static Result TrainOnline(GptModel model, Corpus corpus, GptOptions o)
    {
        var dev = model.Device;
        using var optimizer = GptRecipe.Optimizer(model, o);
        int t = o.BlockSize;
        int chars = o.OnlineChars > 0 ? Math.Min(o.OnlineChars, corpus.Train.Length) : corpus.Train.Length;
        int blocks = (chars - 1) / t;
        Console.WriteLine($"online: {blocks:N0} blocks of {t} characters read once, in order; score, then one step each");
        double progressive = 0, window = 0;
        int inWindow = 0;
        long runPeak = 0;
        dev.ResetPeakMemoryStats();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < blocks; i++)
        {
            foreach (var g in optimizer.ParamGroups) g.Lr = i < o.Warmup ? o.Lr * (i + 1) / (o.Warmup + 1) : o.Lr;
            using var scope = new DisposeScope();
            var (x, y) = GptRecipe.Batch(corpus.Train, new[] { i * t }, t);
            var loss = model.Loss(Tensor.FromArray(dev, x, new[] { 1, t }), y);
            loss.Backward();
            if (o.GradClip > 0) GradClip.ClipGradNorm(model.Parameters(), o.GradClip);
            optimizer.Step();
            optimizer.ZeroGrad();
            double l = loss.Item();
            progressive += l;
            window += l;
            if (++inWindow == 1000 || i == blocks - 1)
            {
                Console.WriteLine($"  block {i + 1,6:N0}: progressive loss {progressive / (i + 1):F4}, last {inWindow} " +
                                  $"blocks {window / inWindow:F4}" +
                                  (o.Memory ? $", peak {PeakSinceLastReport(dev, ref runPeak)}" : ""));
                window = 0;
                inWindow = 0;
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        if (o.Memory) Console.WriteLine($"online: peak memory of the training steps {Megabytes(runPeak)} allocated");
        double val = Estimate(model, corpus.Val, o, new Random(o.Seed + 2 + o.Iters));
        double train = Estimate(model, corpus.Train, o, new Random(o.Seed + 1 + o.Iters));
        return new Result("online", blocks, (long)blocks * t, train, progressive / Math.Max(1, blocks), val, seconds);
    }

    /// <summary>nanoGPT's <c>estimate_loss</c>: the mean loss of EvalIters random batches, in evaluation mode.</summary>
    public static double Estimate(GptModel model, int[] data, GptOptions o, Random random)
    {
        var dev = model.Device;
        model.Eval();
        using var noGrad = Autograd.NoGrad();
        double total = 0;
        for (int i = 0; i < o.EvalIters; i++)
        {
            using var scope = new DisposeScope();
            var offsets = Enumerable.Range(0, o.BatchSize).Select(_ => random.Next(data.Length - o.BlockSize)).ToArray();
            var (x, y) = GptRecipe.Batch(data, offsets, o.BlockSize);
            total += model.Loss(Tensor.FromArray(dev, x, new[] { o.BatchSize, o.BlockSize }), y).Item();
        }
        model.Train();
        return total / o.EvalIters;
    }

    /// <summary>
    /// What <c>gpt_torch.py check</c> replays: the initial weights, each step's batch offsets and loss, and the weights
    /// after the last step.
    /// </summary>
    private sealed class Trajectory
    {
        private readonly string dir;
        private readonly List<int[]> offsets = new();
        private readonly List<double> losses = new();

        public Trajectory(string dir, GptModel model)
        {
            this.dir = dir;
            Directory.CreateDirectory(dir);
            SafeTensors.Save(Path.Combine(dir, "initial.safetensors"), model.StateDict());
        }

        public void Record(int[] batch, double loss)
        {
            offsets.Add(batch);
            losses.Add(loss);
        }

        public void Finish(GptModel model, GptOptions o)
        {
            SafeTensors.Save(Path.Combine(dir, "final.safetensors"), model.StateDict());
            var c = model.Config;
            File.WriteAllText(Path.Combine(dir, "trajectory.json"), JsonSerializer.Serialize(new
            {
                vocab_size = c.VocabSize, block_size = c.BlockSize, n_layer = c.Layers, n_head = c.Heads, n_embd = c.Embd,
                iters = o.Iters, lr = o.Lr, min_lr = o.MinLr, warmup = o.Warmup, weight_decay = o.WeightDecay,
                grad_clip = o.GradClip, batch_size = o.BatchSize, offsets, losses,
            }));
            Console.WriteLine($"trajectory: {Path.GetFullPath(dir)} (check it: python3 Examples/Gpt/gpt_torch.py check {dir})");
        }
    }
}
