using Engine.Data;
using Engine.Distributed;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;
using Engine.Training;
using FsCheck.Xunit;

namespace Engine.Tests.Distributed;

/// <summary>
/// Data-parallel and federated training: the pieces in one process (sharding, a world of one, FedAvg with one client),
/// and the real thing under mpirun: 2 and 4 processes end where one process ends, and a failing, killed or mismatched
/// rank ends the whole job quickly with a message naming it.
/// </summary>
public sealed class DataParallelTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-mpi-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Property(MaxTest = 60)]
    public void Shards_of_each_batch_are_disjoint_and_together_are_the_one_process_batch(byte rowsSeed, byte batchSeed, byte sizeSeed)
    {
        int rows = 1 + rowsSeed % 50, batch = 1 + batchSeed % 20, size = 1 + sizeSeed % 5;
        var data = Dataset.WithLabels(Enumerable.Range(0, rows).Select(i => (float)i).ToArray(), 1, new int[rows]);
        var dev = TestDevice.Instance;
        var whole = new DataLoader(dev, data, batch, seed: 4).NextEpoch().Select(b => { b.Dispose(); return b.Indices; }).ToList();
        var shards = Enumerable.Range(0, size).Select(r => new DataLoader(dev, data, batch, seed: 4) { Shard = (r, size) }
            .NextEpoch().Select(b => { b.Dispose(); return (b.Indices, b.GlobalCount); }).ToList()).ToList();
        for (int step = 0; step < whole.Count; step++)
        {
            Assert.Equal(whole[step], shards.SelectMany(s => s[step].Indices));
            Assert.All(shards, s => Assert.Equal(whole[step].Length, s[step].GlobalCount));
        }
    }

    [Fact]
    public void A_world_of_one_changes_nothing()
    {
        using var comm = new SingleProcessCommunicator();
        var values = new[] { 1f, 2f };
        comm.AllReduce(values, ReduceOp.Mean);
        comm.Broadcast(values);
        Assert.Equal(new[] { 1f, 2f }, values);
        Assert.Equal((0, 1), (comm.Rank, comm.Size));
        Assert.IsType<SingleProcessCommunicator>(Communicator.FromEnvironment()); // no mpirun here
    }

    [Fact]
    public void Federated_averaging_with_one_client_equals_plain_local_training()
    {
        var dev = TestDevice.Instance;
        var rng = new Random(3);
        var x = Enumerable.Range(0, 90 * 4).Select(_ => (float)rng.NextDouble()).ToArray();
        var data = Dataset.WithLabels(x, 4, Enumerable.Range(0, 90).Select(i => x[4 * i] > x[4 * i + 1] ? 1 : 0).ToArray());
        float[] Train(bool federated)
        {
            using var model = new Sequential(new Linear(dev, 4, 8, seed: 1), new Relu(), new Linear(dev, 8, 2, seed: 2));
            using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
            if (federated)
                FederatedAveraging.Run(new SingleProcessCommunicator(), model, sgd, Trainer.CrossEntropy, data,
                    new FederatedOptions { Rounds = 3, LocalEpochs = 2, BatchSize = 16, Seed = 5 });
            else
                Trainer.Fit(model, Trainer.CrossEntropy, sgd, data, new TrainerOptions { Epochs = 6, BatchSize = 16, Seed = 5 });
            return model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        }
        Assert.Equal(Train(federated: false), Train(federated: true));
    }

    private float[] Parameters(string file) => SafeTensors.Load(file).Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal)
        .SelectMany(kv => kv.Value.Values).ToArray();

    [Theory]
    [InlineData("sgd", 16)]
    [InlineData("adam", 16)]
    [InlineData("sgd", 19)] // 96 rows: the last batch has 1 row, so some ranks' shares of it are empty
    public void Two_and_four_processes_with_a_share_of_each_batch_end_with_the_one_process_parameters(string optimizer, int batch)
    {
        string one = Path.Combine(folder, "one.safetensors");
        ExamplesProcess.Run("distributed-check", "--optimizer", optimizer, "--batch-size", batch.ToString(), "--out", one);
        var expected = Parameters(one);
        foreach (int ranks in new[] { 2, 4 })
        {
            string file = Path.Combine(folder, $"ranks{ranks}.safetensors");
            var run = MpiJob.Run(ranks, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", optimizer,
                "--batch-size", batch.ToString(), "--out", file);
            Assert.True(run.ExitCode == 0, $"mpirun -np {ranks} exited {run.ExitCode}: {run.Stdout}{run.Stderr}");
            Assert.Contains($"rank 0 of {ranks}", run.Stdout);
            var actual = Parameters(file);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * Math.Max(1, Math.Abs(expected[i])),
                    $"{ranks} ranks, parameter {i}: {actual[i]} vs one process {expected[i]}");
        }
    }

    /// <summary>
    /// Gradient accumulation under DDP (all-reduce on a group's last micro-batch only, as no_sync): 2 ranks, micro-batches
    /// of 8 rows (4 each), 4 per step, end where one process with batches of 32 does. 96 rows: no short groups; without
    /// shuffling the micro-batches of a group are the big batch's rows.
    /// </summary>
    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void Accumulated_micro_batches_on_two_ranks_end_with_the_one_process_big_batch_parameters(string optimizer)
    {
        string one = Path.Combine(folder, "big.safetensors");
        ExamplesProcess.Run("distributed-check", "--optimizer", optimizer, "--batch-size", "32", "--no-shuffle", "--out", one);
        var expected = Parameters(one);
        string file = Path.Combine(folder, "accumulated.safetensors");
        var run = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", optimizer, "--batch-size", "8",
            "--accumulate", "4", "--no-shuffle", "--out", file);
        Assert.True(run.ExitCode == 0, $"mpirun -np 2 exited {run.ExitCode}: {run.Stdout}{run.Stderr}");
        var actual = Parameters(file);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * Math.Max(1, Math.Abs(expected[i])),
                $"parameter {i}: {actual[i]} accumulated on 2 ranks vs {expected[i]} in one big batch");
    }

    [Fact]
    public void A_job_killed_mid_run_resumes_from_rank_0s_checkpoint_to_the_uninterrupted_result()
    {
        string uninterrupted = Path.Combine(folder, "whole.safetensors");
        var whole = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adam", "--epochs", "3",
            "--out", uninterrupted);
        Assert.True(whole.ExitCode == 0, whole.Stdout + whole.Stderr);
        string checkpoint = Path.Combine(folder, "run.ckpt");
        var killed = MpiJob.Run(2, TimeSpan.FromSeconds(60), "distributed-check", "--optimizer", "adam", "--epochs", "3",
            "--checkpoint", checkpoint, "--checkpoint-every-steps", "4", "--fail-rank", "1", "--fail-how", "kill",
            "--fail-at", "10", "--out", Path.Combine(folder, "never.safetensors"));
        Assert.NotEqual(0, killed.ExitCode);
        Assert.True(File.Exists(checkpoint), "rank 0 wrote checkpoints before the kill");
        string resumed = Path.Combine(folder, "resumed.safetensors");
        var again = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adam", "--epochs", "3",
            "--checkpoint", checkpoint, "--checkpoint-every-steps", "4", "--resume", "--out", resumed);
        Assert.True(again.ExitCode == 0, again.Stdout + again.Stderr);
        Assert.Equal(Parameters(uninterrupted), Parameters(resumed));
    }

    [Fact]
    public void Online_learning_on_two_ranks_with_averaged_gradients_is_mini_batch_learning_of_their_samples_together()
    {
        // Rank r learns rows r, r + 2, …; averaging the two per-sample gradients each step is the gradient of the
        // mean loss over rows 2k and 2k + 1: one process learning in order with batches of 2.
        string reference = Path.Combine(folder, "batch2.safetensors");
        ExamplesProcess.Run("distributed-check", "--batch-size", "2", "--no-shuffle", "--out", reference);
        string online = Path.Combine(folder, "online.safetensors");
        var run = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--online", "0", "--out", online);
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        var expected = Parameters(reference);
        var actual = Parameters(online);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * Math.Max(1, Math.Abs(expected[i])),
                $"parameter {i}: {actual[i]} vs {expected[i]}");

        string averaged = Path.Combine(folder, "averaged.safetensors");
        var local = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--online", "8", "--out", averaged);
        Assert.True(local.ExitCode == 0, local.Stdout + local.Stderr);
        Assert.Contains("online, 96 samples on rank 0", local.Stdout);
        Assert.NotEqual(expected, Parameters(averaged)); // local SGD with model averaging is another algorithm
    }

    [Theory]
    [InlineData("throw", "rank 1 of 2: InvalidOperationException: injected failure at step 3")]
    [InlineData("kill", "rank 1")]
    public void A_rank_that_fails_ends_the_whole_job_quickly_naming_the_rank(string how, string expected)
    {
        var run = MpiJob.Run(2, TimeSpan.FromSeconds(60), "distributed-check", "--fail-rank", "1", "--fail-at", "3",
            "--fail-how", how, "--out", Path.Combine(folder, "never.safetensors"));
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(expected, run.Stdout + run.Stderr);
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(10), $"the job took {run.Elapsed.TotalSeconds:F1} s to end");
        Assert.False(File.Exists(Path.Combine(folder, "never.safetensors")));
    }

    /// <summary>
    /// Per-rank checkpoint folders (node-local disks) where only rank 0's holds a checkpoint: rank 0 would resume and
    /// rank 1 start at step 0, and the job would hang in mismatched collectives. It stops at once naming both.
    /// </summary>
    [Fact]
    public void Ranks_resuming_from_different_checkpoints_are_stopped_at_the_start_naming_each_position()
    {
        string perRank = Path.Combine(folder, "run-{rank}.ckpt");
        var first = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--epochs", "1", "--checkpoint", perRank,
            "--checkpoint-every-steps", "4", "--out", Path.Combine(folder, "first.safetensors"));
        Assert.True(first.ExitCode == 0, first.Stdout + first.Stderr);
        Assert.True(File.Exists(Path.Combine(folder, "run-0.ckpt")));
        Assert.False(File.Exists(Path.Combine(folder, "run-1.ckpt")), "only rank 0 writes checkpoints");
        var resumed = MpiJob.Run(2, TimeSpan.FromSeconds(60), "distributed-check", "--epochs", "3", "--checkpoint", perRank,
            "--checkpoint-every-steps", "4", "--resume", "--out", Path.Combine(folder, "never.safetensors"));
        string output = resumed.Stdout + resumed.Stderr;
        Assert.NotEqual(0, resumed.ExitCode);
        Assert.Contains("the ranks would start from different points", output);
        Assert.Matches(@"rank 0: checkpoint [0-9a-f]{12} at epoch 2, step 0", output);
        Assert.Contains("rank 1: a fresh start", output);
        Assert.True(resumed.Elapsed < TimeSpan.FromSeconds(30), $"the job took {resumed.Elapsed.TotalSeconds:F1} s to end");
    }

    /// <summary>
    /// A rank stopped by SIGSTOP (alive, frozen: a hung node) would leave the others waiting in the next collective
    /// forever; after ENGINE_COLLECTIVE_TIMEOUT the job ends naming the collective and the rank that did not arrive.
    /// </summary>
    [Fact]
    public void A_stalled_rank_ends_the_job_at_the_collective_timeout_naming_it()
    {
        var run = MpiJob.RunWith(new Dictionary<string, string> { ["ENGINE_COLLECTIVE_TIMEOUT"] = "3s" }, 2,
            TimeSpan.FromSeconds(90), "distributed-check", "--fail-rank", "1", "--fail-at", "3", "--fail-how", "stall",
            "--out", Path.Combine(folder, "never.safetensors"));
        string output = run.Stdout + run.Stderr;
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("rank 0 of 2: collective timeout: all-reduce (sum)", output);
        Assert.Contains("ranks that did not arrive: 1", output);
        Assert.Contains("rank 1 did not answer", output);
        Assert.Contains("ENGINE_COLLECTIVE_TIMEOUT", output);
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(45), $"the job took {run.Elapsed.TotalSeconds:F1} s to end");
        Assert.False(File.Exists(Path.Combine(folder, "never.safetensors")));
    }

    [Fact]
    public void Ranks_with_different_models_are_stopped_at_the_start_with_a_clear_error()
    {
        var run = MpiJob.Run(2, TimeSpan.FromSeconds(60), "distributed-check", "--mismatch-rank", "1",
            "--out", Path.Combine(folder, "never.safetensors"));
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("the ranks' models differ", run.Stdout + run.Stderr);
        Assert.Contains("163–173 elements", run.Stdout + run.Stderr);
    }

    private static double Accuracy(string output, string mode) =>
        double.Parse(output.Split('\n').First(l => l.StartsWith($"{mode}: test accuracy")).Split(' ')[3],
            System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void The_mnist_command_under_mpirun_matches_one_process_and_online_and_federated_runs_complete()
    {
        string data = BundledMnist.WriteSubset(folder, 1024, 256);
        string single = ExamplesProcess.Run("mnist", "--mode", "batch", "--epochs", "2", "--data", data, "--out", folder);
        var two = MpiJob.Run(2, TimeSpan.FromSeconds(120), "mnist", "--mode", "batch", "--epochs", "2", "--data", data, "--out", folder);
        Assert.True(two.ExitCode == 0, two.Stdout + two.Stderr);
        Assert.Contains("2 ranks (Open MPI), data-parallel", two.Stdout);
        Assert.InRange(Accuracy(two.Stdout, "batch") - Accuracy(single, "batch"), -0.3, 0.3);

        var online = MpiJob.Run(2, TimeSpan.FromSeconds(120), "mnist", "--mode", "online", "--data", data, "--out", folder);
        Assert.True(online.ExitCode == 0, online.Stdout + online.Stderr);
        Assert.True(Accuracy(online.Stdout, "online") > 50, online.Stdout);

        var fed = MpiJob.Run(2, TimeSpan.FromSeconds(120), "federated", "--rounds", "3", "--non-iid", "--data", data, "--out", folder);
        Assert.True(fed.ExitCode == 0, fed.Stdout + fed.Stderr);
        Assert.Contains("2 client(s), non-IID", fed.Stdout);
        Assert.Contains("round 3: global test accuracy", fed.Stdout);
        Assert.True(File.Exists(Path.Combine(folder, "federated-non-iid.svg")));
    }
}
