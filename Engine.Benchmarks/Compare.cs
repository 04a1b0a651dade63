using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Benchmarks;

/// <summary>
/// <c>compare</c>: runs the named workloads on this engine and, in the same run on the same machine, on PyTorch
/// (<c>compare/torch_workloads.py</c>), and prints workload, engine, PyTorch and their ratio. Both sides time the same
/// way: warm-up steps for ~1.5 s (at least two; .NET's tiered JIT with dynamic PGO reaches its steady-state code after
/// about a second of a fast loop), then the median of 3 rounds of enough steps to last ~0.3 s, synchronized at the end
/// of each round. On a CPU, PyTorch runs twice, on 1 thread and on all cores, and the ratio is taken against its better
/// figure; the engine uses all cores; ILGPU's CPU accelerator (<c>ilgpu-cpu</c>) is timed too, as a column that shows
/// why it is not the default (<c>--no-ilgpu</c> leaves it out). Each round also measures the bandwidth ceiling
/// (<see cref="BandwidthCeiling"/>, STREAM on the engine's buffers past the caches), and every memory-bound row (GB/s)
/// gets the fraction of it that it reaches. <c>--rounds N</c> repeats the whole table N times and reports each figure's
/// median and spread (<see cref="CompareTable"/>); <c>--plot</c> also writes an SVG bar chart of engine ÷ PyTorch. Full
/// runs write the table as markdown and JSON (every round's raw figures, the ceilings, the load average before and
/// after each round) into <c>Engine.Benchmarks/results/</c>.
/// </summary>
public static class Compare
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int roundCount = int.TryParse(Option(args, "--rounds"), out int n) && n >= 1 ? n : 1;
        bool plot = args.Contains("--plot");
        string kind = Option(args, "--device") ?? Environment.GetEnvironmentVariable(Device.EnvironmentVariable) ?? "auto";
        string outFolder = Option(args, "--out") ?? Path.Combine(RepositoryRoot(), "Engine.Benchmarks", "results");
        using var device = Device.Create(kind);
        bool gpu = device.Kind is "cuda" or "opencl";
        string torchDevice = device.Kind == "cuda" ? "cuda" : "cpu";
        Console.WriteLine($"compare on {device}{(quick ? " (quick: tiny sizes, one step)" : "")}");

        var only = Option(args, "--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var rounds = new List<CompareRound>();
        var raw = new JsonArray();
        JsonNode? torch1 = null, torchAll = null;
        bool ilgpuColumn = device.Kind == "cpu" && !args.Contains("--no-ilgpu");
        for (int round = 1; round <= roundCount; round++)
        {
            if (roundCount > 1) Console.WriteLine($"round {round} of {roundCount}");
            double? loadBefore = LoadAverage();
            var ceiling = BandwidthCeiling.Measure(device, quick ? 1 << 12 : BandwidthCeiling.PastTheCaches,
                (step, sync) => Measure(step, sync, quick));
            var l2 = BandwidthCeiling.Measure(device, quick ? 1 << 10 : BandwidthCeiling.L2Resident,
                (step, sync) => Measure(step, sync, quick));
            Console.WriteLine($"  ceiling: copy {ceiling.CopyGBs:F1}, scale {ceiling.ScaleGBs:F1}, add {ceiling.AddGBs:F1}, " +
                              $"triad {ceiling.TriadGBs:F1} GB/s ({ceiling.Floats:N0} floats); L2-resident best {l2.Best:F1} GB/s");
            var engine = TimeEngine(device, gpu, quick, only);
            Dictionary<string, double>? ilgpu = null;
            if (ilgpuColumn)
            {
                using var simulator = Device.Create("ilgpu-cpu");
                Console.WriteLine($"  and on {simulator}, for the ILGPU CPU accelerator column");
                ilgpu = TimeEngine(simulator, gpu, quick, only).ToDictionary(e => e.Name, e => e.Work / e.Seconds / Scale(e.Unit));
            }
            var names = engine.Select(e => Workload.TorchName(e.Name)).Distinct().ToList();
            if (gpu)
            {
                torchAll = RunTorch(torchDevice, quick, names, threads: 0);
            }
            else
            {
                torch1 = RunTorch(torchDevice, quick, names, threads: 1);
                torchAll = RunTorch(torchDevice, quick, names, threads: Environment.ProcessorCount);
            }
            static JsonNode? Result(JsonNode? run, string name) =>
                run?["results"]?.AsArray().FirstOrDefault(r => (string?)r!["workload"] == name);
            var rows = engine.Select(e =>
            {
                var one = Result(torch1, Workload.TorchName(e.Name));
                var all = Result(torchAll, Workload.TorchName(e.Name));
                var best = new[] { one, all }.Where(r => r != null).OrderByDescending(r => (double)r!["rate"]!).FirstOrDefault();
                return new RowMeasure(e.Name, e.Unit, e.Work / e.Seconds / Scale(e.Unit), e.Seconds * 1e3,
                    (double?)one?["rate"], (double?)all?["rate"], (double?)best?["ms_per_step"], ilgpu?.GetValueOrDefault(e.Name));
            }).ToList();
            var measured = new CompareRound(rows, ceiling.Best, loadBefore, LoadAverage());
            rounds.Add(measured);
            raw.Add(new JsonObject
            {
                ["load_before"] = measured.LoadBefore,
                ["load_after"] = measured.LoadAfter,
                ["ceiling"] = JsonSerializer.SerializeToNode(ceiling),
                ["ceiling_l2"] = JsonSerializer.SerializeToNode(l2),
                ["rows"] = JsonSerializer.SerializeToNode(rows),
                ["torch_1_thread"] = torch1?.DeepClone(),
                ["torch"] = torchAll?.DeepClone(),
            });
        }

        var summary = CompareTable.Summarize(rounds);
        string machine = MachineDescription(device, torchAll ?? torch1);
        string table = CompareTable.Markdown(summary, rounds, machine, !gpu && (torch1 != null), ilgpuColumn);
        Console.WriteLine();
        Console.WriteLine(table);
        string stem = Path.Combine(outFolder, $"{DateTime.UtcNow:yyyy-MM-dd}-{device.Kind}");
        if (plot)
        {
            Directory.CreateDirectory(outFolder);
            File.WriteAllText((quick ? Path.Combine(Path.GetTempPath(), "compare-quick") : stem) + ".svg",
                CompareTable.Svg(summary, $"engine ÷ PyTorch on {device} ({rounds.Count} round(s), medians)"));
            Console.WriteLine($"wrote {(quick ? Path.Combine(Path.GetTempPath(), "compare-quick") : stem)}.svg");
        }
        if (!quick)
        {
            Directory.CreateDirectory(outFolder);
            File.WriteAllText(stem + ".md", table);
            var json = new JsonObject
            {
                ["date"] = DateTime.UtcNow.ToString("O"),
                ["device"] = device.ToString(),
                ["cpu"] = CpuModel(),
                ["dotnet"] = RuntimeInformation.FrameworkDescription,
                ["ilgpu"] = typeof(ILGPU.Context).Assembly.GetName().Version?.ToString(),
                ["rounds"] = raw,
                ["summary"] = JsonSerializer.SerializeToNode(summary),
            };
            File.WriteAllText(stem + ".json", json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {stem}.md and {stem}.json");
        }
        return 0;
    }

    private static double Scale(string unit) => unit is "samples/s" or "tokens/s" ? 1 : 1e9;

    private static List<(string Name, string Unit, double Seconds, double Work)> TimeEngine(Device device, bool gpu,
        bool quick, string[]? only)
    {
        var engine = new List<(string Name, string Unit, double Seconds, double Work)>();
        foreach (var name in Workload.Names(gpu))
        {
            if (only != null && !only.Contains(name)) continue;
            using var w = Workload.Create(name, device, gpu, quick);
            double seconds = Measure(w.Step, device.Synchronize, quick);
            engine.Add((name, w.Unit, seconds, w.WorkPerStep));
            Console.WriteLine($"  {device.Kind,-9} {name,-12} {seconds * 1e3,10:F3} ms/step");
        }
        return engine;
    }

    /// <summary>The 1-minute load average now as text ("unknown" where the system does not say).</summary>
    internal static string LoadAverageText() => LoadAverage()?.ToString("F2", CultureInfo.InvariantCulture) ?? "unknown";

    /// <summary>The 1-minute load average now (other jobs share the cores); null where the system does not say.</summary>
    private static double? LoadAverage()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Seconds per step: warm-up for ~1.5 s (at least two steps), then the median of 3 rounds lasting ~0.3 s each.</summary>
    private static double Measure(Action step, Action sync, bool quick)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 2 || (!quick && warm.Elapsed.TotalSeconds < 1.5); i++) step();
        sync();
        var clock = Stopwatch.StartNew();
        step();
        sync();
        double once = Math.Max(clock.Elapsed.TotalSeconds, 1e-7);
        int steps = quick ? 1 : (int)Math.Clamp(0.3 / once, 1, 1000);
        var rounds = new List<double>();
        for (int r = 0; r < (quick ? 1 : 3); r++)
        {
            clock.Restart();
            for (int i = 0; i < steps; i++) step();
            sync();
            rounds.Add(clock.Elapsed.TotalSeconds / steps);
        }
        rounds.Sort();
        return rounds[rounds.Count / 2];
    }

    /// <summary>The PyTorch side; <paramref name="threads"/> &gt; 0 pins torch's and OpenBLAS's threads to that many.</summary>
    private static JsonNode? RunTorch(string device, bool quick, IEnumerable<string> names, int threads)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "compare", "torch_workloads.py");
        foreach (var python in new[] { Environment.GetEnvironmentVariable("ENGINE_PYTHON"), "/usr/bin/python3", "python3" })
        {
            if (string.IsNullOrEmpty(python)) continue;
            try
            {
                var info = new ProcessStartInfo(python)
                {
                    ArgumentList = { script, "--device", device, "--only", string.Join(",", names) },
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                if (quick) info.ArgumentList.Add("--quick");
                // PyTorch at its best: some machines pin OpenBLAS to an older core type (OPENBLAS_CORETYPE, e.g. AVX2
                // Haswell kernels on an AVX-512 CPU); let it pick its own kernels, and report which it picked.
                info.Environment.Remove("OPENBLAS_CORETYPE");
                info.Environment.Remove("OPENBLAS_L2_SIZE");
                info.Environment["OPENBLAS_VERBOSE"] = "2";
                if (threads > 0)
                {
                    info.ArgumentList.Add("--threads");
                    info.ArgumentList.Add(threads.ToString(CultureInfo.InvariantCulture));
                    info.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
                    info.Environment["OPENBLAS_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
                }
                using var p = Process.Start(info)!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                p.WaitForExit();
                if (p.ExitCode == 0)
                {
                    var result = JsonNode.Parse(stdout.Result)!;
                    string? core = stderr.Result.Split('\n').FirstOrDefault(l => l.StartsWith("Core:"))?[5..].Trim();
                    result["openblas_core"] = core;
                    return result;
                }
                Console.WriteLine($"  {python}: PyTorch side failed: {stderr.Result.Trim().Split('\n').LastOrDefault()}");
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // No such interpreter: try the next.
            }
        }
        Console.WriteLine("  PyTorch is not available here (set ENGINE_PYTHON to a python with torch): engine figures only.");
        return null;
    }

    private static string MachineDescription(Device device, JsonNode? torch)
    {
        string torchPart = torch == null ? "PyTorch: not available"
            : $"PyTorch {torch["torch"]} (BLAS: " +
              $"{string.Join(", ", torch["blas"]!.AsArray().Select(x => Path.GetFileName((string)x!)))}" +
              (torch["openblas_core"] is { } core ? $", OpenBLAS core {core}" : "") + $"; device {torch["device_name"]})";
        return $"Measured {DateTime.UtcNow:yyyy-MM-dd} on {device} — CPU: {CpuModel()}, {Environment.ProcessorCount} cores, " +
               $"load average {LoadAverage()?.ToString("F2", CultureInfo.InvariantCulture) ?? "unknown"} at the end — " +
               $"{RuntimeInformation.FrameworkDescription}, ILGPU {typeof(ILGPU.Context).Assembly.GetName().Version} — {torchPart}.";
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim()
                   ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
