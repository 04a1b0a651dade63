using System.Diagnostics;
using Engine.Distributed;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Benchmarks;

/// <summary>
/// <c>mpirun -np N dotnet Engine.Benchmarks.dll distributed [--quick]</c>: the all-reduce's, reduce-scatter's and
/// all-gather's bandwidth on device buffers of 4 KB to 64 MB (medians of repeated in-place runs; algorithm bandwidth =
/// bytes / time, bus bandwidth as NCCL reports it), then the data-parallel step of the main recipe (784→256→10 MLP,
/// Adam, global batch 64: each rank computes 64/N rows, exchanges 203,530 gradients, steps), plain, with ZeRO-1's
/// sharded optimizer state and with ZeRO-2's sharded gradients too, against the same step's compute alone, with each
/// rank's optimizer state and gradient bytes. Rank 0 prints. Run it as one plain process (all cores, the baseline) and with -np 2
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
            Say("| floats | bytes | collective | median µs | algorithm GB/s | bus GB/s |");
            Say("|---|---|---|---|---|---|");
        }
        foreach (int n in comm.Size == 1 ? Array.Empty<int>() : quick ? new[] { 1 << 10, 1 << 20 } : new[] { 1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24 })
        {
            using var buffer = Tensor.Ones(dev, new[] { n });
            // Bus bandwidth as NCCL reports it: all-reduce moves 2(N − 1)/N of the buffer per rank, reduce-scatter and
            // all-gather (N − 1)/N each; ZeRO-1 replaces one all-reduce by one of each.
            foreach (var (name, collective, bus) in new (string, Action, double)[]
                     {
                         ("all-reduce", () => comm.AllReduce(dev, buffer.Elements, ReduceOp.Sum), 2.0 * (comm.Size - 1) / comm.Size),
                         ("reduce-scatter", () => comm.ReduceScatter(dev, buffer.Elements, ReduceOp.Sum), (comm.Size - 1.0) / comm.Size),
                         ("all-gather", () => comm.AllGather(dev, buffer.Elements), (comm.Size - 1.0) / comm.Size),
                     })
            {
                double median = MedianSeconds(comm, collective, quick);
                double bytes = 4.0 * n, algorithm = bytes / median / 1e9;
                Say($"| {n:N0} | {bytes:N0} | {name} | {median * 1e6:F1} | {algorithm:F2} | {algorithm * bus:F2} |");
            }
        }

        Say("");
        Say("data-parallel step, 784→256→10 MLP, Adam, global batch 64 (64/N rows per rank):");
        Say("| ranks | sharding | step ms | compute ms (forward, backward, step) | gradient exchange ms | samples/s | optimizer state bytes per rank | gradient bytes per rank |");
        Say("|---|---|---|---|---|---|---|---|");
        foreach (var stage in comm.Size == 1 ? new[] { ZeroStage.None } : new[] { ZeroStage.None, ZeroStage.OptimizerState, ZeroStage.Gradients })
            Say(DataParallelStep(comm, dev, stage, quick));
        return 0;
    }

    /// <summary>The median of repeated runs of <paramref name="collective"/>, every rank running the same number.</summary>
    private static double MedianSeconds(ICommunicator comm, Action collective, bool quick)
    {
        var times = new List<double>();
        var budget = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++) collective();
        var go = new double[1];
        while (true)
        {
            comm.Barrier();
            var t = Stopwatch.StartNew();
            collective();
            times.Add(t.Elapsed.TotalSeconds);
            go[0] = times.Count < 5 || (budget.Elapsed.TotalSeconds < (quick ? 0.2 : 1.0) && times.Count < 2000) ? 1 : 0;
            comm.AllReduce(go, ReduceOp.Min); // every rank runs the same number of repeats
            if (go[0] == 0) break;
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>One table row: the step of the main recipe under DDP, the optimizer state sharded or not.</summary>
    private static string DataParallelStep(ICommunicator comm, Device dev, ZeroStage stage, bool quick)
    {
        using var model = new Sequential(new Linear(dev, 784, 256, seed: 1), new Relu(), new Linear(dev, 256, 10, seed: 2));
        using var adam = new Adam(model.Parameters(), 1e-3f);
        var ddp = new DistributedDataParallel(model, adam, comm, stage);
        int rows = 64 / comm.Size;
        var rng = new Random(comm.Rank);
        using var x = Tensor.FromArray(dev, Enumerable.Range(0, rows * 784).Select(_ => (float)rng.NextDouble()).ToArray(), new[] { rows, 784 });
        var labels = Enumerable.Range(0, rows).Select(i => i % 10).ToArray();
        int steps = quick ? 30 : 400;
        double compute = 0, exchange = 0;
        var total = Stopwatch.StartNew();
        for (int s = 0; s < steps + 10; s++)
        {
            if (s == 10)
            {
                comm.Barrier();
                (compute, exchange) = (0, 0);
                total.Restart();
            }
            var t = Stopwatch.StartNew();
            using (var scope = new DisposeScope())
                Loss.CrossEntropy(model.Forward(x), labels).Backward();
            dev.Synchronize();
            double c = t.Elapsed.TotalSeconds;
            ddp.AverageGradients();
            double r = t.Elapsed.TotalSeconds - c;
            ddp.OptimizerStep(); // under ZeRO: the shard's step and the parameters' all-gather (ZeRO-2 reduced during backward)
            adam.ZeroGrad();
            dev.Synchronize();
            compute += t.Elapsed.TotalSeconds - r;
            exchange += r;
        }
        double step = total.Elapsed.TotalSeconds / steps;
        string sharding = stage switch
        {
            ZeroStage.None => "none (all-reduce)",
            ZeroStage.OptimizerState => "ZeRO-1 (all-reduce, shard step, all-gather)",
            _ => "ZeRO-2 (bucketed all-reduce in backward, shard kept; shard step, all-gather)",
        };
        return $"| {comm.Size} | {sharding} | {step * 1e3:F3} | {compute / steps * 1e3:F3} | {exchange / steps * 1e3:F3} | " +
               $"{64 / step:F0} | {ddp.OptimizerStateBytes:N0} | {ddp.GradientBytes:N0} |";
    }
}
