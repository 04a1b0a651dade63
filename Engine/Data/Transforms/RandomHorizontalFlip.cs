namespace Engine.Data.Transforms;

/// <summary>
/// Mirrors an image [C, H, W] left to right with probability p (torchvision's <c>RandomHorizontalFlip(p = 0.5)</c>):
/// draws u uniform in [0, 1) and, when u &lt; p, out[c, y, x] = in[c, y, W − 1 − x]; otherwise copies. Off unless
/// added: it suits natural images (CIFAR), not digits, whose mirror image is often another glyph.
/// </summary>
public sealed class RandomHorizontalFlip : Transform
{
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="p"/> outside [0, 1].</exception>
    public RandomHorizontalFlip(double p = 0.5)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"RandomHorizontalFlip: p must be in [0, 1], got {p}.");
        P = p;
    }

    /// <summary>The probability of a flip.</summary>
    public double P { get; }

    /// <summary>The same shape.</summary>
    public override int[] OutputShape(int[] sampleShape)
    {
        ImageShape(sampleShape);
        return (int[])sampleShape.Clone();
    }

    protected override void ApplyCore(ReadOnlySpan<float> sample, int[] sampleShape, Span<float> output, ref SampleRandom random)
    {
        if (!(random.NextDouble() < P))
        {
            sample.CopyTo(output);
            return;
        }
        int w = sampleShape[2];
        for (int start = 0; start < sample.Length; start += w)
            for (int x = 0; x < w; x++) output[start + x] = sample[start + w - 1 - x];
    }
}
