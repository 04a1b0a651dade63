using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Benchmarks.Ptx;

/// <summary>
/// <c>dotnet run --project Engine.Benchmarks -c Release -- ptx --out DIR [--tools DIR] [--min-ffma-share F]
/// [--min-ffma-per-shared-load N]</c>: compiles every kernel
/// instantiation the engine can launch (<see cref="KernelCatalog"/>) to PTX for sm_90 with ILGPU's PTX backend and no
/// GPU, assembles each with <c>ptxas -arch=sm_90 -v</c> (registers, spills, local and shared memory), disassembles the
/// matrix-product kernels with <c>cuobjdump -sass</c> and measures their hot loop (<see cref="SassLoop"/>), then writes
/// <c>DIR/ptx-report.json</c> and prints a table. Exit 1 when a kernel does not compile or assemble, or spills, or (with
/// <c>--min-ffma-share F</c>, <c>--min-ffma-per-shared-load N</c>) when the GPU matmul's hot loop falls short. The
/// NVIDIA tools come from Debian 12's non-free <c>nvidia-cuda-toolkit</c> (CUDA 11.8: PTX ISA ≤ 7.8, which is what
/// is generated here); <c>.ci/cuda-tools</c> fetches the three binaries.
/// </summary>
public static class PtxCommand
{
    private static readonly CudaArchitecture Arch = CudaArchitecture.SM_90;

    public sealed record KernelReport(string Name, int Registers, int SpillBytes, int LocalBytes, int SharedBytes, string? Error);

    public sealed record MatMulReport(string Kernel, int InnerLoopInstructions, double InnerLoopFfmaShare, double FfmaPerSharedLoad,
        int InnerLoopFfma, int InnerLoopSharedLoads);

    public static int Run(string[] args)
    {
        string output = Option(args, "--out") ?? "ptx-out";
        string tools = Option(args, "--tools") ?? Environment.GetEnvironmentVariable("ENGINE_CUDA_TOOLS") ?? "/opt/engine-cuda-tools/bin";
        string ptxas = Tool(tools, "ptxas"), cuobjdump = Tool(tools, "cuobjdump");
        string work = Path.Combine(output, "ptx");
        Directory.CreateDirectory(work);

        using var context = Context.Create(b => b.Cuda().EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(Arch), Arch, CudaInstructionSet.ISA_78, nvvmAPI: null);
        var kernels = KernelCatalog.All();
        var reports = new List<KernelReport>();
        var matmuls = new List<MatMulReport>();
        foreach (var (kernel, index) in kernels.Select((k, i) => (k, i)))
        {
            string name = KernelCatalog.NameOf(kernel);
            string file = Path.Combine(work, $"{index:D3}-{Regex.Replace(name, "[^A-Za-z0-9]+", "_").Trim('_')}");
            string ptx;
            try
            {
                var compiled = backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
                ptx = ((PTXCompiledKernel)compiled).PTXAssembly;
            }
            catch (Exception e)
            {
                reports.Add(new KernelReport(name, 0, 0, 0, 0, $"PTX compile: {e.GetType().Name}: {e.Message}"));
                continue;
            }
            File.WriteAllText(file + ".ptx", ptx);
            var (code, log) = Exec(ptxas, "-arch=sm_90", "-v", "-o", file + ".cubin", file + ".ptx");
            File.WriteAllText(file + ".ptxas.txt", log);
            if (code != 0)
            {
                reports.Add(new KernelReport(name, 0, 0, 0, 0, $"ptxas exit {code}: {log.Trim()}"));
                continue;
            }
            int Number(string pattern) => Regex.Match(log, pattern) is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            reports.Add(new KernelReport(name, Number(@"Used (\d+) registers"),
                Number(@"(\d+) bytes spill stores") + Number(@"(\d+) bytes spill loads"), Number(@"(\d+) bytes stack frame"),
                Number(@"(\d+) bytes smem"), null));
            if (kernel.DeclaringType!.Name != "MatMulKernels") continue;
            var (_, sass) = Exec(cuobjdump, "-sass", file + ".cubin");
            File.WriteAllText(file + ".sass", sass);
            if (SassLoop.Find(sass) is { } loop)
                matmuls.Add(new MatMulReport(name, loop.Instructions, Math.Round(loop.FfmaShare, 4), Math.Round(loop.FfmaPerSharedLoad, 3),
                    loop.Ffma, loop.SharedLoads));
        }

        // The kernel launched on GPUs is the register-blocked one; "matmul" reports its worst layout.
        var gpu = matmuls.Where(m => m.Kernel.StartsWith("MatMulKernels.RegisterBlocked", StringComparison.Ordinal)).ToList();
        var headline = (gpu.Count > 0 ? gpu : matmuls).OrderBy(m => m.InnerLoopFfmaShare).FirstOrDefault();
        var report = new Dictionary<string, object?>
        {
            ["arch"] = "sm_90",
            ["ptxIsa"] = "7.8",
            ["kernels"] = reports.Select(r => new Dictionary<string, object?>
            {
                ["name"] = r.Name, ["registers"] = r.Registers, ["spillBytes"] = r.SpillBytes, ["localBytes"] = r.LocalBytes,
                ["sharedBytes"] = r.SharedBytes, ["error"] = r.Error,
            }).ToList(),
            ["matmul"] = headline == null ? null : MatMulJson(headline),
            ["matmulKernels"] = matmuls.Select(MatMulJson).ToList(),
        };
        File.WriteAllText(Path.Combine(output, "ptx-report.json"),
            JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));

