using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>
/// Iterative prune-and-finetune of the main example's 784→256→10 MLP on MNIST (Han et al. 2015's recipe with
/// <see cref="Prune"/>): train dense, then each round prune a fraction of the weights still unpruned and fine-tune with
/// the masks in place, so sparsity compounds (1 − (1 − f)^round). Beside it, one-shot pruning of the dense model to the
/// same sparsity without fine-tuning, which shows what the fine-tuning buys. Prints a table, writes it as markdown and
/// plots test accuracy against sparsity.
/// </summary>
public static class PruneJob
{
    /// <summary>One round's figures: sparsity of the two weight matrices and the test accuracies.</summary>
    public sealed record Round(int Index, double Sparsity, double OneShot, double Pruned, double FineTuned, double Seconds);

    public static int Run(string deviceKind, string? dataDir, string outDir, string method, int rounds, double fraction,
        int epochs, int finetuneEpochs, int batchSize, float lr, int seed)
    {
        if (method is not ("global" or "l1" or "ln"))
            throw new ArgumentException($"--method must be global, l1 or ln, got '{method}'.");
        if (rounds < 1) throw new ArgumentException($"--rounds must be ≥ 1, got {rounds}.");
        if (fraction is <= 0 or >= 1) throw new ArgumentException($"--fraction must be in (0, 1), got {fraction}.");
        using var dev = Device.Create(deviceKind);
        var (train, test) = MnistJob.Load(dataDir);
        Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test; 784→256→10 MLP, Adam lr {lr}, " +
                          $"batch {batchSize}; {Describe(method)}, {fraction:P0} of the remaining weights per round");
        var clock = Stopwatch.StartNew();
        using var model = MnistJob.Mlp(dev, seed);
        Fit(model, train, epochs, batchSize, lr, seed, $"dense training ({epochs} epochs)");
        double dense = Accuracy(model, test, dev);
        var denseState = model.StateDict();
        var results = new List<Round> { new(0, 0, dense, dense, dense, clock.Elapsed.TotalSeconds) };

        using var oneShot = MnistJob.Mlp(dev, seed);
        for (int r = 1; r <= rounds; r++)
        {
            PruneStep(model, method, fraction);
            double sparsity = Sparsity(model);
            double pruned = Accuracy(model, test, dev);
            // A fresh optimizer after pruning, as PyTorch advises: no momentum from before carries into the masked entries.
            Fit(model, train, finetuneEpochs, batchSize, lr, seed + r, $"round {r}: {sparsity:P1} sparse, fine-tuning");
            double fineTuned = Accuracy(model, test, dev);

            // One shot: the dense weights pruned straight to this round's sparsity, no fine-tuning.
            double oneShotFraction = 1 - Math.Pow(1 - fraction, r);
            if (Prune.IsPruned(oneShot)) foreach (int i in new[] { 0, 2 }) Prune.Remove(oneShot[i], "weight");
            oneShot.LoadStateDict(denseState);
            PruneStep(oneShot, method, oneShotFraction);
            results.Add(new Round(r, sparsity, Accuracy(oneShot, test, dev), pruned, fineTuned, clock.Elapsed.TotalSeconds));
        }
        // Deploy: the masks made permanent; the dense layers now hold zeros and compute exactly as before.
        double beforeRemove = Accuracy(model, test, dev);
        foreach (int i in new[] { 0, 2 }) Prune.Remove(model[i], "weight");
        double afterRemove = Accuracy(model, test, dev);

        var table = new Table().AddColumns("round", "sparsity", "one-shot (no fine-tune)", "iterative, pruned", "iterative, fine-tuned", "time");
        foreach (var r in results)
            table.AddRow(r.Index.ToString(CultureInfo.InvariantCulture), $"{r.Sparsity:P1}", $"{r.OneShot:P2}", $"{r.Pruned:P2}",
                $"{r.FineTuned:P2}", $"{r.Seconds:F1} s");
        AnsiConsole.Write(table);
        Console.WriteLine($"after Prune.Remove: {afterRemove:P2} (with the masks: {beforeRemove:P2}); weight_orig/weight_mask " +
                          "are gone from the state dict, the zeros stay");

