using System.Diagnostics;
using Engine.Distributed;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Benchmarks;

/// <summary>
/// <c>mpirun -np N dotnet Engine.Benchmarks.dll distributed [--quick]</c>: the all-reduce's bandwidth on device
/// buffers of 4 KB to 64 MB (median of repeated in-place sums; algorithm bandwidth = bytes / time, bus bandwidth =
/// algorithm bandwidth × 2(N − 1)/N as NCCL reports it), then the data-parallel step of the main recipe (784→256→10
/// MLP, Adam, global batch 64: each rank computes 64/N rows, all-reduces 203,530 gradients, steps) against the same
/// step's compute alone. Rank 0 prints. Run it as one plain process (all cores, the baseline) and with -np 2
/// (<c>Engine.Benchmarks/mpi/run.sh</c>).
/// </summary>
public static class DistributedBenchmark
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        using var comm = Communicator.FromEnvironment();
        if (comm.Size > 1) Device.NumThreads = Math.Max(1, Environment.ProcessorCount / Communicator.LocalSize);
        using var dev = Device.Create("cpu");
        void Say(string line)
        {
            if (comm.Rank == 0) Console.WriteLine(line);
        }
        Say($"{comm.Description}; device {dev}; {(quick ? "quick" : "full")} run");
        if (comm.Size > 1)
        {
            Say("| floats | bytes | all-reduce median µs | algorithm GB/s | bus GB/s |");
            Say("|---|---|---|---|---|");
        }
        foreach (int n in comm.Size == 1 ? Array.Empty<int>() : quick ? new[] { 1 << 10, 1 << 20 } : new[] { 1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24 })
        {
            using var buffer = Tensor.Ones(dev, new[] { n });
            var times = new List<double>();
            var budget = Stopwatch.StartNew();
            for (int i = 0; i < 3; i++) comm.AllReduce(dev, buffer.Elements, ReduceOp.Sum);
            var go = new double[1];
            while (true)
            {
                comm.Barrier();
                var t = Stopwatch.StartNew();
                comm.AllReduce(dev, buffer.Elements, ReduceOp.Sum);
                times.Add(t.Elapsed.TotalSeconds);
                go[0] = times.Count < 5 || (budget.Elapsed.TotalSeconds < (quick ? 0.2 : 1.0) && times.Count < 2000) ? 1 : 0;
                comm.AllReduce(go, ReduceOp.Min); // every rank runs the same number of repeats
                if (go[0] == 0) break;
            }
            times.Sort();
            double median = times[times.Count / 2], bytes = 4.0 * n, algorithm = bytes / median / 1e9;
            Say($"| {n:N0} | {bytes:N0} | {median * 1e6:F1} | {algorithm:F2} | {algorithm * 2 * (comm.Size - 1) / comm.Size:F2} |");
        }

        using var model = new Sequential(new Linear(dev, 784, 256, seed: 1), new Relu(), new Linear(dev, 256, 10, seed: 2));
        using var adam = new Adam(model.Parameters(), 1e-3f);
        var ddp = new DistributedDataParallel(model, adam, comm);
        int rows = 64 / comm.Size;
        var rng = new Random(comm.Rank);
        using var x = Tensor.FromArray(dev, Enumerable.Range(0, rows * 784).Select(_ => (float)rng.NextDouble()).ToArray(), new[] { rows, 784 });
        var labels = Enumerable.Range(0, rows).Select(i => i % 10).ToArray();
        int steps = quick ? 30 : 400;
        double compute = 0, reduce = 0;
        var total = Stopwatch.StartNew();
        for (int s = 0; s < steps + 10; s++)
        {
            if (s == 10)
            {
                comm.Barrier();
                (compute, reduce) = (0, 0);
                total.Restart();
            }
            var t = Stopwatch.StartNew();
            using (var scope = new DisposeScope())
                Loss.CrossEntropy(model.Forward(x), labels).Backward();
            dev.Synchronize();
            double c = t.Elapsed.TotalSeconds;
            ddp.AverageGradients();
            double r = t.Elapsed.TotalSeconds - c;
            adam.Step();
            adam.ZeroGrad();
            dev.Synchronize();
            compute += t.Elapsed.TotalSeconds - r;
            reduce += r;
        }
        double step = total.Elapsed.TotalSeconds / steps;
        Say("");
        Say($"data-parallel step, 784→256→10 MLP, Adam, global batch 64 ({rows} rows per rank, {adam.TotalElements:N0} gradients all-reduced):");
        Say($"| ranks | step ms | compute ms (forward, backward, step) | all-reduce ms | samples/s |");
        Say("|---|---|---|---|---|");
        Say($"| {comm.Size} | {step * 1e3:F3} | {compute / steps * 1e3:F3} | {reduce / steps * 1e3:F3} | {64 / step:F0} |");
        return 0;
    }
}