        Console.WriteLine($"{reports.Count} kernel instantiations compiled for sm_90 (PTX ISA 7.8) and assembled with {Version(ptxas)}");
        Console.WriteLine("| kernel | registers | spill bytes | local bytes | shared bytes |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var r in reports)
            Console.WriteLine(r.Error == null
                ? $"| {r.Name} | {r.Registers} | {r.SpillBytes} | {r.LocalBytes} | {r.SharedBytes} |"
                : $"| {r.Name} | FAILED: {r.Error.Split('\n')[0]} | | | |");
        Console.WriteLine();
        Console.WriteLine("| matrix-product kernel | hot-loop instructions | FFMA | FFMA share | shared loads | FFMA per shared load |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var m in matmuls)
            Console.WriteLine($"| {m.Kernel} | {m.InnerLoopInstructions} | {m.InnerLoopFfma} | {m.InnerLoopFfmaShare:F3} | {m.InnerLoopSharedLoads} | {m.FfmaPerSharedLoad:F2} |");
        Console.WriteLine($"report: {Path.GetFullPath(Path.Combine(output, "ptx-report.json"))}");

        var failed = reports.Where(r => r.Error != null).ToList();
        var spilled = reports.Where(r => r.SpillBytes > 0).ToList();
        foreach (var r in failed) Console.Error.WriteLine($"!! {r.Name} did not compile: {r.Error}");
        foreach (var r in spilled) Console.Error.WriteLine($"!! {r.Name} spills {r.SpillBytes} bytes");
        int short_ = 0;
        if (double.TryParse(Option(args, "--min-ffma-share"), CultureInfo.InvariantCulture, out double minShare) &&
            !(headline?.InnerLoopFfmaShare >= minShare))
        {
            Console.Error.WriteLine($"!! the GPU matmul's hot loop is {headline?.InnerLoopFfmaShare:F3} FFMA, under --min-ffma-share {minShare}");
            short_++;
        }
        if (double.TryParse(Option(args, "--min-ffma-per-shared-load"), CultureInfo.InvariantCulture, out double minPerLoad) &&
            !(headline?.FfmaPerSharedLoad >= minPerLoad))
        {
            Console.Error.WriteLine($"!! the GPU matmul does {headline?.FfmaPerSharedLoad:F2} FFMA per shared load, under --min-ffma-per-shared-load {minPerLoad}");
            short_++;
        }
        return failed.Count + spilled.Count + short_ == 0 ? 0 : 1;
    }

    private static Dictionary<string, object> MatMulJson(MatMulReport m) => new()
    {
        ["kernel"] = m.Kernel, ["innerLoopInstructions"] = m.InnerLoopInstructions, ["innerLoopFfmaShare"] = m.InnerLoopFfmaShare,
        ["ffmaPerSharedLoad"] = m.FfmaPerSharedLoad, ["innerLoopFfma"] = m.InnerLoopFfma, ["innerLoopSharedLoads"] = m.InnerLoopSharedLoads,
    };

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static string Tool(string folder, string name)
    {
        string local = Path.Combine(folder, name);
        if (File.Exists(local)) return local;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        throw new FileNotFoundException($"ptx: {name} not found in {folder} or on PATH; fetch it with 'bash .ci/cuda-tools' " +
                                        "(Debian 12 non-free nvidia-cuda-toolkit) or pass --tools DIR.");
    }

    private static string Version(string ptxas) => Exec(ptxas, "--version").Output.Split('\n')
        .FirstOrDefault(l => l.Contains("release", StringComparison.Ordinal))?.Trim() ?? "ptxas";

    private static (int Code, string Output) Exec(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }
}
