using Engine.Distributed;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Tests.Distributed;

/// <summary>
/// ZeRO stage 1 (optimizer-state sharding) in one process: N optimizers, each owning one shard of the flat buffers, on
/// the same gradients, with their updated shards copied to each other after every step (what the all-gather does), end
/// where one unsharded optimizer ends, holding 1/N of its state each; the rules that cannot be sharded are refused. Then
/// the real thing under mpirun, as in <see cref="DataParallelTests"/>.
/// </summary>
public sealed class ZeroTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-zero-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_world_of_one_reduce_scatters_and_all_gathers_to_the_values_themselves()
    {
        using var comm = new SingleProcessCommunicator();
        var values = new[] { 1f, -2f, 3f };
        comm.ReduceScatter(values, ReduceOp.Sum);
        Assert.Equal(new[] { 1f, -2f, 3f }, values);
        comm.AllGather(values);
        Assert.Equal(new[] { 1f, -2f, 3f }, values);
        var dev = TestDevice.Instance;
        using var t = Tensor.FromArray(dev, values, new[] { 3 });
        comm.ReduceScatter(dev, t.Elements, ReduceOp.Mean);
        comm.AllGather(dev, t.Elements);
        Assert.Equal(values, t.ToArray());
    }

    private static readonly int[][] Shapes = [[3, 5], [4], [2]]; // 21 elements: 4 shards of 6, the last padded by 3

    private static Optimizer Create(string name, IEnumerable<Tensor> parameters) => name switch
    {
        "sgd" => new Sgd(parameters, lr: 0.05f, momentum: 0.9f, weightDecay: 0.01f, nesterov: true),
        "adamw" => new AdamW(parameters, lr: 0.02f, weightDecay: 0.05f),
        "adam-amsgrad" => new Adam(parameters, lr: 0.02f, amsgrad: true),
        "rmsprop" => new RmsProp(parameters, lr: 0.01f, momentum: 0.5f, centered: true),
        _ => throw new ArgumentException(name),
    };

    private static List<Tensor> Parameters(Device dev) => Shapes.Select((s, i) =>
        Tensor.FromArray(dev, Reference.RandomValues(40 + i, s.Aggregate(1, (a, d) => a * d)), s, requiresGrad: true)).ToList();

    /// <summary>The same loss on every replica; the third parameter gets no gradient on odd steps (its step count lags).</summary>
    private static void Backward(List<Tensor> ps, int step)
    {
        using var scope = new DisposeScope();
        var loss = (ps[0] * ps[0]).Sum() + (ps[1] * ps[1] * ps[1]).Sum() * 0.5f;
        if (step % 2 == 0) loss = loss + (ps[2] * ps[2]).Sum() * 2f;
        loss.Backward();
    }

    [Theory]
    [InlineData("sgd", 4)]
    [InlineData("adamw", 4)]
    [InlineData("adam-amsgrad", 3)]
    [InlineData("rmsprop", 2)]
    public void Shards_stepped_separately_and_gathered_end_where_the_whole_optimizer_ends(string name, int ranks)
    {
        var dev = TestDevice.Instance;
        var whole = Parameters(dev);
        using var reference = Create(name, whole);
        var replicas = Enumerable.Range(0, ranks).Select(_ => Parameters(dev)).ToList();
        var optimizers = replicas.Select(ps => Create(name, ps)).ToList();
        long total = reference.TotalElements, block = (total + ranks - 1) / ranks;
        for (int r = 0; r < ranks; r++) optimizers[r].ShardState(r * block, block);
        for (int step = 0; step < 6; step++)
        {
            Backward(whole, step);
            reference.Step();
            reference.ZeroGrad();
            for (int r = 0; r < ranks; r++)
            {
                Backward(replicas[r], step);
                optimizers[r].Step();
                optimizers[r].ZeroGrad();
            }
            // The all-gather: rank r's shard of its parameters onto every rank.
            for (int r = 0; r < ranks; r++)
            {
                long from = r * block, count = Math.Clamp(total - from, 0, block);
                if (count == 0) continue;
                var shard = optimizers[r].FlatParameters.SubView(from, count);
                var host = new float[count];
                dev.Kernels.Download(shard, host.AsSpan());
                foreach (var other in optimizers) dev.Kernels.Upload<float>(host, other.FlatParameters.SubView(from, count));
            }
        }
        var expected = whole.SelectMany(p => p.ToArray()).ToArray();
        foreach (var (ps, o) in replicas.Zip(optimizers))
        {
            var actual = ps.SelectMany(p => p.ToArray()).ToArray();
            AssertClose(expected, actual, $"{name}, {ranks} shards, vs unsharded");
            Assert.Equal(reference.StepOf(whole[2]), o.StepOf(ps[2]));
        }
        Assert.True(reference.StateBytes > 0);
        Assert.All(optimizers, o => Assert.Equal(reference.StateBytes / total * block, o.StateBytes));
        foreach (var o in optimizers) o.Dispose();
        foreach (var p in whole.Concat(replicas.SelectMany(x => x))) p.Dispose();
    }

    [Fact]
    public void Rules_that_need_a_whole_group_and_step_in_backward_are_refused_by_name()
    {
        var dev = TestDevice.Instance;
        var ps = Parameters(dev);
        using (var lamb = new Lamb(ps, lr: 0.01f))
            Assert.Contains("Lamb", Assert.Throws<NotSupportedException>(() => lamb.ShardState(0, 11)).Message);
        using (var adaptive = new AdaptiveSgd(ps, lr: 0.01f))
            Assert.Contains(adaptive.Name, Assert.Throws<NotSupportedException>(() => adaptive.ShardState(0, 11)).Message);
        using (var fused = new Sgd(ps, lr: 0.01f) { StepInBackward = true })
            Assert.Contains("StepInBackward", Assert.Throws<NotSupportedException>(() => fused.ShardState(0, 11)).Message);
        using (var sharded = new Sgd(ps, lr: 0.01f, momentum: 0.9f))
        {
            sharded.ShardState(11, 11);
            sharded.ShardState(11, 11); // the same shard again (a second Fit): nothing changes
            Assert.Throws<InvalidOperationException>(() => sharded.ShardState(0, 11));
            Assert.Throws<NotSupportedException>(() => sharded.StepInBackward = true);
            Assert.Contains("ConsolidateState", Assert.Throws<NotSupportedException>(() => sharded.GetState()).Message);
        }
        foreach (var p in ps) p.Dispose();
    }

    [Theory]
    [InlineData(ZeroStage.OptimizerState)]
    [InlineData(ZeroStage.Gradients)]
    public void Zero_in_a_world_of_one_shards_nothing(ZeroStage stage)
    {
        var dev = TestDevice.Instance;
        using var model = new Linear(dev, 3, 2, seed: 1);
        using var adam = new Adam(model.Parameters(), lr: 0.01f);
        long bytes = adam.StateBytes;
        var ddp = new DistributedDataParallel(model, adam, new SingleProcessCommunicator(), stage);
        Assert.Equal(bytes, ddp.OptimizerStateBytes);
        Assert.Equal(8 * sizeof(float), ddp.GradientBytes);
        Assert.Equal(0, ddp.GradientBucketCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedDataParallel(model, adam, new SingleProcessCommunicator(), stage, bucketCapMb: 0));
    }

    /// <summary>Every element within 1e-6 relative (absolute below 1) of <paramref name="expected"/>'s, naming the first that is not.</summary>
    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected[i])),
                $"{what}, element {i}: {actual[i]} vs {expected[i]}");
    }

    private static float[] Parameters(string file) => Engine.Serialization.SafeTensors.Load(file).Tensors
        .OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.Values).ToArray();

    /// <summary>
    /// Under mpirun: 2 and 4 ranks with ZeRO stage 1 end where one process and plain DDP end (the model has 163
    /// parameters, so both shardings are padded), each holding ⌈163/N⌉/163 of the state bytes. Measured: bit-identical to
    /// plain DDP and within 2e-7 of one process (Open MPI 4, shared memory); the bounds are 1e-6, as a reduce-scatter
    /// may add the ranks' gradients in another order than an all-reduce.
    /// </summary>
    [Theory]
    [InlineData("sgd")]
    [InlineData("adamw")]
    public void Two_and_four_ranks_with_sharded_optimizer_state_end_with_the_one_process_parameters(string optimizer)
    {
        string one = Path.Combine(folder, "one.safetensors");
        string single = ExamplesProcess.Run("distributed-check", "--optimizer", optimizer, "--out", one);
        var expected = Parameters(one);
        long wholeBytes = StateBytes(single, 0);
        foreach (int ranks in new[] { 2, 4 })
        {
            string plainFile = Path.Combine(folder, $"plain{ranks}.safetensors"), zeroFile = Path.Combine(folder, $"zero{ranks}.safetensors");
            var plain = MpiJob.Run(ranks, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", optimizer, "--out", plainFile);
            Assert.True(plain.ExitCode == 0, $"mpirun -np {ranks} exited {plain.ExitCode}: {plain.Stdout}{plain.Stderr}");
            var zero = MpiJob.Run(ranks, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", optimizer, "--zero", "1",
                "--out", zeroFile);
            Assert.True(zero.ExitCode == 0, $"mpirun -np {ranks} --zero 1 exited {zero.ExitCode}: {zero.Stdout}{zero.Stderr}");
            var unsharded = Parameters(plainFile);
            var actual = Parameters(zeroFile);
            Assert.Equal(expected.Length, actual.Length);
            AssertClose(expected, actual, $"{ranks} ranks with ZeRO-1 vs one process");
            AssertClose(unsharded, actual, $"{ranks} ranks with ZeRO-1 vs plain DDP");
            int total = 163, block = (total + ranks - 1) / ranks;
            for (int r = 0; r < ranks; r++)
            {
                Assert.Equal(wholeBytes, StateBytes(plain.Stdout, r));
                Assert.Equal(wholeBytes / total * block, StateBytes(zero.Stdout, r));
            }
        }
    }

    /// <summary>
    /// ZeRO stage 2 under mpirun, on 2 and 4 ranks, against plain DDP and one process: buckets of 52 floats (the 163
    /// parameters' gradients in 4–5 buckets, rebuilt after the first step from rank 0's order), a global batch of 19 whose
    /// last batch of one row leaves 1–3 ranks with nothing (they still take part in every bucket's reduction), two batches
    /// accumulated per step and the gradients' global norm clipped to 0.3 over the shards. Every rank holds ⌈163/N⌉/163 of
    /// the gradient bytes. Measured: within 6e-8 of one process.
    /// </summary>
    [Theory]
    [InlineData("sgd")]
    [InlineData("adamw")]
    public void Two_and_four_ranks_with_sharded_gradients_end_with_the_plain_data_parallel_parameters(string optimizer)
    {
        string[] common = ["distributed-check", "--optimizer", optimizer, "--batch-size", "19", "--accumulate", "2", "--clip", "0.3"];
        string one = Path.Combine(folder, "one.safetensors");
        string single = ExamplesProcess.Run(common[0], [.. common[1..], "--out", one]);
        var expected = Parameters(one);
        long wholeGradients = GradientBytes(single, 0);
        Assert.Equal(163 * sizeof(float), wholeGradients);
        foreach (int ranks in new[] { 2, 4 })
        {
            string plainFile = Path.Combine(folder, $"plain{ranks}.safetensors"), zeroFile = Path.Combine(folder, $"zero2-{ranks}.safetensors");
            var plain = MpiJob.Run(ranks, TimeSpan.FromSeconds(120), [.. common, "--out", plainFile]);
            Assert.True(plain.ExitCode == 0, $"mpirun -np {ranks} exited {plain.ExitCode}: {plain.Stdout}{plain.Stderr}");
            var zero = MpiJob.Run(ranks, TimeSpan.FromSeconds(120), [.. common, "--zero", "2", "--bucket-mb", "0.0002", "--out", zeroFile]);
            Assert.True(zero.ExitCode == 0, $"mpirun -np {ranks} --zero 2 exited {zero.ExitCode}: {zero.Stdout}{zero.Stderr}");
            var unsharded = Parameters(plainFile);
            var actual = Parameters(zeroFile);
            Assert.Equal(expected.Length, actual.Length);
            AssertClose(expected, actual, $"{ranks} ranks with ZeRO-2 vs one process");
            AssertClose(unsharded, actual, $"{ranks} ranks with ZeRO-2 vs plain DDP");
            int block = (163 + ranks - 1) / ranks;
            for (int r = 0; r < ranks; r++)
            {
                Assert.Equal(wholeGradients, GradientBytes(plain.Stdout, r));
                Assert.Equal(block * sizeof(float), GradientBytes(zero.Stdout, r));
                Assert.Equal(StateBytes(plain.Stdout, r) / 163 * block, StateBytes(zero.Stdout, r));
            }
        }
    }

    private static long GradientBytes(string output, int rank) =>
        long.Parse(System.Text.RegularExpressions.Regex.Matches(output, $@"rank {rank}: optimizer state \d+ bytes, gradients (\d+) bytes")
            .Single().Groups[1].Value);

    /// <summary>
    /// A model of 180 parameters (4 outputs), a multiple of 2 and 4: the gradient and parameter buffers are
    /// reduce-scattered and all-gathered where they lie, with no padded host copy; the result is plain DDP's.
    /// </summary>
    [Fact]
    public void Unpadded_shards_on_two_and_four_ranks_end_with_the_plain_data_parallel_parameters()
    {
        foreach (int ranks in new[] { 2, 4 })
        {
            string plainFile = Path.Combine(folder, $"plain{ranks}.safetensors"), zeroFile = Path.Combine(folder, $"zero{ranks}.safetensors");
            var plain = MpiJob.Run(ranks, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--classes", "4",
                "--out", plainFile);
            Assert.True(plain.ExitCode == 0, plain.Stdout + plain.Stderr);
            var zero = MpiJob.Run(ranks, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--classes", "4",
                "--zero", "1", "--out", zeroFile);
            Assert.True(zero.ExitCode == 0, zero.Stdout + zero.Stderr);
            var expected = Parameters(plainFile);
            var actual = Parameters(zeroFile);
            Assert.Equal(180, actual.Length);
            AssertClose(expected, actual, $"{ranks} ranks with ZeRO-1 vs plain DDP");
            for (int r = 0; r < ranks; r++) Assert.Equal(StateBytes(plain.Stdout, 0) / ranks, StateBytes(zero.Stdout, r));
        }
    }

    private static long StateBytes(string output, int rank) =>
        long.Parse(System.Text.RegularExpressions.Regex.Matches(output, $@"rank {rank}: optimizer state (\d+) bytes").Single().Groups[1].Value);

    [Fact]
    public void Ranks_asking_for_different_zero_stages_are_stopped_at_the_start_naming_them()
    {
        var run = MpiJob.Run(2, TimeSpan.FromSeconds(60), "distributed-check", "--zero", "1", "--zero-off-rank", "1",
            "--out", Path.Combine(folder, "never.safetensors"));
        string output = run.Stdout + run.Stderr;
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("the ranks ask for different ZeRO stages (rank 0: OptimizerState; rank 1: None)", output);
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(30), $"the job took {run.Elapsed.TotalSeconds:F1} s to end");
    }

    private static Dictionary<string, float[]> Tensors(string file, string prefix) => Engine.Serialization.SafeTensors.Load(file)
        .Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value.Values);

    /// <summary>
    /// Checkpoints under ZeRO gather the state's shards: the file holds the whole optimizer state, the one plain DDP
    /// saves at the same step; a ZeRO job killed mid-run resumes from it to the uninterrupted ZeRO result.
    /// </summary>
    [Fact]
    public void A_zero_checkpoint_holds_the_whole_state_and_a_killed_zero_job_resumes_to_the_uninterrupted_result()
    {
        string plainCheckpoint = Path.Combine(folder, "plain.ckpt"), zeroCheckpoint = Path.Combine(folder, "zero.ckpt");
        var plain = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "1",
            "--checkpoint", plainCheckpoint, "--out", Path.Combine(folder, "plain.safetensors"));
        Assert.True(plain.ExitCode == 0, plain.Stdout + plain.Stderr);
        var zero = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "1", "--zero", "1",
            "--checkpoint", zeroCheckpoint, "--out", Path.Combine(folder, "zero.safetensors"));
        Assert.True(zero.ExitCode == 0, zero.Stdout + zero.Stderr);
        var expected = Tensors(plainCheckpoint, "optimizer.");
        var actual = Tensors(zeroCheckpoint, "optimizer.");
        Assert.Equal(2, expected.Count); // AdamW's exp_avg and exp_avg_sq
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected)
        {
            Assert.Equal(163, actual[name].Length);
            AssertClose(values, actual[name], $"{name}: ZeRO vs plain DDP");
        }

        string uninterrupted = Path.Combine(folder, "uninterrupted.safetensors");
        var whole = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "3",
            "--zero", "1", "--out", uninterrupted);
        Assert.True(whole.ExitCode == 0, whole.Stdout + whole.Stderr);
        string checkpoint = Path.Combine(folder, "killed.ckpt");
        var killed = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "3",
            "--zero", "1", "--checkpoint", checkpoint, "--checkpoint-every-steps", "4", "--fail-rank", "1", "--fail-how", "kill",
            "--fail-at", "10", "--out", Path.Combine(folder, "never.safetensors"));
        Assert.NotEqual(0, killed.ExitCode);
        Assert.True(File.Exists(checkpoint), "rank 0 wrote checkpoints before the kill");
        string resumed = Path.Combine(folder, "resumed.safetensors");
        var again = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "3",
            "--zero", "1", "--checkpoint", checkpoint, "--checkpoint-every-steps", "4", "--resume", "--out", resumed);
        Assert.True(again.ExitCode == 0, again.Stdout + again.Stderr);
        Assert.Equal(Parameters(uninterrupted), Parameters(resumed));
    }

    /// <summary>
    /// A ZeRO-1 job killed on 2 ranks resumes on 4 from its consolidated checkpoint (the file holds the whole state, so
    /// the new ranks cut their own shards) and ends where one process training without interruption ends.
    /// </summary>
    [Fact]
    public void A_zero_job_killed_on_two_ranks_resumes_on_four_to_the_one_process_result()
    {
        string one = Path.Combine(folder, "one.safetensors");
        ExamplesProcess.Run("distributed-check", "--optimizer", "adamw", "--epochs", "2", "--out", one);
        string checkpoint = Path.Combine(folder, "two-ranks.ckpt");
        var killed = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "2",
            "--zero", "1", "--checkpoint", checkpoint, "--checkpoint-every-steps", "3", "--fail-rank", "1", "--fail-how", "kill",
            "--fail-at", "8", "--out", Path.Combine(folder, "never.safetensors"));
        Assert.NotEqual(0, killed.ExitCode);
        Assert.True(File.Exists(checkpoint), "rank 0 wrote a checkpoint before the kill");
        string resumed = Path.Combine(folder, "four-ranks.safetensors");
        var again = MpiJob.Run(4, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "2",
            "--zero", "1", "--checkpoint", checkpoint, "--checkpoint-every-steps", "3", "--resume", "--out", resumed);
        Assert.True(again.ExitCode == 0, again.Stdout + again.Stderr);
        Assert.Contains("rank 0 of 4", again.Stdout);
        var expected = Parameters(one);
        var actual = Parameters(resumed);
        AssertClose(expected, actual, "resumed on 4 ranks vs one process");
    }

    /// <summary>
    /// Sharded checkpoints: a ZeRO-2 job on 2 ranks writes its optimizer state as one shard per rank beside a checkpoint
    /// that holds none of it; killed mid-run, it resumes on 4 ranks (ZeRO-1, sharded again: the 2-rank shards are deleted
    /// once the 4 new ones are named) and in a single process, both to the one-process result; with a shard missing the
    /// resume fails naming the shard and its rank.
    /// </summary>
    [Fact]
    public void A_sharded_checkpoint_resumes_at_another_rank_count_and_in_one_process_and_names_a_missing_shard()
    {
        string one = Path.Combine(folder, "one.safetensors");
        ExamplesProcess.Run("distributed-check", "--optimizer", "adamw", "--epochs", "2", "--out", one);
        var expected = Parameters(one);
        string twoRanks = Path.Combine(folder, "two"), fourRanks = Path.Combine(folder, "four"), single = Path.Combine(folder, "single"),
            broken = Path.Combine(folder, "broken");
        Directory.CreateDirectory(twoRanks);
        string checkpoint = Path.Combine(twoRanks, "run.ckpt");
        var killed = MpiJob.Run(2, TimeSpan.FromSeconds(120), "distributed-check", "--optimizer", "adamw", "--epochs", "2",
            "--zero", "2", "--sharded-checkpoint", "--checkpoint", checkpoint, "--checkpoint-every-steps", "3", "--fail-rank", "1",
            "--fail-how", "kill", "--fail-at", "8", "--out", Path.Combine(folder, "never.safetensors"));
        Assert.NotEqual(0, killed.ExitCode);
        Assert.Equal(["run.ckpt", "run.ckpt.step6.shard0-of-2", "run.ckpt.step6.shard1-of-2"],
            Directory.GetFiles(twoRanks).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(Tensors(checkpoint, "optimizer."));
        Assert.Equal(2, Tensors(Engine.Serialization.Checkpoint.ShardPath(checkpoint, 6, 1, 2), "optimizer.").Count);
        foreach (var copy in new[] { fourRanks, single, broken })
        {
            Directory.CreateDirectory(copy);
            foreach (var file in Directory.GetFiles(twoRanks)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        string[] resume = ["--optimizer", "adamw", "--epochs", "2", "--checkpoint-every-steps", "3", "--resume"];
        var again = MpiJob.Run(4, TimeSpan.FromSeconds(120), ["distributed-check", .. resume, "--zero", "1", "--sharded-checkpoint",
            "--checkpoint", Path.Combine(fourRanks, "run.ckpt"), "--out", Path.Combine(folder, "four.safetensors")]);
        Assert.True(again.ExitCode == 0, again.Stdout + again.Stderr);
        Assert.Equal(["run.ckpt", .. Enumerable.Range(0, 4).Select(r => $"run.ckpt.step12.shard{r}-of-4")],
            Directory.GetFiles(fourRanks).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        ExamplesProcess.Run("distributed-check", [.. resume, "--checkpoint", Path.Combine(single, "run.ckpt"),
            "--out", Path.Combine(folder, "single.safetensors")]);
        foreach (var resumed in new[] { "four", "single" })
        {
            var actual = Parameters(Path.Combine(folder, resumed + ".safetensors"));
            AssertClose(expected, actual, $"resumed ({resumed}) vs one process");
        }

        File.Delete(Path.Combine(broken, "run.ckpt.step6.shard1-of-2"));
        var failed = Assert.ThrowsAny<Exception>(() => ExamplesProcess.Run("distributed-check",
            [.. resume, "--checkpoint", Path.Combine(broken, "run.ckpt"), "--out", Path.Combine(folder, "never.safetensors")]));
        Assert.Contains("optimizer shard of rank 1 of 2", failed.Message);
        Assert.Contains("is missing", failed.Message);
    }

    /// <summary>
    /// Rank 1 freezes after its reduce-scatter (in the step's callback); rank 0 goes on into the parameters'
    /// all-gather, which the collective watchdog ends after ENGINE_COLLECTIVE_TIMEOUT naming it and the missing rank.
    /// </summary>
    [Fact]
    public void A_rank_stalled_before_the_all_gather_ends_the_job_at_the_collective_timeout()
    {
        var run = MpiJob.RunWith(new Dictionary<string, string> { ["ENGINE_COLLECTIVE_TIMEOUT"] = "3s" }, 2,
            TimeSpan.FromSeconds(90), "distributed-check", "--zero", "1", "--fail-rank", "1", "--fail-at", "3",
            "--fail-how", "stall", "--out", Path.Combine(folder, "never.safetensors"));
        string output = run.Stdout + run.Stderr;
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("rank 0 of 2: collective timeout: all-gather", output);
        Assert.Contains("ranks that did not arrive: 1", output);
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(45), $"the job took {run.Elapsed.TotalSeconds:F1} s to end");
    }

    [Fact]
    public void Lamb_under_zero_stage_one_ends_the_job_naming_the_optimizer()
    {
        var run = MpiJob.Run(2, TimeSpan.FromSeconds(60), "distributed-check", "--optimizer", "lamb", "--zero", "1",
            "--out", Path.Combine(folder, "never.safetensors"));
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("Lamb updates a whole parameter group at once", run.Stdout + run.Stderr);
    }
}
