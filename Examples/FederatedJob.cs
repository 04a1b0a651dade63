using System.Globalization;
using Engine;
using Engine.Data;
using Engine.Distributed;
using Engine.Optim;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>
/// Federated averaging on the bundled MNIST subset: each rank of <c>mpirun -np N</c> is a client holding its own part
/// of the training set (IID: a random N-th; non-IID: McMahan et al.'s split, the rows sorted by digit and cut into 2N
/// shards, two per client, so each client sees mostly a few digits), trains E local epochs per round from the global
/// model, and the global model is the sample-weighted mean of the clients'. Rank 0 prints the global model's test
/// accuracy per round and plots it. Run without mpirun it is one client: plain local training.
/// </summary>
public static class FederatedJob
{
    public static int Run(string deviceKind, string? dataDir, string outDir, int rounds, int localEpochs, int batchSize,
        float lr, bool nonIid, int seed, double? noiseMultiplier = null, double maxUpdateNorm = 1.0,
        double? clientsPerRound = null) => DistributedRun.Run(comm =>
    {
        var privacy = noiseMultiplier is { } sigma
            ? new Engine.Privacy.FederatedPrivacy(sigma, maxUpdateNorm, clientsPerRound ?? comm.Size, seed)
            : null;
        using var dev = Device.Create(deviceKind);
        var (train, test) = MnistJob.Load(dataDir);
        var mine = train.Subset(ClientRows(train, comm.Rank, comm.Size, nonIid, seed));
        var digits = mine.Labels!.GroupBy(l => l).OrderByDescending(g => g.Count()).Take(3)
            .Select(g => $"{g.Key} ({100.0 * g.Count() / mine.Count:F0} %)");
        var counts = new double[comm.Size];
        counts[comm.Rank] = mine.Count;
        comm.AllReduce(counts, ReduceOp.Sum);
        if (comm.Rank == 0)
            Console.WriteLine($"device: {dev}; {comm.Size} client(s), {(nonIid ? "non-IID" : "IID")} split of {train.Count} rows " +
                              $"({string.Join(", ", counts.Select(c => c.ToString(CultureInfo.InvariantCulture)))}); " +
                              $"SGD {lr}, E = {localEpochs}, B = {batchSize}, {rounds} rounds");
        Console.Out.Flush();
        comm.Barrier();
        Console.WriteLine($"  client {comm.Rank}: {mine.Count} rows, most common digits {string.Join(", ", digits)}");
        Console.Out.Flush();
        comm.Barrier();
        using var model = MnistJob.Mlp(dev, seed);
        using var sgd = new Sgd(model.Parameters(), lr);
        var table = new Table().AddColumns("round", "global test accuracy", "global test loss", "samples trained", "seconds");
        var curve = new List<(double, double)>();
        FederatedAveraging.Run(comm, model, sgd, Trainer.CrossEntropy, mine,
            new FederatedOptions { Rounds = rounds, LocalEpochs = localEpochs, BatchSize = batchSize, Seed = seed, Privacy = privacy },
            evaluate: m => comm.Rank == 0 ? Trainer.Evaluate(m, Trainer.CrossEntropy, test, dev) : (0, null),
            onRound: r =>
            {
                if (comm.Rank != 0) return;
                table.AddRow(r.Round.ToString(CultureInfo.InvariantCulture), $"{r.GlobalAccuracy:P2}", $"{r.GlobalLoss:F4}",
                    r.Samples.ToString(CultureInfo.InvariantCulture), $"{r.Seconds:F1}");
                curve.Add((r.Round, r.GlobalAccuracy!.Value));
                if (!Report.Interactive)
                    Console.WriteLine($"  round {r.Round}: global test accuracy {r.GlobalAccuracy:P2}" +
                                      (r.Epsilon is { } eps ? $", {r.Participants} client(s), ε = {eps:F2} at δ = {FederatedAveraging.Delta}" : ""));
            });
        if (comm.Rank != 0) return 0;
        AnsiConsole.Write(table);
        Directory.CreateDirectory(outDir);
        string plot = Path.Combine(outDir, $"federated-{(nonIid ? "non-iid" : "iid")}.svg");
        File.WriteAllText(plot, SvgPlot.Panels(($"FedAvg, {comm.Size} client(s), {(nonIid ? "non-IID" : "IID")}", "round",
            new[] { ("global model, test accuracy", (IReadOnlyList<(double, double)>)curve) })));
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    });

    /// <summary>
    /// The rows of client <paramref name="rank"/> of <paramref name="clients"/>: IID, a contiguous N-th of a seeded
    /// permutation; non-IID, the rows sorted by label (ties by a seeded order), cut into 2N shards and two shards
    /// (chosen by a seeded shuffle) per client.
    /// </summary>
    public static int[] ClientRows(Dataset data, int rank, int clients, bool nonIid, int seed)
    {
        var order = Dataset.Permutation(data.Count, seed);
        if (!nonIid)
            return order[(int)((long)data.Count * rank / clients)..(int)((long)data.Count * (rank + 1) / clients)];
        var sorted = order.OrderBy(i => data.Labels![i]).ToArray();
        int shards = 2 * clients;
        var assignment = Dataset.Permutation(shards, seed + 1);
        return new[] { assignment[2 * rank], assignment[2 * rank + 1] }
            .SelectMany(s => sorted[(int)((long)data.Count * s / shards)..(int)((long)data.Count * (s + 1) / shards)]).ToArray();
    }
}
