using System.Diagnostics;
using System.Security.Cryptography;
using Engine;
using Engine.Drift;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Examples;

/// <summary>
/// A long online run for memory and checkpoint soak tests: a 32→64→4 MLP learns, sample by sample with Adam, a
/// stream labelled by a fixed random teacher (sample i is a pure function of i, so a resumed run sees the same
/// stream). Prints the device pool's figures and the live managed heap at intervals and fails (exit 1) if device
/// allocations grow after the first interval, or the live heap by more than 1 MB (<see cref="HeapWatch"/>). With <c>--checkpoint</c> it saves every <c>--save-every</c> samples and, with
/// <c>--resume</c>, continues from the file. Ends with the SHA-256 of the parameters, to compare runs.
/// </summary>
public static class SoakJob
{
    private const int Features = 32, Classes = 4;

    public static int Run(string deviceKind, long steps, long reportEvery, string? checkpoint, long saveEvery, bool resume)
    {
        using var dev = Device.Create(deviceKind);
        var (model, adam, online) = Create(dev);
        using var disposeModel = model;
        using var disposeAdam = adam;
        using var disposeOnline = online;
        online.CheckpointPath = checkpoint;
        online.CheckpointEvery = checkpoint == null ? 0 : saveEvery;
        long start = 0;
        if (resume && checkpoint != null && File.Exists(checkpoint))
        {
            start = online.LoadCheckpoint(checkpoint);
            Console.WriteLine($"resumed from {checkpoint} at sample {start:N0}");
        }
        var teacher = Teacher();
        var clock = Stopwatch.StartNew();
        long baseline = -1;
        var heap = new HeapWatch();
        Console.WriteLine($"soak on {dev}: {steps:N0} online steps, memory every {reportEvery:N0}");
        for (long i = start; i < steps; i++)
        {
            online.Learn(SampleAt(i, teacher));
            if ((i + 1) % reportEvery != 0 && i + 1 != steps) continue;
            var m = dev.Memory;
            Console.WriteLine($"step {i + 1,10:N0}  {online.SamplesPerSecond,7:F0} samples/s  window acc {online.WindowAccuracy,6:P1}  " +
                              $"device allocations {m.DeviceAllocations}  live buffers {m.LiveBuffers}  rented {m.RentedBuffers}  " +
                              $"reserved {m.ReservedBytes:N0} B, allocated {m.AllocatedBytes:N0} B  live heap {heap.Measure() / 1e6:F2} MB");
            if (heap.Failure is { } grew)
            {
                Console.WriteLine($"FAIL: {grew}");
                return 1;
            }
            if (baseline < 0) baseline = m.DeviceAllocations;
            else if (m.DeviceAllocations != baseline)
            {
                Console.WriteLine($"FAIL: device allocations grew from {baseline} to {m.DeviceAllocations}.");
                return 1;
            }
        }
        Console.WriteLine($"done: {online.Samples:N0} samples in {clock.Elapsed.TotalSeconds:F1} s, progressive accuracy " +
                          $"{online.ProgressiveAccuracy:P2}, skipped {online.SkippedSteps}");
        Console.WriteLine($"params-sha256 {Digest(model)}");
        return 0;
    }

    /// <summary>The soak's model, optimizer and trainer (tests build the same to read its checkpoints).</summary>
    public static (Sequential Model, Adam Optimizer, OnlineTrainer Trainer) Create(Device dev)
    {
        var model = new Sequential(new Linear(dev, Features, 64, seed: 1), new Relu(), new Dropout(0.1f, seed: 7),
            new Linear(dev, 64, Classes, seed: 2));
        var adam = new Adam(model.Parameters(), lr: 1e-3f);
        return (model, adam, new OnlineTrainer(model, adam, new Adwin(), DriftReaction.ResetOptimizerState, window: 1000));
    }

    /// <summary>SHA-256 of every parameter's float32 bits, in state-dict order.</summary>
    public static string Digest(Module model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (_, p) in model.NamedParameters())
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(p.ToArray().AsSpan()));
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    private static float[] Teacher()
    {
        var rng = new Random(42);
        return Enumerable.Range(0, Features * Classes).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private static Sample SampleAt(long index, float[] teacher)
    {
        var rng = new Random(unchecked((int)(index * 2654435761L)));
        var x = new float[Features];
        for (int j = 0; j < Features; j++) x[j] = (float)(rng.NextDouble() * 2 - 1);
        int best = 0;
        double bestScore = double.NegativeInfinity;
        for (int c = 0; c < Classes; c++)
        {
            double s = 0;
            for (int j = 0; j < Features; j++) s += teacher[c * Features + j] * x[j];
            if (s > bestScore) (best, bestScore) = (c, s);
        }
        return new Sample(x, best);
    }
}