        Directory.CreateDirectory(outDir);
        string markdown = Path.Combine(outDir, "prune.md");
        File.WriteAllText(markdown, Markdown(dev, method, fraction, epochs, finetuneEpochs, batchSize, lr, seed, results, afterRemove));
        string plot = Path.Combine(outDir, "prune.svg");
        File.WriteAllText(plot, SvgPlot.Panels(("test accuracy against sparsity", "sparsity of the weights (%)", new[]
        {
            ("iterative, fine-tuned", Points(results, r => r.FineTuned)),
            ("iterative, just pruned", Points(results, r => r.Pruned)),
            ("one-shot, no fine-tuning", Points(results, r => r.OneShot)),
        })));
        Console.WriteLine($"table: {Path.GetFullPath(markdown)}");
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    }

    private static string Describe(string method) => method switch
    {
        "global" => "GlobalUnstructured L1 over both weight matrices",
        "l1" => "L1Unstructured per layer",
        _ => "LnStructured (L2) on the hidden units (rows of the first weight) and L1Unstructured on the second",
    };

    /// <summary>Prunes <paramref name="amount"/> of the unpruned weights of the MLP's two Linear layers.</summary>
    private static void PruneStep(Sequential model, string method, double amount)
    {
        switch (method)
        {
            case "global":
                Prune.GlobalUnstructured(new[] { (model[0], "weight"), (model[2], "weight") }, PruningMethod.L1Unstructured, amount);
                break;
            case "l1":
                Prune.L1Unstructured(model[0], "weight", amount);
                Prune.L1Unstructured(model[2], "weight", amount);
                break;
            default:
                Prune.LnStructured(model[0], "weight", amount, n: 2, dim: 0);
                Prune.L1Unstructured(model[2], "weight", amount);
                break;
        }
    }

    /// <summary>The fraction of zero entries of the two weight matrices (as the forward sees them).</summary>
    private static double Sparsity(Sequential model)
    {
        long zeros = 0, total = 0;
        foreach (int i in new[] { 0, 2 })
        {
            var w = ((Linear)model[i]).Weight.ToArray();
            zeros += w.Count(v => v == 0f);
            total += w.Length;
        }
        return (double)zeros / total;
    }

    private static void Fit(Module model, Dataset train, int epochs, int batchSize, float lr, int seed, string title)
    {
        if (epochs == 0) return;
        using var optimizer = new Adam(model.Parameters(), lr);
        int batches = (train.Count + batchSize - 1) / batchSize;
        Report.WithProgress(title, progress => Trainer.Fit(model, Trainer.CrossEntropy, optimizer, train, new TrainerOptions
        {
            Epochs = epochs,
            BatchSize = batchSize,
            Seed = seed,
            OnBatchEnd = b => progress((b.Epoch - 1) * batches + b.Step, epochs * batches, $"epoch {b.Epoch}, loss {b.Loss:F3}"),
        }));
    }

    private static double Accuracy(Module model, Dataset test, Device dev) =>
        Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value;

    private static IReadOnlyList<(double, double)> Points(List<Round> results, Func<Round, double> accuracy) =>
        results.Select(r => (100 * r.Sparsity, 100 * accuracy(r))).ToList();

    private static string Markdown(Device dev, string method, double fraction, int epochs, int finetuneEpochs, int batchSize,
        float lr, int seed, List<Round> results, double afterRemove)
    {
        var md = new StringBuilder();
        md.AppendLine("# Iterative pruning of the MNIST MLP");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"784→256→10 ReLU MLP, {epochs} dense epochs (Adam lr {lr}, batch {batchSize}, seed {seed}); then each round " +
            $"{Describe(method)} prunes {fraction:P0} of the weights still unpruned and {finetuneEpochs} epoch(s) of " +
            $"fine-tuning follow with the masks in place. One-shot: the dense model pruned to the same sparsity at once, " +
            $"not fine-tuned. Device: {dev}. Test accuracy on the bundled 2,000 test digits.");
        md.AppendLine();
        md.AppendLine("| round | sparsity | one-shot (no fine-tune) | iterative, pruned | iterative, fine-tuned |");
        md.AppendLine("|---:|---:|---:|---:|---:|");
        foreach (var r in results)
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Index} | {r.Sparsity:P1} | {r.OneShot:P2} | {r.Pruned:P2} | {r.FineTuned:P2} |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"After `Prune.Remove` (masks made permanent): {afterRemove:P2}.");
        return md.ToString();
    }
}
