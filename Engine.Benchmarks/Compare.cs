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
/// why it is not the default (<c>--no-ilgpu</c> leaves it out). The copy kernel's GB/s and sgemm's GFLOP/s are the
/// ceilings (memory bandwidth, best matmul). Full runs write the table as markdown and JSON into
/// <c>Engine.Benchmarks/results/</c>.
/// </summary>
public static class Compare
{
    private sealed record Row(string Workload, string Unit, double EngineMs, double EngineRate, double? TorchMs,
        double? TorchRate, double? Torch1Rate, double? TorchAllRate, double? IlgpuRate);

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        string kind = Option(args, "--device") ?? Environment.GetEnvironmentVariable(Device.EnvironmentVariable) ?? "auto";
        string outFolder = Option(args, "--out") ?? Path.Combine(RepositoryRoot(), "Engine.Benchmarks", "results");
        using var device = Device.Create(kind);
        bool gpu = device.Kind is "cuda" or "opencl";
        string torchDevice = device.Kind == "cuda" ? "cuda" : "cpu";
        Console.WriteLine($"compare on {device}{(quick ? " (quick: tiny sizes, one step)" : "")}");

        var only = Option(args, "--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var engine = TimeEngine(device, gpu, quick, only);
        Dictionary<string, double>? ilgpu = null;
        if (device.Kind == "cpu" && !args.Contains("--no-ilgpu"))
        {
            using var simulator = Device.Create("ilgpu-cpu");
            Console.WriteLine($"  and on {simulator}, for the ILGPU CPU accelerator column");
            ilgpu = TimeEngine(simulator, gpu, quick, only).ToDictionary(e => e.Name, e => e.Work / e.Seconds / Scale(e.Unit));
        }

        var names = engine.Select(e => Workload.TorchName(e.Name)).Distinct().ToList();
        JsonNode? torch1 = null, torchAll;
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
            double rate = e.Work / e.Seconds / Scale(e.Unit);
            var one = Result(torch1, Workload.TorchName(e.Name));
            var all = Result(torchAll, Workload.TorchName(e.Name));
            var best = new[] { one, all }.Where(r => r != null).OrderByDescending(r => (double)r!["rate"]!).FirstOrDefault();
            return new Row(e.Name, e.Unit, e.Seconds * 1e3, rate, (double?)best?["ms_per_step"], (double?)best?["rate"],
                (double?)one?["rate"], (double?)all?["rate"], ilgpu?.GetValueOrDefault(e.Name));
        }).ToList();

        string machine = MachineDescription(device, torchAll ?? torch1);
        string table = Markdown(rows, machine, torch1 != null, ilgpu != null);
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
                ["load"] = LoadAverage(),
                ["dotnet"] = RuntimeInformation.FrameworkDescription,
                ["ilgpu"] = typeof(ILGPU.Context).Assembly.GetName().Version?.ToString(),
                ["torch_1_thread"] = torch1?.DeepClone(),
                ["torch"] = torchAll?.DeepClone(),
                ["rows"] = JsonSerializer.SerializeToNode(rows),
            };
            File.WriteAllText(stem + ".json", json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {stem}.md and {stem}.json");
        }
        return 0;
    }

    private static double Scale(string unit) => unit == "samples/s" ? 1 : 1e9;

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

    /// <summary>The 1-minute load average when the run started (other jobs share the cores).</summary>
    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "unknown";
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

    private static string Markdown(List<Row> rows, string machine, bool twoTorchRuns, bool ilgpu)
    {
        static string F(double? v) => v is double d ? d.ToString(d >= 100 ? "F0" : d >= 1 ? "F2" : "F4", CultureInfo.InvariantCulture) : "–";
        var b = new StringBuilder();
        b.AppendLine(machine).AppendLine();
        b.Append("| workload | unit | this engine |");
        if (twoTorchRuns) b.Append(" PyTorch 1 thread | PyTorch all cores |");
        else b.Append(" PyTorch |");
        b.Append(" engine / PyTorch |");
        if (ilgpu) b.Append(" ILGPU CPU accelerator |");
        b.AppendLine(" engine ms/step | PyTorch ms/step |");
        int columns = 7 + (twoTorchRuns ? 1 : 0) + (ilgpu ? 1 : 0);
        b.AppendLine("|---|---|" + string.Concat(Enumerable.Repeat("---:|", columns - 2)));
        foreach (var r in rows)
        {
            b.Append($"| {r.Workload} | {r.Unit} | {F(r.EngineRate)} |");
            if (twoTorchRuns) b.Append($" {F(r.Torch1Rate)} | {F(r.TorchAllRate)} |");
            else b.Append($" {F(r.TorchRate)} |");
            b.Append($" {(r.TorchRate is double t ? (r.EngineRate / t).ToString("F3", CultureInfo.InvariantCulture) + "×" : "–")} |");
            if (ilgpu) b.Append($" {F(r.IlgpuRate)} |");
            b.AppendLine($" {F(r.EngineMs)} | {F(r.TorchMs)} |");
        }
        b.AppendLine();
        b.AppendLine("Rates: higher is better; the ratio is engine ÷ PyTorch" +
                     (twoTorchRuns ? "'s better figure of its two runs" : "") + ". Ceilings: `copy` is the memory bandwidth " +
                     "each side reaches with a copy kernel, `sgemm` the best matmul each has at that size." +
                     (ilgpu ? " The ILGPU CPU accelerator column is the same engine on `ilgpu-cpu`, ILGPU's GPU simulator." : ""));
        return b.ToString();
    }

    private static string MachineDescription(Device device, JsonNode? torch)
    {
        string torchPart = torch == null ? "PyTorch: not available"
            : $"PyTorch {torch["torch"]} (BLAS: " +
              $"{string.Join(", ", torch["blas"]!.AsArray().Select(x => Path.GetFileName((string)x!)))}" +
              (torch["openblas_core"] is { } core ? $", OpenBLAS core {core}" : "") + $"; device {torch["device_name"]})";
        return $"Measured {DateTime.UtcNow:yyyy-MM-dd} on {device} — CPU: {CpuModel()}, {Environment.ProcessorCount} cores, " +
               $"load average {LoadAverage()} at the start — " +
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
