using Engine.Kernels;

namespace Engine.Benchmarks;

/// <summary>
/// STREAM's four loops (McCalpin) on the engine's own device buffers, through its own kernels: copy c = a, scale
/// b = s·c, add c = a + b, triad a = a + s·b (in place: the same three streams of 4-byte floats as STREAM's). Bytes per
/// element: 8, 8, 12, 12. Measured past the caches (three arrays of 32 M floats, 384 MB) for the ceiling every
/// memory-bound row is judged against, and at an L2-resident size (three arrays of 16 K floats) for reference.
/// </summary>
public static class BandwidthCeiling
{
    public sealed record Result(int Floats, double CopyGBs, double ScaleGBs, double AddGBs, double TriadGBs)
    {
        /// <summary>The best of the four: what the memory system gave the engine's best loop.</summary>
        public double Best => Math.Max(Math.Max(CopyGBs, ScaleGBs), Math.Max(AddGBs, TriadGBs));
    }

    public const int PastTheCaches = 32 << 20, L2Resident = 16 << 10;

    public static Result Measure(Device device, int n, Func<Action, Action, double> secondsPerStep)
    {
        using var scope = new DisposeScope();
        var a = Tensor.Full(device, new[] { n }, 1f);
        var b = Tensor.Full(device, new[] { n }, 2f);
        var c = Tensor.Zeros(device, new[] { n });
        var k = device.Kernels;
        var same = new BroadcastMap(1, n);
        double Rate(double bytes, Action step) => bytes * n / secondsPerStep(step, device.Synchronize) / 1e9;
        return new Result(n,
            Rate(8, () => k.Unary<AffineOp>(a.Elements, c.Elements, 1f, 0f)),
            Rate(8, () => k.Unary<AffineOp>(c.Elements, b.Elements, 3f, 0f)),
            Rate(12, () => k.Binary<AddOp>(a.Elements, same, b.Elements, same, c.Elements)),
            Rate(12, () => k.Accumulate(b.Elements, a.Elements, 3f)));
    }
}
