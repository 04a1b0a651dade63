using System.Diagnostics;

namespace Examples.Serving;

/// <summary>Events per second over the last <c>window</c> seconds, from a running total sampled once a second.</summary>
public sealed class RateMeter(double window = 10)
{
    private readonly Queue<(double Time, long Total)> marks = new();
    private readonly Stopwatch clock = Stopwatch.StartNew();

    /// <summary>Records the running total now; returns the rate over the window (0 until two marks exist).</summary>
    public double Observe(long total)
    {
        double now = clock.Elapsed.TotalSeconds;
        if (marks.Count == 0 || now - marks.Last().Time >= 0.25) marks.Enqueue((now, total));
        while (marks.Count > 2 && now - marks.Peek().Time > window) marks.Dequeue();
        var (t0, n0) = marks.Peek();
        return now - t0 < 1e-3 ? 0 : (total - n0) / (now - t0);
    }
}
