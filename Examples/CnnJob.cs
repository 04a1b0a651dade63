using System.Diagnostics;
using Engine;
using Engine.Data;
using Engine.Data.Transforms;
using Engine.Nn;
using Engine.Optim;
using Engine.Optim.Schedules;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>
/// Convolutional nets on MNIST images [N, 1, 28, 28] in batch and in online mode: LeNet-5 and PyTorch's examples/mnist
/// net, each with the recipe of <c>Examples/data/pytorch_cnn_recipe.py</c>. The nets are <see cref="Sequential"/>s
/// laid out as the script's <c>nn.Sequential</c>s, so their state dicts carry PyTorch's names (<c>0.weight</c>, …).
/// </summary>
public static class CnnJob
{
    /// <summary>MNIST's pixel mean and standard deviation (of x/255 over the 60,000 training digits), as PyTorch's example normalises.</summary>
    public const float MnistMean = 0.1307f, MnistStd = 0.3081f;

    /// <summary>A net and its recipes; the lr of each mode is the default of <c>--lr</c>.</summary>
    /// <param name="LogProbabilities">the net ends in log-softmax and is trained on the NLL, else on cross-entropy of its logits.</param>
    /// <param name="StepLrGamma">batch mode: lr ← lr·γ after every epoch (StepLR(step 1, γ)); null: a constant lr.</param>
    public sealed record Net(string Name, string Title, Func<Device, Sequential> Build, bool LogProbabilities,
        Func<IEnumerable<Tensor>, float, Optimizer> CreateOptimizer, Func<float, string> Describe, float BatchLr,
        float OnlineLr, double? StepLrGamma);

    /// <summary>
    /// LeNet-5 for 28×28 digits (the first convolution pads by 2, so the 5×5 kernels see the 32×32 input LeCun et al.
    /// used; ReLU and max pooling in place of the original's scaled tanh and subsampling); 61,706 parameters.
    /// </summary>
    public static Sequential LeNet5(Device dev) => new(
        new Conv2d(dev, 1, 6, 5, padding: 2), new Relu(), new MaxPool2d(2),
        new Conv2d(dev, 6, 16, 5), new Relu(), new MaxPool2d(2), new Flatten(),
        new Linear(dev, 400, 120), new Relu(), new Linear(dev, 120, 84), new Relu(), new Linear(dev, 84, 10));

    /// <summary>PyTorch's examples/mnist <c>Net</c> as one Sequential, log-softmax output; 1,199,882 parameters.</summary>
    public static Sequential ExamplesNet(Device dev) => new(
        new Conv2d(dev, 1, 32, 3), new Relu(), new Conv2d(dev, 32, 64, 3), new Relu(), new MaxPool2d(2),
        new Dropout(0.25f), new Flatten(), new Linear(dev, 9216, 128), new Relu(), new Dropout(0.5f),
        new Linear(dev, 128, 10), new LogSoftmax(1));

    public static readonly IReadOnlyDictionary<string, Net> Nets = new Dictionary<string, Net>
    {
        ["lenet"] = new("lenet", "LeNet-5", LeNet5, LogProbabilities: false,
            (p, lr) => new Sgd(p, lr, momentum: 0.9f), lr => $"SGD lr {lr} momentum 0.9", BatchLr: 0.01f,
            // PyTorch: at lr 0.01 with momentum 0.9 one sample at a time collapses to a single class (10.96 % progressive);
            // 0.001 (the same effective step as 0.01 without momentum) learns.
            OnlineLr: 0.001f, StepLrGamma: null),
        ["examples"] = new("examples", "PyTorch's examples/mnist net", ExamplesNet, LogProbabilities: true,
            (p, lr) => new Adadelta(p, lr), lr => $"Adadelta lr {lr}", BatchLr: 1f, OnlineLr: 1f, StepLrGamma: 0.7),
    };

    public static int Run(string deviceKind, string? dataDir, string netName, string mode, float? lr, int epochs,
        int batchSize, int seed, string outDir)
    {
        if (!Nets.TryGetValue(netName, out var net))
            throw new ArgumentException($"--net must be lenet or examples, got '{netName}'.");
        if (mode is not ("batch" or "online" or "compare"))
            throw new ArgumentException($"--mode must be batch, online or compare, got '{mode}'.");
        using var dev = Device.Create(deviceKind);
        var (train, test) = LoadImages(dataDir);
        long parameters;
        using (var probe = net.Build(dev)) parameters = probe.Parameters().Sum(p => (long)p.Numel);
        Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test, images [1, 28, 28]; " +
                          $"{net.Title} ({parameters:N0} parameters)");
        var results = new List<MnistJob.Result>();
        if (mode != "online") results.Add(RunBatch(dev, net, train, test, lr ?? net.BatchLr, epochs, batchSize, seed));
        if (mode != "batch") results.Add(RunOnline(dev, net, train, test, lr ?? net.OnlineLr, seed));

