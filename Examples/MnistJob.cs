using System.Diagnostics;
using Engine;
using Engine.Data;
using Engine.Distributed;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>The main job: a 784→256→10 ReLU MLP on MNIST, trained in batch mode and in online mode.</summary>
public static class MnistJob
{
    public sealed record Result(string Mode, double TestAccuracy, double? ProgressiveAccuracy, double Seconds,
        double SamplesPerSecond, List<(double X, double Y)> Loss, List<(double X, double Y)> Accuracy);

    public static int Compare(string deviceKind, string? dataDir, string outDir, int seed)
    {
        using var dev = Device.Create(deviceKind);
        var (train, test) = Load(dataDir);
        Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test");
        var (batchOptimizer, batchLr) = Recipe("batch");
        var (onlineOptimizer, onlineLr) = Recipe("online");
        var batch = RunBatch(dev, train, test, batchOptimizer, batchLr, epochs: 5, batchSize: 64, seed);
        var online = RunOnline(dev, train, test, onlineOptimizer, onlineLr, seed);
        var table = new Table().AddColumns("mode", "test accuracy", "progressive accuracy", "wall time", "samples/s", "device");
        foreach (var r in new[] { batch, online })
            table.AddRow(r.Mode, $"{r.TestAccuracy:P2}", r.ProgressiveAccuracy is { } p ? $"{p:P2}" : "-",
                $"{r.Seconds:F1} s", $"{r.SamplesPerSecond:F0}", Markup.Escape(dev.ToString()));
        AnsiConsole.Write(table);
        Directory.CreateDirectory(outDir);
        string plot = Path.Combine(outDir, "mnist-batch-vs-online.svg");
        File.WriteAllText(plot, SvgPlot.Panels(
            ("training loss", "samples seen", new[] { ("batch (epoch mean)", (IReadOnlyList<(double, double)>)batch.Loss), ("online (window of 500)", online.Loss) }),
            ("accuracy", "samples seen", new[] { ("batch (test)", (IReadOnlyList<(double, double)>)batch.Accuracy), ("online (progressive, window)", online.Accuracy) })));
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    }

    /// <summary>The main job's optimizer and lr for a mode: Adam 1e-3 in batch mode, SGD 0.03 online.</summary>
    public static (string Optimizer, float Lr) Recipe(string mode) => mode switch
    {
        "batch" => ("adam", 1e-3f),
        "online" => ("sgd", 0.03f),
        _ => throw new ArgumentException($"--mode must be batch or online, got '{mode}'."),
    };

