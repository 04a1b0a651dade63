using System.Diagnostics;
using Engine;
using Engine.Data;
using Engine.Distributed;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Examples;

/// <summary>
/// The data-parallel equivalence and fault check the tests run under <c>mpirun</c>: a small MLP trained by
/// <see cref="Trainer.Fit"/> with a global batch split over the ranks for a fixed number of steps; rank 0 writes the
/// final parameters. Faults on request: a rank that throws, kills itself or stops (SIGSTOP) at a step; a rank with a
/// different model.
/// </summary>
public static class DistributedCheckJob
{
    private const int SigStop = 19; // Linux

    /// <summary>POSIX kill(2), without needing a kill binary (the OpenCL test root has none).</summary>
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <param name="online">-1: mini-batch training (<see cref="Trainer.Fit"/>); 0: online, gradients averaged every
    /// step (rank r learns rows r, r + N, …); K &gt; 0: online, models averaged every K samples.</param>
    /// <param name="shuffle">false: the batches take the rows in order (to compare with online learning).</param>
    /// <param name="checkpoint">a checkpoint path (rank 0 writes it every <paramref name="checkpointEverySteps"/> steps), or null;
    /// <c>{rank}</c> in it becomes the rank (per-rank folders, as on node-local disks).</param>
    /// <param name="checkpointEverySteps">steps between checkpoints.</param>
    /// <param name="resume">continue from <paramref name="checkpoint"/> when it exists.</param>
    /// <param name="accumulate">batches per optimizer step (<see cref="TrainerOptions.AccumulationSteps"/>).</param>
    /// <param name="zero">the ZeRO stage (0: none, 1: optimizer state sharded, 2: gradients too; <see cref="TrainerOptions.Zero"/>);
    /// every rank prints the optimizer state and gradient bytes it holds.</param>
    /// <param name="zeroOffRank">a rank that trains without ZeRO while the others use <paramref name="zero"/> (-1: none).</param>
    /// <param name="classes">the model's outputs (labels stay 0–2): 3 gives 163 parameters, 4 gives 180, a multiple of
    /// 2 and 4 (ZeRO's shards then need no padding).</param>
    /// <param name="bucketMb">ZeRO stage 2's gradient bucket size (<see cref="TrainerOptions.BucketCapMb"/>).</param>
    /// <param name="clip">the gradients' global norm is clipped to this (<see cref="TrainerOptions.ClipGradNorm"/>; 0: not).</param>
    /// <param name="shardedCheckpoint">under ZeRO each rank writes its shard of the state (<see cref="TrainerOptions.ShardedCheckpoints"/>).</param>
    public static int Run(string deviceKind, string optimizerName, int epochs, int batchSize, string output,
        int failRank, int failAt, string failHow, int mismatchRank, int online = -1, bool shuffle = true,
        string? checkpoint = null, int checkpointEverySteps = 0, bool resume = false, int accumulate = 1,
        int zero = 0, int zeroOffRank = -1, int classes = 3, double bucketMb = 25, float clip = 0, bool shardedCheckpoint = false)
    {
        if (zero is < 0 or > 2) throw new ArgumentException($"distributed-check: --zero must be 0, 1 or 2, got {zero}.");
        return DistributedRun.Run(comm =>
        {
            using var dev = Device.Create(deviceKind);
            int hidden = comm.Rank == mismatchRank ? 17 : 16;
            using var model = new Sequential(new Linear(dev, 6, hidden, seed: 1), new Tanh(), new Linear(dev, hidden, classes, seed: 2));
            using var optimizer = optimizerName switch
            {
                "sgd" => (Optimizer)new Sgd(model.Parameters(), lr: 0.1f, momentum: 0.9f),
                "adam" => new Adam(model.Parameters(), lr: 0.01f),
                "adamw" => new AdamW(model.Parameters(), lr: 0.01f, weightDecay: 0.05f),
                "lamb" => new Lamb(model.Parameters(), lr: 0.01f),
                _ => throw new ArgumentException($"distributed-check: --optimizer must be sgd, adam, adamw or lamb, got '{optimizerName}'."),
            };
            var rng = new Random(5);
            var x = Enumerable.Range(0, 96 * 6).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var labels = Enumerable.Range(0, 96).Select(i => (x[6 * i] + x[6 * i + 1] > 0 ? 1 : 0) + (x[6 * i + 2] > 0.5 ? 1 : 0)).ToArray();
            var data = Dataset.WithLabels(x, 6, labels);
            if (online >= 0)
            {
                using var learner = new OnlineTrainer(model, optimizer);
                learner.Distribute(comm, averageModelsEvery: online);
                var mine = Enumerable.Range(0, 96 / comm.Size).Select(k => k * comm.Size + comm.Rank)
                    .Select(i => new Sample(x[(6 * i)..(6 * i + 6)], labels[i]));
                for (int e = 0; e < epochs; e++) learner.Run(mine);
                if (comm.Rank == 0)
                {
                    model.Save(output);
                    Console.WriteLine($"{comm.Description}: online, {learner.Samples} samples on rank 0, " +
                                      $"progressive accuracy {learner.ProgressiveAccuracy:P2}");
                }
                return 0;
            }
            var history = Trainer.Fit(model, Trainer.CrossEntropy, optimizer, data, new TrainerOptions
            {
                Epochs = epochs, BatchSize = batchSize, Seed = 3, Communicator = comm, Shuffle = shuffle,
                AccumulationSteps = accumulate, BucketCapMb = bucketMb, ClipGradNorm = clip > 0 ? clip : null,
                ShardedCheckpoints = shardedCheckpoint,
                Zero = comm.Rank == zeroOffRank ? ZeroStage.None : (ZeroStage)zero,
                CheckpointPath = checkpoint?.Replace("{rank}", comm.Rank.ToString()), CheckpointEverySteps = checkpointEverySteps, Resume = resume,
                OnAfterBackward = p =>
                {
                    if (comm.Rank != failRank || (p.Epoch - 1) * ((96 + batchSize - 1) / batchSize) + p.Step != failAt) return;
                    if (failHow == "kill") Process.GetCurrentProcess().Kill();
                    if (failHow == "stall")
                    {
                        // SIGSTOP: alive but frozen, as a rank on a hung node; the others wait in the next collective.
                        if (Kill(Environment.ProcessId, SigStop) != 0)
                            throw new InvalidOperationException("distributed-check: kill(SIGSTOP) on itself failed.");
                        Thread.Sleep(Timeout.Infinite);
                    }
                    throw new InvalidOperationException($"injected failure at step {failAt}");
                },
            });
            Console.WriteLine($"rank {comm.Rank}: optimizer state {optimizer.StateBytes} bytes, gradients {optimizer.GradientBytes} bytes");
            if (comm.Rank == 0)
            {
                model.Save(output);
                Console.WriteLine($"{comm.Description}: {history.Epochs.Count} epochs, final loss {history.Epochs[^1].TrainLoss:F6}, " +
                                  $"accuracy {history.Epochs[^1].TrainAccuracy:P2}");
            }
            return 0;
        });
    }
}