        var table = new Table().AddColumns("mode", "test accuracy", "progressive accuracy", "wall time", "samples/s", "device");
        foreach (var r in results)
            table.AddRow(r.Mode, $"{r.TestAccuracy:P2}", r.ProgressiveAccuracy is { } p ? $"{p:P2}" : "-",
                $"{r.Seconds:F1} s", $"{r.SamplesPerSecond:F0}", Markup.Escape(dev.ToString()));
        AnsiConsole.Write(table);

        Directory.CreateDirectory(outDir);
        string plot = Path.Combine(outDir, $"cnn-{net.Name}-{(mode == "compare" ? "batch-vs-online" : mode)}.svg");
        string LossName(MnistJob.Result r) => r.Mode == "batch" ? "batch (epoch mean)" : "online (window of 500)";
        string AccuracyName(MnistJob.Result r) => r.Mode == "batch" ? "batch (test)" : "online (progressive, window)";
        File.WriteAllText(plot, SvgPlot.Panels(
            ("training loss", "samples seen", results.Select(r => (LossName(r), (IReadOnlyList<(double, double)>)r.Loss)).ToArray()),
            ("accuracy", "samples seen", results.Select(r => (AccuracyName(r), (IReadOnlyList<(double, double)>)r.Accuracy)).ToArray())));
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    }

    /// <summary>
    /// The MNIST IDX files of <paramref name="dataDir"/> (default: the bundled subset) as images [1, 28, 28], pixels/255
    /// normalised with <see cref="MnistMean"/> and <see cref="MnistStd"/>.
    /// </summary>
    public static (Dataset Train, Dataset Test) LoadImages(string? dataDir)
    {
        string dir = dataDir ?? Path.Combine(AppContext.BaseDirectory, "data");
        Dataset Load(string prefix)
        {
            var images = IdxLoader.LoadMnistImages(Path.Combine(dir, MnistJob.Find(dir, $"{prefix}-images-idx3-ubyte")),
                Path.Combine(dir, MnistJob.Find(dir, $"{prefix}-labels-idx1-ubyte")));
            if (!images.SampleShape.SequenceEqual(new[] { 1, 28, 28 }))
                throw new FormatException(
                    $"{dir}: {prefix} images are [{string.Join(", ", images.SampleShape)}]; the CNNs take MNIST's [1, 28, 28].");
            return Normalized(images);
        }
        return (Load("train"), Load("t10k"));
    }

    /// <summary>
    /// The images through <see cref="Normalize"/> once, up front, instead of as the <see cref="DataLoader"/>'s transform:
    /// <see cref="Trainer.Fit"/> builds its loader without one, the online stream takes the rows as stored, and the
    /// normalisation draws no randomness, so doing it per batch would only repeat the same arithmetic every epoch.
    /// </summary>
    public static Dataset Normalized(Dataset images)
    {
        var normalize = new Normalize(new[] { MnistMean }, new[] { MnistStd });
        int[] shape = images.SampleShape;
        int n = images.FeatureCount;
        var x = new float[images.Features.Length];
        var unused = new SampleRandom(0, 0, 0);
        for (int r = 0; r < images.Count; r++)
            normalize.Apply(images.Features.AsSpan(r * n, n), shape, x.AsSpan(r * n, n), ref unused);
        return Dataset.WithLabels(x, n, images.Labels!).WithSampleShape(shape);
    }

    /// <summary>Cross-entropy of the logits, or the NLL of a net that ends in log-softmax (<c>F.nll_loss</c>).</summary>
    private static BatchLoss LossOf(Net net) => net.LogProbabilities
        ? (p, b) => Loss.Nll(p, Tensor.FromArray(p.Device, b.Labels!, new[] { b.Count }))
        : Trainer.CrossEntropy;

    /// <summary>
    /// <paramref name="epochs"/> of shuffled batches (<see cref="Trainer.Fit"/>), test accuracy after each epoch. The run's
    /// seed restarts <see cref="Generator"/> before the net is built (PyTorch's <c>torch.manual_seed(seed)</c>: initial
    /// weights and dropout streams) and seeds the shuffle.
    /// </summary>
    public static MnistJob.Result RunBatch(Device dev, Net net, Dataset train, Dataset test, float lr, int epochs,
        int batchSize, int seed)
    {
        Generator.ManualSeed(seed);
        using var model = net.Build(dev);
        using var optimizer = net.CreateOptimizer(model.Parameters(), lr);
        var schedule = net.StepLrGamma is { } gamma ? new StepLR(optimizer, stepSize: 1, gamma) : null;
        var batchLoss = LossOf(net);
        var loss = new List<(double, double)>();
        var accuracy = new List<(double, double)>();
        double trainSeconds = 0;
        var clock = Stopwatch.StartNew();
        string title = $"batch mode ({net.Describe(lr)}{(net.StepLrGamma is { } g ? $", StepLR(1, {g})" : "")}, batch {batchSize})";
        Report.WithProgress(title, progress =>
        {
            int batches = (train.Count + batchSize - 1) / batchSize;
            return Trainer.Fit(model, batchLoss, optimizer, train, new TrainerOptions
            {
                Epochs = epochs,
                BatchSize = batchSize,
                Seed = seed,
                Schedule = schedule,
                OnBatchEnd = b => progress((b.Epoch - 1) * batches + b.Step, epochs * batches, $"epoch {b.Epoch}, loss {b.Loss:F3}"),
                OnEpochEnd = e =>
                {
                    trainSeconds += e.Seconds;
                    loss.Add((e.Epoch * (double)train.Count, e.TrainLoss));
                    accuracy.Add((e.Epoch * (double)train.Count, Trainer.Evaluate(model, batchLoss, test, dev).Accuracy!.Value));
                },
            });
        });
        double seconds = clock.Elapsed.TotalSeconds;
        int steps = epochs * ((train.Count + batchSize - 1) / batchSize);
        Console.WriteLine($"  training {trainSeconds:F1} s of {seconds:F1} s ({1e3 * trainSeconds / steps:F2} ms/step over " +
                          $"{steps} steps; the rest is the test set after each epoch)");
        return new MnistJob.Result("batch", accuracy[^1].Item2, null, seconds, epochs * train.Count / seconds, loss, accuracy);
    }

    /// <summary>
    /// One pass over the training digits in order, batch 1, predict-then-learn (<see cref="OnlineTrainer"/>: the
    /// prediction is the train-mode forward whose loss is then back-propagated, dropout included), then the test set in
    /// eval mode. Seeded as the PyTorch script's online runs: <see cref="Generator"/> from 100 + seed.
    /// </summary>
    /// <remarks>
    /// The trainer scores and learns by cross-entropy of the model's output; for the net that ends in log-softmax that is
    /// its NLL exactly (log-softmax of log-probabilities leaves them unchanged), in value and in gradient.
    /// </remarks>
    public static MnistJob.Result RunOnline(Device dev, Net net, Dataset train, Dataset test, float lr, int seed)
    {
        Generator.ManualSeed(100 + seed);
        using var model = net.Build(dev);
        using var optimizer = net.CreateOptimizer(model.Parameters(), lr);
        using var online = new OnlineTrainer(model, optimizer, window: 500) { SampleShape = train.SampleShape };
        var loss = new List<(double, double)>();
        var accuracy = new List<(double, double)>();
        int n = train.FeatureCount;
        var clock = Stopwatch.StartNew();
        Report.WithProgress($"online mode ({net.Describe(lr)}, one pass, batch 1)", progress =>
        {
            for (int i = 0; i < train.Count; i++)
            {
                online.Learn(new Sample(train.Features[(i * n)..((i + 1) * n)], train.Labels![i]));
                if ((i + 1) % 250 == 0 || i + 1 == train.Count)
                {
                    loss.Add((i + 1, online.WindowLoss));
                    accuracy.Add((i + 1, online.WindowAccuracy));
                    progress(i + 1, train.Count, $"progressive {online.ProgressiveAccuracy:P1}");
                }
            }
            return 0;
        });
        double seconds = clock.Elapsed.TotalSeconds;
        double testAccuracy = Trainer.Evaluate(model, LossOf(net), test, dev).Accuracy!.Value;
        return new MnistJob.Result("online", testAccuracy, online.ProgressiveAccuracy, seconds, online.Samples / seconds,
            loss, accuracy);
    }
}