    /// <summary>One mode; an optimizer or lr left out is the main job's (<see cref="Recipe"/>) for that mode.</summary>
    /// <remarks>
    /// Under <c>mpirun -np N</c> it trains data-parallel: in batch mode each rank takes its share of every batch (the
    /// global batch stays <paramref name="batchSize"/>) and the gradients are all-reduced, so the result is the
    /// one-process run's up to summation order; online, rank r learns samples r, r + N, … and the gradients are
    /// averaged at every step. Rank 0 prints and plots.
    /// </remarks>
    public static int Single(string deviceKind, string? dataDir, string mode, string? optimizer, float? lr, int epochs,
        int batchSize, int seed, string outDir, bool memory = false) => DistributedRun.Run(comm =>
    {
        var recipe = Recipe(mode);
        using var dev = Device.Create(deviceKind);
        var (train, test) = Load(dataDir);
        if (comm.Rank == 0)
            Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test" +
                              (comm.Size > 1 ? $"; {comm.Size} ranks (Open MPI), data-parallel" : ""));
        dev.ResetPeakMemoryStats();
        var r = mode == "batch"
            ? RunBatch(dev, train, test, optimizer ?? recipe.Optimizer, lr ?? recipe.Lr, epochs, batchSize, seed, comm,
                memory && comm.Rank == 0)
            : RunOnline(dev, train, test, optimizer ?? recipe.Optimizer, lr ?? recipe.Lr, seed, comm);
        if (memory && mode != "batch")
            Console.WriteLine($"rank {comm.Rank}: peak memory of the online steps {dev.Memory.PeakAllocatedBytes / 1048576.0:F1} MB allocated");
        if (comm.Rank != 0) return 0;
        Console.WriteLine($"{r.Mode}: test accuracy {r.TestAccuracy:P2}" +
                          (r.ProgressiveAccuracy is { } p ? $", progressive {p:P2}" : "") +
                          $", {r.Seconds:F1} s, {r.SamplesPerSecond:F0} samples/s");
        Directory.CreateDirectory(outDir);
        string plot = Path.Combine(outDir, $"mnist-{r.Mode}.svg");
        File.WriteAllText(plot, SvgPlot.Panels(
            ("training loss", "samples seen", new[] { (r.Mode == "batch" ? "epoch mean" : "window of 500", (IReadOnlyList<(double, double)>)r.Loss) }),
            ("accuracy", "samples seen", new[] { (r.Mode == "batch" ? "test" : "progressive, window", (IReadOnlyList<(double, double)>)r.Accuracy) })));
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    });

    public static (Dataset Train, Dataset Test) Load(string? dataDir)
    {
        string dir = dataDir ?? Path.Combine(AppContext.BaseDirectory, "data");
        return (IdxLoader.LoadMnist(Path.Combine(dir, Find(dir, "train-images-idx3-ubyte")), Path.Combine(dir, Find(dir, "train-labels-idx1-ubyte"))),
            IdxLoader.LoadMnist(Path.Combine(dir, Find(dir, "t10k-images-idx3-ubyte")), Path.Combine(dir, Find(dir, "t10k-labels-idx1-ubyte"))));
    }

    internal static string Find(string dir, string stem) =>
        File.Exists(Path.Combine(dir, stem)) ? stem : File.Exists(Path.Combine(dir, stem + ".gz")) ? stem + ".gz"
            : throw new FileNotFoundException($"{stem}[.gz] not found in {dir}");

    /// <summary>784→256→10 ReLU MLP; run seed s initialises its layers from streams 2s−1 and 2s.</summary>
    public static Sequential Mlp(Device dev, int seed) =>
        new(new Linear(dev, 784, 256, seed: 2 * seed - 1), new Relu(), new Linear(dev, 256, 10, seed: 2 * seed));

    public static Optimizer CreateOptimizer(string name, IEnumerable<Tensor> p, float lr) => name.ToLowerInvariant() switch
    {
        "sgd" => new Sgd(p, lr),
        "adam" => new Adam(p, lr),
        "adamw" => new AdamW(p, lr),
        "rmsprop" => new RmsProp(p, lr),
        "adagrad" => new AdaGrad(p, lr),
        "adadelta" => new Adadelta(p, lr),
        "adamax" => new Adamax(p, lr),
        "nadam" => new NAdam(p, lr),
        "radam" => new RAdam(p, lr),
        "lion" => new Lion(p, lr),
        "lamb" => new Lamb(p, lr),
        "adaptive-sgd" => new AdaptiveSgd(p, lr),
        _ => throw new ArgumentException($"unknown optimizer '{name}'"),
    };

    /// <param name="memory">print each epoch's peak device memory of the training steps (before the test set's evaluation).</param>
    public static Result RunBatch(Device dev, Dataset train, Dataset test, string optimizerName, float lr, int epochs,
        int batchSize, int seed, ICommunicator? comm = null, bool memory = false)
    {
        using var model = Mlp(dev, seed);
        using var optimizer = CreateOptimizer(optimizerName, model.Parameters(), lr);
        var loss = new List<(double, double)>();
        var accuracy = new List<(double, double)>();
        var clock = Stopwatch.StartNew();
        Report.WithProgress($"batch mode ({optimizerName}, lr {lr}, batch {batchSize})", progress =>
        {
            int batches = (train.Count + batchSize - 1) / batchSize;
            return Trainer.Fit(model, Trainer.CrossEntropy, optimizer, train, new TrainerOptions
            {
                Epochs = epochs,
                BatchSize = batchSize,
                Seed = seed,
                Communicator = comm,
                OnBatchEnd = b => progress((b.Epoch - 1) * batches + b.Step, epochs * batches, $"epoch {b.Epoch}, loss {b.Loss:F3}"),
                OnEpochEnd = e =>
                {
                    if (memory)
                        Console.WriteLine($"epoch {e.Epoch}: peak memory of the steps {dev.Memory.PeakAllocatedBytes / 1048576.0:F1} MB " +
                                          $"allocated, {dev.Memory.ReservedBytes / 1048576.0:F1} MB reserved");
                    loss.Add((e.Epoch * (double)train.Count, e.TrainLoss));
                    accuracy.Add((e.Epoch * (double)train.Count, Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value));
                    dev.ResetPeakMemoryStats(); // the next epoch's steps, not this evaluation
                },
            });
        });
        double seconds = clock.Elapsed.TotalSeconds;
        double testAccuracy = accuracy.Count > 0 ? accuracy[^1].Item2 // rank 0 measured it each epoch
            : Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value;
        return new Result("batch", testAccuracy, null, seconds, epochs * train.Count / seconds, loss, accuracy);
    }

    public static Result RunOnline(Device dev, Dataset train, Dataset test, string optimizerName, float lr, int seed,
        ICommunicator? comm = null)
    {
        using var model = Mlp(dev, seed);
        using var optimizer = CreateOptimizer(optimizerName, model.Parameters(), lr);
        using var online = new OnlineTrainer(model, optimizer, window: 500);
        int rank = comm?.Rank ?? 0, ranks = comm?.Size ?? 1;
        if (ranks > 1) online.Distribute(comm!); // gradients averaged over the ranks' samples at every step
        var loss = new List<(double, double)>();
        var accuracy = new List<(double, double)>();
        var clock = Stopwatch.StartNew();
        int steps = train.Count / ranks;
        Report.WithProgress($"online mode ({optimizerName}, lr {lr}, one pass{(ranks > 1 ? $", {ranks} ranks" : "")})", progress =>
        {
            for (int k = 0; k < steps; k++)
            {
                int i = k * ranks + rank;
                online.Learn(new Sample(train.Features[(i * 784)..((i + 1) * 784)], train.Labels![i]));
                if ((k + 1) * ranks % 250 < ranks)
                {
                    loss.Add(((k + 1) * ranks, online.WindowLoss));
                    accuracy.Add(((k + 1) * ranks, online.WindowAccuracy));
                    progress(k + 1, steps, $"progressive {online.ProgressiveAccuracy:P1}");
                }
            }
            return 0;
        });
        double seconds = clock.Elapsed.TotalSeconds;
        var totals = new double[] { online.CumulativeHits, online.Samples };
        comm?.AllReduce(totals, ReduceOp.Sum); // progressive accuracy over every rank's samples
        double testAccuracy = Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value;
        return new Result("online", testAccuracy, totals[0] / totals[1], seconds, totals[1] / seconds, loss, accuracy);
    }
}
