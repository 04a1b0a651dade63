using System.Globalization;
using Engine;
using Engine.Data;
using Engine.Diagnostics;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>
/// Vanishing gradients and their cures, measured: a deep (10 hidden layers) sigmoid MLP on the bundled MNIST subset,
/// whose per-layer gradient norms shrink layer by layer towards the input so that SGD stalls, against the same depth
/// with ReLU + BatchNorm1d + Kaiming initialisation (with SGD and with Adam), which trains. Gradient norms come from
/// <see cref="GradientNormRecorder"/> (one small read per measured step).
/// </summary>
public static class GradientsJob
{
    private sealed record Run(string Name, List<double> LayerNorms, List<double> TestAccuracy, double FinalLoss);

    public static int Execute(string deviceKind, string? dataDir, string outDir, int depth, int width, int epochs, float lr,
        int seed)
    {
        if (depth < 2 || width < 1 || epochs < 1 || !(lr > 0))
            throw new ArgumentException($"gradients: need --depth ≥ 2, --width ≥ 1, --epochs ≥ 1 and --lr > 0 (got {depth}, {width}, {epochs}, {lr}).");
        using var dev = Device.Create(deviceKind);
        var (train, test) = MnistJob.Load(dataDir);
        Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test; {depth} hidden layers of {width}, " +
                          $"batch 64, {epochs} epochs");
        var runs = new List<Run>
        {
            Train(dev, train, test, $"sigmoid, default init, SGD {lr}", () => Sigmoid(dev, depth, width), m => new Sgd(m.Parameters(), lr), epochs, seed),
            Train(dev, train, test, "sigmoid, default init, Adam 1e-3", () => Sigmoid(dev, depth, width), m => new Adam(m.Parameters(), 1e-3f), epochs, seed),
            Train(dev, train, test, $"ReLU + BatchNorm1d + Kaiming, SGD {lr}", () => ReluBatchNorm(dev, depth, width), m => new Sgd(m.Parameters(), lr), epochs, seed),
            Train(dev, train, test, "ReLU + BatchNorm1d + Kaiming, Adam 1e-3", () => ReluBatchNorm(dev, depth, width), m => new Adam(m.Parameters(), 1e-3f), epochs, seed),
        };

        var c = CultureInfo.InvariantCulture;
        var norms = new Table().AddColumn("layer (input → output)");
        foreach (var r in runs) norms.AddColumn(Markup.Escape(r.Name));
        for (int layer = 0; layer <= depth; layer++)
            norms.AddRow(new[] { layer == depth ? $"{layer + 1} (output)" : $"{layer + 1}" }
                .Concat(runs.Select(r => r.LayerNorms[layer].ToString("0.00E+0", c))).ToArray());
        Console.WriteLine("Mean gradient norm ‖∂L/∂W‖ of each Linear layer over the first epoch:");
        AnsiConsole.Write(norms);
        var summary = new Table().AddColumns("network", "first ÷ last layer norm", "test accuracy by epoch", "final train loss");
        foreach (var r in runs)
            summary.AddRow(Markup.Escape(r.Name), (r.LayerNorms[0] / r.LayerNorms[^1]).ToString("0.0E+0", c),
                string.Join("  ", r.TestAccuracy.Select(a => a.ToString("P1", c))), r.FinalLoss.ToString("F3", c));
        AnsiConsole.Write(summary);

        Directory.CreateDirectory(outDir);
        string plot = Path.Combine(outDir, "gradients.svg");
        File.WriteAllText(plot, SvgPlot.Panels(
            ("log₁₀ mean gradient norm per layer (epoch 1)", "layer (1 = input side)",
                runs.Select(r => (r.Name, (IReadOnlyList<(double, double)>)r.LayerNorms.Select((n, i) => (i + 1.0, Math.Log10(n))).ToList())).ToArray()),
            ("test accuracy", "epoch",
                runs.Select(r => (r.Name, (IReadOnlyList<(double, double)>)r.TestAccuracy.Select((a, i) => (i + 1.0, a)).ToList())).ToArray())));
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    }

    /// <summary>depth × (Linear → Sigmoid), then Linear → 10, PyTorch's default initialisation.</summary>
    private static Sequential Sigmoid(Device dev, int depth, int width)
    {
        var layers = new List<Module>();
        for (int i = 0; i < depth; i++)
        {
            layers.Add(new Linear(dev, i == 0 ? 784 : width, width));
            layers.Add(new Engine.Nn.Sigmoid());
        }
        layers.Add(new Linear(dev, width, 10));
        return new Sequential(layers.ToArray());
    }

    /// <summary>depth × (Linear → BatchNorm1d → ReLU) with Kaiming-normal weights and zero biases, then Linear → 10.</summary>
    private static Sequential ReluBatchNorm(Device dev, int depth, int width)
    {
        var layers = new List<Module>();
        for (int i = 0; i < depth; i++)
        {
            var linear = new Linear(dev, i == 0 ? 784 : width, width);
            Init.KaimingNormal(linear.Weight);
            Init.Zeros(linear.Bias!);
            layers.Add(linear);
            layers.Add(new BatchNorm1d(dev, width));
            layers.Add(new Relu());
        }
        layers.Add(new Linear(dev, width, 10));
        return new Sequential(layers.ToArray());
    }

    private static Run Train(Device dev, Dataset train, Dataset test, string name, Func<Sequential> build,
        Func<Module, Optimizer> optimizerFor, int epochs, int seed)
    {
        Generator.ManualSeed(seed);
        using var model = build();
        using var optimizer = optimizerFor(model);
        var recorder = new GradientNormRecorder(model);
        var linearLayers = model.Children.Where(c => c.Child is Linear).Select(c => c.Name).ToList();
        var accuracy = new List<double>();
        int batches = (train.Count + 63) / 64;
        var history = Report.WithProgress(name, progress => Trainer.Fit(model, Trainer.CrossEntropy, optimizer, train,
            new TrainerOptions
            {
                Epochs = epochs, BatchSize = 64, Seed = seed, DropLast = true,
                OnAfterBackward = p => { if (p.Epoch == 1) recorder.Record(p); },
                OnBatchEnd = b => progress((b.Epoch - 1) * batches + b.Step, epochs * batches, $"epoch {b.Epoch}, loss {b.Loss:F3}"),
                OnEpochEnd = _ => accuracy.Add(Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value),
            }));
        var layerNorms = recorder.MeanLayerNorms().Where(l => linearLayers.Contains(l.Name)).Select(l => l.Norm).ToList();
        return new Run(name, layerNorms, accuracy, history.Epochs[^1].TrainLoss);
    }
}
