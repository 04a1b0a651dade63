using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine;
using Engine.Data;
using Engine.Optim;
using Engine.Privacy;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>
/// <c>private</c>: the main job's MLP (784 → 256 → ReLU → 10) trained on the bundled MNIST with DP-SGD
/// (<see cref="DpSgd.MakePrivate"/>: per-sample clipping to C, Gaussian noise σC, Poisson batches, RDP accounting) for each
/// target ε at δ (σ found by <see cref="RdpAccountant.GetNoiseMultiplier"/> for the run's steps), and without privacy
/// (ε = ∞, the same optimizer, batch size and epochs on shuffled batches): test accuracy against ε in a table (printed and
/// written to <c>OUT/private-mnist.md</c>) and a plot (<c>OUT/private-mnist.svg</c>).
/// </summary>
public static class PrivateJob
{
    private sealed record Run(string Epsilon, double? Sigma, double? Spent, double Accuracy, double Seconds, List<(double X, double Y)> Curve);

    public static int Execute(string deviceKind, string? dataDir, string outDir, string epsilons, int epochs, int batchSize,
        float lr, double maxGradNorm, double delta, int seed)
    {
        var targets = epsilons.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(e => e is "inf" or "∞" ? double.PositiveInfinity : double.Parse(e, CultureInfo.InvariantCulture)).ToArray();
        using var dev = Device.Create(deviceKind);
        var (train, test) = MnistJob.Load(dataDir);
        Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test; MLP 784→256→10, SGD lr {lr}, batch {batchSize}, " +
                          $"{epochs} epochs, C = {maxGradNorm}, δ = {delta}");
        var runs = new List<Run>();
        foreach (double target in targets)
        {
            Generator.ManualSeed(seed);
            using var model = MnistJob.Mlp(dev, seed);
            using var sgd = new Sgd(model.Parameters(), lr: lr);
            var curve = new List<(double X, double Y)>();
            var options = new TrainerOptions
            {
                Epochs = epochs, BatchSize = batchSize, Seed = seed, Validation = test,
                OnEpochEnd = r => curve.Add((r.Epoch, r.ValidationAccuracy ?? 0)),
            };
            var clock = Stopwatch.StartNew();
            Run run;
            if (double.IsPositiveInfinity(target))
            {
                Trainer.Fit(model, Trainer.CrossEntropy, sgd, train, options);
                run = new Run("∞ (no DP)", null, null, 0, 0, curve);
            }
            else
            {
                using var dp = DpSgd.MakePrivate(model, sgd, new DataLoader(dev, train, batchSize, seed: seed), targetEpsilon: target,
                    epochs: epochs, maxGradNorm: maxGradNorm, delta: delta, seed: seed);
                Trainer.Fit(model, Trainer.CrossEntropy, sgd, train, new TrainerOptions
                {
                    Epochs = epochs, BatchSize = batchSize, Seed = seed, Validation = test, Privacy = dp,
                    OnEpochEnd = options.OnEpochEnd,
                });
                run = new Run(target.ToString(CultureInfo.InvariantCulture), dp.NoiseMultiplier, dp.GetEpsilon(), 0, 0, curve);
            }
            var (_, accuracy) = Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev);
            runs.Add(run with { Accuracy = accuracy ?? 0, Seconds = clock.Elapsed.TotalSeconds });
            Console.WriteLine($"  ε = {runs[^1].Epsilon}: test accuracy {runs[^1].Accuracy:P2} ({runs[^1].Seconds:F1} s)");
        }

        var table = new Table().AddColumns("target ε", "σ", $"ε spent (δ = {delta})", "test accuracy", "time");
        var md = new StringBuilder();
        string header = FormattableString.Invariant(
            $"DP-SGD on the bundled MNIST ({train.Count} train / {test.Count} test), MLP 784 → 256 → ReLU → 10, SGD lr {lr}, expected batch {batchSize} (Poisson sampling, q = {Math.Min(1.0, (double)batchSize / train.Count):G3}), {epochs} epochs, clipping norm C = {maxGradNorm}, δ = {delta}, seed {seed}, on {dev}. σ is the smallest for the target ε over the run's steps (RDP accountant, Opacus 1.x's conversion); ε = ∞ is the same recipe without DP (shuffled batches, no clipping or noise).");
        md.AppendLine(header);
        md.AppendLine();
        md.AppendLine("| target ε | σ | ε spent | test accuracy | time |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var r in runs)
        {
            string sigma = r.Sigma is { } s ? s.ToString("F3", CultureInfo.InvariantCulture) : "-";
            string spent = r.Spent is { } e ? e.ToString("F3", CultureInfo.InvariantCulture) : "∞";
            table.AddRow(r.Epsilon, sigma, spent, $"{r.Accuracy:P2}", $"{r.Seconds:F1} s");
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Epsilon} | {sigma} | {spent} | {r.Accuracy:P2} | {r.Seconds:F1} s |");
        }
        AnsiConsole.Write(table);
        Directory.CreateDirectory(outDir);
        string mdFile = Path.Combine(outDir, "private-mnist.md"), svgFile = Path.Combine(outDir, "private-mnist.svg");
        File.WriteAllText(mdFile, md.ToString());
        var finite = runs.Where(r => r.Spent != null).Select(r => (r.Spent!.Value, r.Accuracy)).ToList();
        var series = new List<(string, IReadOnlyList<(double, double)>)> { ("DP-SGD (ε spent)", finite) };
        if (runs.FirstOrDefault(r => r.Spent == null) is { } plain && finite.Count > 0)
            series.Add(("no DP (ε = ∞)", new[] { (finite.Min(p => p.Item1), plain.Accuracy), (finite.Max(p => p.Item1), plain.Accuracy) }));
        File.WriteAllText(svgFile, SvgPlot.Panels(
            ("test accuracy against ε", $"ε (δ = {delta})", series.ToArray()),
            ("test accuracy by epoch", "epoch", runs.Select(r => ($"ε = {r.Epsilon}", (IReadOnlyList<(double, double)>)r.Curve)).ToArray())));
        Console.WriteLine($"table: {Path.GetFullPath(mdFile)}");
        Console.WriteLine($"plot: {Path.GetFullPath(svgFile)}");
        return 0;
    }
}
