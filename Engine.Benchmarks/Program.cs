using BenchmarkDotNet.Running;
using Engine.Benchmarks;

// dotnet run --project Engine.Benchmarks -c Release -- [--quick] [BenchmarkDotNet options, e.g. --filter '*MatMul*']
// dotnet run --project Engine.Benchmarks -c Release -- compare [--quick] [--device cpu|cuda|opencl|ilgpu-cpu] [--no-ilgpu] [--only W,W] [--rounds N] [--plot] [--out DIR]
// mpirun -np N dotnet Engine.Benchmarks/bin/Release/net10.0/Engine.Benchmarks.dll distributed [--quick]
if (args.FirstOrDefault() == "compare") return Compare.Run(args[1..]);
if (args.FirstOrDefault() == "distributed") return DistributedBenchmark.Run(args[1..]);
// dotnet run --project Engine.Benchmarks -c Release -- memory [--quick] [--rounds N] [--device D] [--out DIR]
if (args.FirstOrDefault() == "memory") return MemoryBenchmark.Run(args[1..]);
// dotnet run --project Engine.Benchmarks -c Release -- pruning [--quick] [--rounds N] [--device D] [--out DIR]
if (args.FirstOrDefault() == "pruning") return PruningBenchmark.Run(args[1..]);
// dotnet run --project Engine.Benchmarks -c Release -- privacy [--quick] [--rounds N] [--batch B] [--device D] [--out DIR]
if (args.FirstOrDefault() == "privacy") return PrivacyBenchmark.Run(args[1..]);
// dotnet run --project Engine.Benchmarks -c Release -- ptx --out DIR [--tools DIR]
if (args.FirstOrDefault() == "ptx") return Engine.Benchmarks.Ptx.PtxCommand.Run(args[1..]);
EngineConfig.Quick = args.Contains("--quick");
var rest = args.Where(a => a != "--quick").ToArray();
if (EngineConfig.Quick && !rest.Contains("--filter")) rest = rest.Concat(new[] { "--filter", "*" }).ToArray();
var summaries = BenchmarkSwitcher.FromAssembly(typeof(MatMulBenchmark).Assembly).Run(rest);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
