using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Nn;

namespace Engine.Benchmarks;

/// <summary>
/// <c>pruning</c>: inference (forward under no-grad) of the main example's 784→256→10 MLP dense, pruned to 90 % sparsity
/// by <see cref="Prune.GlobalUnstructured"/> with the masks in place (weight_orig ⊙ mask recomputed at every forward, as
/// PyTorch's pre-hook), and after <see cref="Prune.Remove"/> (the zeros in ordinary dense weights): samples/s at batch 1
/// and batch 256, each the median of <c>--rounds N</c> (default 3) rounds in which the three models take turns in 0.1 s
/// slices (1 s each a round), and the ratio
/// to dense. Writes <c>results/DATE-DEVICE-pruning.md</c> (not with <c>--quick</c>). The target: pruned models'
/// inference unchanged or faster. The engine has no sparse kernels, so after Remove the work is the dense work.
/// </summary>
public static class PruningBenchmark
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int rounds = int.TryParse(Option(args, "--rounds"), out int n) && n >= 1 ? n : 3;
        string kind = Option(args, "--device") ?? Environment.GetEnvironmentVariable(Device.EnvironmentVariable) ?? "auto";
        string outFolder = Option(args, "--out") ?? Path.Combine(Compare.RepositoryRoot(), "Engine.Benchmarks", "results");
        using var device = Device.Create(kind);
        string[] variants = { "dense", "pruned, masks in place", "pruned, after Remove" };
        int[] batches = { 1, 256 };
        Sequential Build(int variant)
        {
            var model = new Sequential(new Linear(device, 784, 256, seed: 1), new Relu(), new Linear(device, 256, 10, seed: 2));
            if (variant == 0) return model;
            Prune.GlobalUnstructured(new[] { (model[0], "weight"), (model[2], "weight") }, PruningMethod.L1Unstructured, 0.9);
            if (variant == 2) foreach (int i in new[] { 0, 2 }) Prune.Remove(model[i], "weight");
            return model;
        }
        var rates = new Dictionary<(int Variant, int Batch), List<double>>();
        Console.WriteLine($"pruning on {device}: 784→256→10 MLP inference, dense vs 90 % sparse (GlobalUnstructured L1)");
        // The three models take turns in short slices, so a change in the shared machine's load falls on all of them.
        for (int round = 0; round < rounds; round++)
            foreach (int batch in batches)
            {
                using var x = Tensor.RandN(device, new[] { batch, 784 }, seed: 5);
                var models = Enumerable.Range(0, variants.Length).Select(Build).ToArray();
                var iterations = new long[variants.Length];
                var elapsed = new double[variants.Length];
                double slice = quick ? 0.01 : 0.1;
                using (Autograd.NoGrad())
                {
                    foreach (var model in models)
                    {
                        model.Eval();
                        for (int i = 0; i < 20; i++) Forward(model, x);
                    }
                    device.Synchronize();
                    for (int turn = 0; turn < 10; turn++)
                        for (int v = 0; v < variants.Length; v++)
                        {
                            var clock = Stopwatch.StartNew();
                            while (clock.Elapsed.TotalSeconds < slice)
                            {
                                for (int i = 0; i < 10; i++) Forward(models[v], x);
                                iterations[v] += 10;
                                device.Synchronize();
                            }
                            elapsed[v] += clock.Elapsed.TotalSeconds;
                        }
                }
                for (int v = 0; v < variants.Length; v++)
                {
                    double rate = iterations[v] * (double)batch / elapsed[v];
                    (rates.TryGetValue((v, batch), out var list) ? list : rates[(v, batch)] = new List<double>()).Add(rate);
                    Console.WriteLine($"  round {round + 1}: batch {batch,3}: {variants[v],-24} {rate,12:F0} samples/s");
                    models[v].Dispose();
                }
            }
        static double Median(IEnumerable<double> xs)
        {
            var s = xs.OrderBy(x => x).ToArray();
            return s[s.Length / 2];
        }
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture,
            $"784→256→10 MLP inference (forward, no grad) on {device}, {rounds} rounds, medians; measured " +
            $"{DateTime.UtcNow:yyyy-MM-dd}, load average {Compare.LoadAverageText()}.");
        table.AppendLine();
        table.AppendLine("| model | batch | samples/s | × dense |");
        table.AppendLine("|---|---:|---:|---:|");
        foreach (int batch in batches)
            for (int v = 0; v < variants.Length; v++)
                table.AppendLine(CultureInfo.InvariantCulture,
                    $"| {variants[v]} | {batch} | {Median(rates[(v, batch)]):F0} | {Median(rates[(v, batch)]) / Median(rates[(0, batch)]):F2}× |");
        Console.WriteLine();
        Console.WriteLine(table);
        if (!quick)
        {
            Directory.CreateDirectory(outFolder);
            string file = Path.Combine(outFolder, $"{DateTime.UtcNow:yyyy-MM-dd}-{device.Kind}-pruning.md");
            File.WriteAllText(file, table.ToString());
            Console.WriteLine($"wrote {file}");
        }
        return 0;
    }

    private static void Forward(Module model, Tensor x)
    {
        using var scope = new DisposeScope();
        model.Forward(x);
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
