using Engine.Data;
using Engine.Drift;
using Engine.Nn;
using Engine.Optim;
using Engine.Optim.Schedules;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Tests.Serialization;

public class CheckpointTests : IDisposable
{
    private static Device Dev => TestDevice.Instance;
    private readonly string folder = Directory.CreateTempSubdirectory("engine-ckpt-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    private static Dataset Rings(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n * 3];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            double r = rng.NextDouble() * 2, a = rng.NextDouble() * 2 * Math.PI;
            (x[3 * i], x[3 * i + 1], x[3 * i + 2]) = ((float)(r * Math.Cos(a)), (float)(r * Math.Sin(a)), (float)rng.NextDouble());
            y[i] = r < 0.7 ? 0 : r < 1.4 ? 1 : 2;
        }
        return Dataset.WithLabels(x, 3, y);
    }

    /// <summary>A model with dropout (RNG state), Adam (moments, step) and a per-batch StepLR (schedule state).</summary>
    private sealed class Setup : IDisposable
    {
        public Setup()
        {
            Model = new Sequential(new Linear(Dev, 3, 16, seed: 3), new Relu(), new Dropout(0.2f, seed: 4),
                new Linear(Dev, 16, 3, seed: 5));
            Adam = new Adam(Model.Parameters(), lr: 0.02f);
            Schedule = new StepLR(Adam, stepSize: 4, gamma: 0.8);
        }

        public Sequential Model { get; }
        public Adam Adam { get; }
        public StepLR Schedule { get; }

        public TrainerOptions Options(string? path, bool resume = false, Action<TrainingProgress>? onBatch = null) => new()
        {
            Epochs = 3, BatchSize = 8, Seed = 11, Schedule = Schedule, StepSchedulePerBatch = true,
            EarlyStopping = new EarlyStopping(Patience: 10), CheckpointPath = path, CheckpointEverySteps = 7,
            Resume = resume, OnBatchEnd = onBatch,
        };

        public float[][] Parameters() => Model.Parameters().Select(p => p.ToArray()).ToArray();

        public void Dispose()
        {
            Adam.Dispose();
            Model.Dispose();
        }
    }

    private sealed class Crash : Exception;

    [Fact]
    public void Trainer_resumed_mid_epoch_after_a_crash_equals_an_uninterrupted_run()
    {
        var data = Rings(60, 1); // 8 batches per epoch; checkpoints at steps 7, 14, 21 fall mid-epoch
        using var straight = new Setup();
        var expectedHistory = Trainer.Fit(straight.Model, Trainer.CrossEntropy, straight.Adam, data, straight.Options(null));

        string path = PathOf("trainer.safetensors");
        using (var crashed = new Setup())
        {
            // Dies during step 17: the checkpoint of step 14 is the latest on disk.
            Assert.Throws<Crash>(() => Trainer.Fit(crashed.Model, Trainer.CrossEntropy, crashed.Adam, data,
                crashed.Options(path, onBatch: p => { if ((p.Epoch - 1) * 8 + p.Step == 17) throw new Crash(); })));
        }
        using var resumed = new Setup(); // fresh objects, as in a new process
        var history = Trainer.Fit(resumed.Model, Trainer.CrossEntropy, resumed.Adam, data, resumed.Options(path, resume: true));

        Assert.Equal(straight.Parameters(), resumed.Parameters());
        Assert.Equal(straight.Adam.StepCount, resumed.Adam.StepCount);
        Assert.Equal(straight.Schedule.LastLr, resumed.Schedule.LastLr);
        Assert.Equal(expectedHistory.Epochs.Select(e => e.TrainLoss), history.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(expectedHistory.Epochs.Select(e => e.TrainAccuracy), history.Epochs.Select(e => e.TrainAccuracy));

        // Resuming a finished run trains nothing and returns its history.
        using var again = new Setup();
        var finished = Trainer.Fit(again.Model, Trainer.CrossEntropy, again.Adam, data, again.Options(path, resume: true));
        Assert.Equal(3, finished.Epochs.Count);
        Assert.Equal(straight.Parameters(), again.Parameters());
    }

    private static IEnumerable<Sample> Stream(int seed)
    {
        var rng = new Random(seed);
        while (true)
        {
            float a = (float)(rng.NextDouble() * 2 - 1), b = (float)(rng.NextDouble() * 2 - 1);
            yield return new Sample(new[] { a, b, a * b }, a + b > 0 ? 1 : 0);
        }
    }

    private sealed class OnlineSetup : IDisposable
    {
        public OnlineSetup()
        {
            Model = new Sequential(new Linear(Dev, 3, 8, seed: 1), new Tanh(), new Dropout(0.1f, seed: 2),
                new Linear(Dev, 8, 2, seed: 3));
            Optimizer = new NAdam(Model.Parameters(), lr: 0.01f);
            Trainer = new OnlineTrainer(Model, Optimizer, new PageHinkley(threshold: 5), DriftReaction.ResetOptimizerState, window: 16);
        }

        public Sequential Model { get; }
        public NAdam Optimizer { get; }
        public OnlineTrainer Trainer { get; }

        public void Dispose()
        {
            Trainer.Dispose();
            Optimizer.Dispose();
            Model.Dispose();
        }
    }

    [Fact]
    public void Online_trainer_resumed_from_a_checkpoint_equals_an_uninterrupted_run()
    {
        const int n = 60;
        using var straight = new OnlineSetup();
        straight.Trainer.Run(Stream(5), 2 * n);

        string path = PathOf("online.safetensors");
        using (var first = new OnlineSetup())
        {
            first.Trainer.CheckpointPath = path;
            first.Trainer.CheckpointEvery = n;
            first.Trainer.Run(Stream(5), n + 13); // goes past the checkpoint, as a process that then dies
        }
        using var resumed = new OnlineSetup();
        long consumed = resumed.Trainer.LoadCheckpoint(path);
        Assert.Equal(n, consumed);
        resumed.Trainer.Run(Stream(5).Skip((int)consumed), 2 * n);

        Assert.Equal(straight.Model.Parameters().Select(p => p.ToArray()), resumed.Model.Parameters().Select(p => p.ToArray()));
        Assert.Equal(straight.Trainer.CumulativeLoss, resumed.Trainer.CumulativeLoss);
        Assert.Equal(straight.Trainer.ProgressiveAccuracy, resumed.Trainer.ProgressiveAccuracy);
        Assert.Equal(straight.Trainer.WindowLoss, resumed.Trainer.WindowLoss);
        Assert.Equal(straight.Trainer.Drifts, resumed.Trainer.Drifts);
    }

    [Fact]
    public void A_checkpoint_that_does_not_fit_changes_nothing_and_lists_every_problem()
    {
        string path = PathOf("adam.safetensors");
        using (var saved = new Setup()) Checkpoint.Save(path, saved.Model, saved.Adam, saved.Schedule);

        using var model = new Sequential(new Linear(Dev, 3, 16, seed: 30), new Relu(), new Dropout(0.2f),
            new Linear(Dev, 16, 3, seed: 31));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f, momentum: 0.9f);
        var before = model.Parameters().Select(p => p.ToArray()).ToList();
        var e = Assert.Throws<ArgumentException>(() => Checkpoint.Load(path, model, sgd));
        Assert.Contains("optimizer: state is for Adam, not SGD", e.Message);
        Assert.Contains("missing state buffer 'momentum_buffer'", e.Message);
        Assert.Contains("Nothing was loaded", e.Message);
        Assert.Equal(before, model.Parameters().Select(p => p.ToArray()).ToList());
    }

    /// <summary>
    /// Each parameter's own step count (PyTorch's <c>state[p]['step']</c>) is saved and restored: a bias that got no
    /// gradient in some steps resumes with its own count, so the resumed Adam steps equal the uninterrupted ones.
    /// </summary>
    [Fact]
    public void Per_parameter_step_counts_survive_a_checkpoint()
    {
        string path = PathOf("steps.safetensors");
        Linear Model() => new(Dev, 3, 2, seed: 4);
        void Steps(Linear m, Adam opt, int from, int to)
        {
            for (int t = from; t < to; t++)
            {
                using var scope = new DisposeScope();
                m.Weight.Grad!.CopyFrom(Enumerable.Range(0, 6).Select(i => MathF.Sin(t + i)).ToArray());
                if (t % 2 == 0) m.Bias!.Grad = null; // the bias skips the even steps
                else m.Bias!.Grad!.CopyFrom(new[] { MathF.Cos(t), 0.5f });
                opt.Step();
            }
        }
        using var straight = Model();
        using var straightAdam = new Adam(straight.Parameters(), lr: 0.05f);
        Steps(straight, straightAdam, 0, 7);
        Assert.Equal(7, straightAdam.StepOf(straight.Weight));
        Assert.Equal(3, straightAdam.StepOf(straight.Bias!));

        using var first = Model();
        using var firstAdam = new Adam(first.Parameters(), lr: 0.05f);
        Steps(first, firstAdam, 0, 4);
        Checkpoint.Save(path, first, firstAdam);
        using var resumed = Model();
        using var resumedAdam = new Adam(resumed.Parameters(), lr: 0.05f);
        Checkpoint.Load(path, resumed, resumedAdam);
        Assert.Equal(4, resumedAdam.StepOf(resumed.Weight));
        Assert.Equal(2, resumedAdam.StepOf(resumed.Bias!));
        Steps(resumed, resumedAdam, 4, 7);
        Assert.Equal(straight.Weight.ToArray(), resumed.Weight.ToArray());
        Assert.Equal(straight.Bias!.ToArray(), resumed.Bias!.ToArray());
    }

    [Fact]
    public void A_corrupted_checkpoint_is_refused_by_its_digest()
    {
        string path = PathOf("corrupt.safetensors");
        using var setup = new Setup();
        Checkpoint.Save(path, setup.Model, setup.Adam);
        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x40; // one bit of the last tensor's data
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.Load(path, setup.Model, setup.Adam));
        Assert.Contains("do not match the checkpoint's SHA-256", e.Message);
        Assert.Contains(path, e.Message);

        // A plain model file is not a checkpoint.
        setup.Model.Save(PathOf("plain.safetensors"));
        var plain = Assert.Throws<SafeTensorsFormatException>(() => Checkpoint.Load(PathOf("plain.safetensors"), setup.Model));
        Assert.Contains("not a checkpoint of this engine", plain.Message);
    }

    [Fact]
    public void A_failed_save_leaves_the_previous_file_and_no_temporary()
    {
        string path = PathOf("atomic.bin");
        AtomicFile.Write(path, s => s.Write(new byte[] { 1, 2, 3 }));
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[] { 9, 9 });
            throw new IOException("disk full");
        }));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(folder));

        // A temporary left by a process that no longer runs is cleaned up by the next save.
        string stale = path + AtomicFile.TemporaryInfix + "999999999-dead";
        File.WriteAllBytes(stale, new byte[] { 0 });
        AtomicFile.Write(path, s => s.Write(new byte[] { 4 }));
        Assert.False(File.Exists(stale));
        Assert.Equal(new byte[] { 4 }, File.ReadAllBytes(path));
    }
}
