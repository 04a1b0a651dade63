using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Benchmarks;

/// <summary>
/// <c>compare</c>: runs the named workloads on this engine and, in the same run on the same machine, on PyTorch
/// (<c>compare/torch_workloads.py</c>), and prints workload, engine, PyTorch and their ratio. Both sides time the
/// same way: two warm-up steps, then the median of 3 rounds of enough steps to last ~0.3 s, synchronized at the end
/// of each round. The copy kernel's GB/s and sgemm's GFLOP/s are the ceilings (memory bandwidth, best matmul).
/// Full runs write the table as markdown and JSON into <c>Engine.Benchmarks/results/</c>.
/// </summary>
public static class Compare
{
    private sealed record Row(string Workload, string Unit, double EngineMs, double EngineRate, double? TorchMs, double? TorchRate);

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        string kind = Option(args, "--device") ?? Environment.GetEnvironmentVariable(Device.EnvironmentVariable) ?? "auto";
        string outFolder = Option(args, "--out") ?? Path.Combine(RepositoryRoot(), "Engine.Benchmarks", "results");
        using var device = Device.Create(kind);
        bool gpu = device.Kind != "cpu";
        string torchDevice = device.Kind == "cuda" ? "cuda" : "cpu";
        Console.WriteLine($"compare on {device}{(quick ? " (quick: tiny sizes, one step)" : "")}");

        var engine = new List<(string Name, string Unit, double Seconds, double Work)>();
        foreach (var name in Workload.Names(gpu))
        {
            using var w = Workload.Create(name, device, gpu, quick);
            double seconds = Measure(w.Step, device.Synchronize, quick);
            engine.Add((name, w.Unit, seconds, w.WorkPerStep));
            Console.WriteLine($"  engine  {name,-12} {seconds * 1e3,10:F3} ms/step");
        }

        var torch = RunTorch(torchDevice, quick, engine.Select(e => e.Name));
        var rows = engine.Select(e =>
        {
            double rate = e.Work / e.Seconds / (e.Unit == "samples/s" ? 1 : 1e9);
            var t = torch?["results"]?.AsArray().FirstOrDefault(r => (string?)r!["workload"] == e.Name);
            return new Row(e.Name, e.Unit, e.Seconds * 1e3, rate, (double?)t?["ms_per_step"], (double?)t?["rate"]);
        }).ToList();

        string machine = MachineDescription(device, torch);
        string table = Markdown(rows, machine);
        Console.WriteLine();
        Console.WriteLine(table);
        if (!quick)
        {
            Directory.CreateDirectory(outFolder);
            string stem = Path.Combine(outFolder, $"{DateTime.UtcNow:yyyy-MM-dd}-{device.Kind}");
            File.WriteAllText(stem + ".md", table);
            var json = new JsonObject
            {
                ["date"] = DateTime.UtcNow.ToString("O"),
                ["device"] = device.ToString(),
                ["cpu"] = CpuModel(),
                ["dotnet"] = RuntimeInformation.FrameworkDescription,
                ["ilgpu"] = typeof(ILGPU.Context).Assembly.GetName().Version?.ToString(),
                ["torch"] = torch?.DeepClone(),
                ["rows"] = JsonSerializer.SerializeToNode(rows),
            };
            File.WriteAllText(stem + ".json", json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {stem}.md and {stem}.json");
        }
        return 0;
    }

    /// <summary>Seconds per step: two warm-up steps, then the median of 3 rounds lasting ~0.3 s each.</summary>
    private static double Measure(Action step, Action sync, bool quick)
    {
        step();
        step();
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

    private static JsonNode? RunTorch(string device, bool quick, IEnumerable<string> names)
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
                using var p = Process.Start(info)!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                p.WaitForExit();
                if (p.ExitCode == 0) return JsonNode.Parse(stdout.Result);
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

    private static string Markdown(List<Row> rows, string machine)
    {
        static string F(double? v) => v is double d ? d.ToString(d >= 100 ? "F0" : d >= 1 ? "F2" : "F4", CultureInfo.InvariantCulture) : "–";
        var b = new StringBuilder();
        b.AppendLine(machine).AppendLine();
        b.AppendLine("| workload | unit | this engine | PyTorch | engine / PyTorch | engine ms/step | PyTorch ms/step |");
        b.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            b.AppendLine($"| {r.Workload} | {r.Unit} | {F(r.EngineRate)} | {F(r.TorchRate)} | " +
                         $"{(r.TorchRate is double t ? (r.EngineRate / t).ToString("F3", CultureInfo.InvariantCulture) + "×" : "–")} | " +
                         $"{F(r.EngineMs)} | {F(r.TorchMs)} |");
        b.AppendLine();
        b.AppendLine("Rates: higher is better; the ratio is engine ÷ PyTorch. Ceilings: `copy` is the memory bandwidth each " +
                     "side reaches with a copy kernel, `sgemm` the best matmul each has at that size.");
        return b.ToString();
    }

    private static string MachineDescription(Device device, JsonNode? torch)
    {
        string torchPart = torch == null ? "PyTorch: not available"
            : $"PyTorch {torch["torch"]} ({torch["threads"]} intra-op threads; BLAS: " +
              $"{string.Join(", ", torch["blas"]!.AsArray().Select(x => Path.GetFileName((string)x!)))}; device {torch["device_name"]})";
        return $"Measured {DateTime.UtcNow:yyyy-MM-dd} on {device} — CPU: {CpuModel()}, {Environment.ProcessorCount} cores — " +
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

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
