using BenchmarkDotNet.Running;
using Engine.Benchmarks;

// dotnet run --project Engine.Benchmarks -c Release -- [--quick] [BenchmarkDotNet options, e.g. --filter '*MatMul*']
// dotnet run --project Engine.Benchmarks -c Release -- compare [--quick] [--device cpu|cuda|opencl|ilgpu-cpu] [--no-ilgpu] [--only W,W] [--out DIR]
if (args.FirstOrDefault() == "compare") return Compare.Run(args[1..]);
EngineConfig.Quick = args.Contains("--quick");
var rest = args.Where(a => a != "--quick").ToArray();
if (EngineConfig.Quick && !rest.Contains("--filter")) rest = rest.Concat(new[] { "--filter", "*" }).ToArray();
var summaries = BenchmarkSwitcher.FromAssembly(typeof(MatMulBenchmark).Assembly).Run(rest);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
