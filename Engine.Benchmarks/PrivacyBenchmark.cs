using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Nn;
using Engine.Optim;
using Engine.Privacy;

namespace Engine.Benchmarks;

/// <summary>
/// <c>privacy</c>: a DP-SGD training step (per-sample gradients, clipping, noise, then Adam) on the main example's MLP
/// (784 → 256 → ReLU → 10, cross-entropy, Adam lr 1e-3) at batch 256 against the same step without privacy, in the same
/// run: milliseconds a step, each the median of <c>--rounds N</c> (default 5) rounds that alternate the two, and their
/// ratio. Writes <c>results/DATE-DEVICE-privacy.md</c>. The issue's target: ≤ 2× the non-private step (Opacus reports
/// 2–10× for its per-sample hooks).
/// </summary>
public static class PrivacyBenchmark
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int rounds = int.TryParse(Option(args, "--rounds"), out int n) && n >= 1 ? n : 5;
        int batch = int.TryParse(Option(args, "--batch"), out int b) && b >= 1 ? b : 256;
        string kind = Option(args, "--device") ?? Environment.GetEnvironmentVariable(Device.EnvironmentVariable) ?? "auto";
        string outFolder = Option(args, "--out") ?? Path.Combine(Compare.RepositoryRoot(), "Engine.Benchmarks", "results");
        using var device = Device.Create(kind);
        string load = Compare.LoadAverageText();
        Console.WriteLine($"privacy on {device}: MLP 784→256→10, batch {batch}, Adam; plain step vs DP-SGD step; load {load}");
        var rng = new Random(1);
        var x = Tensor.FromArray(device, Enumerable.Range(0, batch * 784).Select(_ => (float)rng.NextDouble()).ToArray(), new[] { batch, 784 });
        var y = Enumerable.Range(0, batch).Select(_ => rng.Next(10)).ToArray();
        var ms = new Dictionary<bool, List<double>> { [false] = new(), [true] = new() };
        int steps = quick ? 3 : 40;
        for (int round = 0; round < rounds; round++)
        {
            foreach (bool dp in new[] { false, true })
            {
                using var model = new Sequential(new Linear(device, 784, 256, seed: 1), new Relu(), new Linear(device, 256, 10, seed: 2));
                using var adam = new Adam(model.Parameters(), lr: 1e-3f);
                using var perSample = dp ? new PerSampleGradients(model) : null;
                var dpOptimizer = dp ? new DpOptimizer(adam, perSample!, 1.0, 1.0, batch, batch / 60000.0, seed: 1) : null;
                void Step()
                {
                    using var scope = new DisposeScope();
                    Loss.CrossEntropy(model.Forward(x), y).Backward();
                    if (dpOptimizer != null)
                    {
                        dpOptimizer.Step();
                        dpOptimizer.ZeroGrad();
                    }
                    else
                    {
                        adam.Step();
                        adam.ZeroGrad();
                    }
                }
                for (int i = 0; i < 3; i++) Step();
                device.Synchronize();
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < steps; i++) Step();
                device.Synchronize();
                ms[dp].Add(clock.Elapsed.TotalMilliseconds / steps);
                Console.WriteLine($"  round {round + 1}: {(dp ? "DP-SGD" : "plain "),-6} {ms[dp][^1],8:F3} ms/step");
            }
        }
        static double Median(IEnumerable<double> xs)
        {
            var s = xs.OrderBy(v => v).ToArray();
            return s[s.Length / 2];
        }
        double plain = Median(ms[false]), priv = Median(ms[true]);
        var ratios = ms[true].Zip(ms[false], (p, q) => p / q).ToArray();
        var table = new StringBuilder();
        table.AppendLine(
            FormattableString.Invariant($"DP-SGD step against the plain step: the main example's MLP (784 → 256 → ReLU → 10, cross-entropy, Adam), batch {batch}, ") +
            FormattableString.Invariant($"on {device}; {rounds} rounds of {steps} steps alternating the two, medians; measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, ") +
            FormattableString.Invariant($"load average {load} at the start and {Compare.LoadAverageText()} at the end. DP-SGD: σ = 1, C = 1, per-sample norms of ") +
            "the Linear weights by ‖dyᵢ‖²·‖xᵢ‖², the clipped sum as (f ⊙ dy)ᵀx.");
        table.AppendLine();
        table.AppendLine("| step | ms/step | samples/s | × plain |");
        table.AppendLine("|---|---:|---:|---:|");
        table.AppendLine(CultureInfo.InvariantCulture, $"| plain (Adam) | {plain:F3} | {batch * 1000 / plain:F0} | 1.00× |");
        table.AppendLine(CultureInfo.InvariantCulture, $"| DP-SGD (Adam) | {priv:F3} | {batch * 1000 / priv:F0} | {priv / plain:F2}× |");
        table.AppendLine();
        string perRound = string.Join(", ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture) + "×"));
        table.AppendLine("Per-round ratios: " + perRound + ".");
        Console.WriteLine();
        Console.WriteLine(table);
        if (!quick)
        {
            Directory.CreateDirectory(outFolder);
            string file = Path.Combine(outFolder, $"{DateTime.UtcNow:yyyy-MM-dd}-{device.Kind}-privacy.md");
            File.WriteAllText(file, table.ToString());
            Console.WriteLine($"wrote {file}");
        }
        return 0;
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
