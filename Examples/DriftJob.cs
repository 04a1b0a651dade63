using Engine;
using Engine.Drift;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Examples;

/// <summary>
/// A stream of 2-D points labelled by the side of a line; halfway the concept flips (labels swap). Page-Hinkley on
/// the loss detects it, the optimizer state is reset, and the windowed accuracy recovers.
/// </summary>
public static class DriftJob
{
    public static int Run(string deviceKind, string outDir = "out")
    {
        using var dev = Device.Create(deviceKind);
        using var model = new Sequential(new Linear(dev, 2, 16, seed: 1), new Tanh(), new Linear(dev, 16, 2, seed: 2));
        using var adam = new Adam(model.Parameters(), lr: 0.01f);
        using var online = new OnlineTrainer(model, adam, new PageHinkley(threshold: 20), DriftReaction.ResetOptimizerState, window: 200);
        online.DriftDetected += d => Console.WriteLine(
            $"  drift detected by {d.Detector} at sample {d.Sample}: reaction {DriftReaction.ResetOptimizerState} " +
            $"(Adam's moments and step count cleared, so it adapts at its full step size)");
        var rng = new Random(3);
        const int total = 6000, change = 3000;
        var accuracy = new List<(double, double)>();
        for (int i = 0; i < total; i++)
        {
            float a = (float)(rng.NextDouble() * 2 - 1), b = (float)(rng.NextDouble() * 2 - 1);
            int label = a - b > 0 ? 1 : 0;
            if (i >= change) label = 1 - label;
            online.Learn(new Sample(new[] { a, b }, label));
            if ((i + 1) % 50 == 0) accuracy.Add((i + 1, online.WindowAccuracy));
            // Every 500 samples, and every 100 around the change, where the window accuracy dips and recovers.
            bool nearChange = i + 1 > change - 200 && i + 1 <= change + 1000;
            if ((i + 1) % 500 == 0 || (nearChange && (i + 1) % 100 == 0))
                Console.WriteLine($"sample {i + 1,5}{(i + 1 == change ? " (concept changes now)" : "")}: window accuracy " +
                                  $"{online.WindowAccuracy:P1}, window loss {online.WindowLoss:F3}");
        }
        Console.WriteLine($"change planted at sample {change}; detections: {string.Join(", ", online.Drifts.Select(d => d.Sample))}; " +
                          $"{online.SamplesPerSecond:F0} samples/s");
        Directory.CreateDirectory(outDir);
        string plot = Path.Combine(outDir, "drift.svg");
        var markers = new[] { new SvgPlot.Marker(change, "concept changes") }
            .Concat(online.Drifts.Select(d => new SvgPlot.Marker(d.Sample, $"{d.Detector} detects, state reset"))).ToArray();
        File.WriteAllText(plot, SvgPlot.Panels(("window accuracy (200 samples)", "samples seen",
            new[] { ("online, predict then learn", (IReadOnlyList<(double, double)>)accuracy) }, markers)));
        Console.WriteLine($"plot: {Path.GetFullPath(plot)}");
        return 0;
    }
}
