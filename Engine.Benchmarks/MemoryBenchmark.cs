using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Engine.Benchmarks;

/// <summary>
/// <c>memory</c>: the gpt-small training step (<see cref="Workload"/>'s gpt rows) with activation checkpointing off, every
/// block and every two blocks: milliseconds a step and the device's peak allocated bytes over a step
/// (<see cref="MemoryStats.PeakAllocatedBytes"/>: parameters, gradients, AdamW state and activations), each the median
/// of <c>--rounds N</c> (default 3) rounds that alternate the settings, with the ratios to the run without. Writes
/// <c>results/DATE-DEVICE-memory.md</c>. The targets: peak ≤ 50 % of without at ≤ 1.4× the step time.
/// </summary>
public static class MemoryBenchmark
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int rounds = int.TryParse(Option(args, "--rounds"), out int n) && n >= 1 ? n : 3;
        string kind = Option(args, "--device") ?? Environment.GetEnvironmentVariable(Device.EnvironmentVariable) ?? "auto";
        string outFolder = Option(args, "--out") ?? Path.Combine(Compare.RepositoryRoot(), "Engine.Benchmarks", "results");
        int[] settings = { 0, 1, 2 };
        var ms = settings.ToDictionary(s => s, _ => new List<double>());
        var peak = settings.ToDictionary(s => s, _ => new List<long>());
        using var device = Device.Create(kind);
        Console.WriteLine($"memory on {device}: gpt-small step, activation checkpointing off / every block / every 2 blocks");
        for (int round = 0; round < rounds; round++)
        {
            foreach (int every in settings)
            {
                using var w = Workload.Gpt("gpt-small", device, quick, every);
                for (int i = 0; i < 2; i++) w.Step(); // warm: the pool holds what a step needs
                device.Synchronize();
                device.ResetPeakMemoryStats();
                int steps = quick ? 1 : 5;
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < steps; i++) w.Step();
                device.Synchronize();
                ms[every].Add(clock.Elapsed.TotalMilliseconds / steps);
                peak[every].Add(device.Memory.PeakAllocatedBytes);
                Console.WriteLine($"  round {round + 1}: checkpoint {every}: {ms[every][^1],8:F1} ms/step, " +
                                  $"peak {peak[every][^1] / 1048576.0,7:F1} MB");
            }
        }
        static double Median(IEnumerable<double> xs)
        {
            var s = xs.OrderBy(x => x).ToArray();
            return s[s.Length / 2];
        }
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"gpt-small training step (block 256, batch 8, 6 layers, 6 heads, n_embd 384, AdamW) on {device}, " +
                                                       $"{rounds} rounds, medians; measured {DateTime.UtcNow:yyyy-MM-dd}, load average {Compare.LoadAverageText()}.");
        table.AppendLine();
        table.AppendLine("| activation checkpointing | ms/step | × time | peak allocated | × memory |");
        table.AppendLine("|---|---:|---:|---:|---:|");
        double baseMs = Median(ms[0]), basePeak = Median(peak[0].Select(x => (double)x));
        foreach (int every in settings)
        {
            double m = Median(ms[every]), p = Median(peak[every].Select(x => (double)x));
            string what = every == 0 ? "off" : every == 1 ? "every block" : $"every {every} blocks";
            table.AppendLine(CultureInfo.InvariantCulture,
                $"| {what} | {m:F1} | {m / baseMs:F2}× | {p / 1048576:F1} MB | {p / basePeak:P0} |");
        }
        Console.WriteLine();
        Console.WriteLine(table);
        if (!quick)
        {
            Directory.CreateDirectory(outFolder);
            string file = Path.Combine(outFolder, $"{DateTime.UtcNow:yyyy-MM-dd}-{device.Kind}-memory.md");
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
