namespace Engine.Data.Transforms;

/// <summary>
/// Per-channel standardisation of an image [C, H, W] (torchvision's <c>Normalize</c>):
/// out[c, y, x] = (in[c, y, x] − mean[c]) / std[c]. One mean and std per channel, or a single pair for every
/// channel. Draws no randomness, so it is also the transform for evaluation (MNIST: mean 0.1307, std 0.3081).
/// </summary>
public sealed class Normalize : Transform
{
    private readonly float[] mean, std;

    /// <exception cref="ArgumentException">The lengths differ or are 0, a mean is not finite, or a std is not finite
    /// and &gt; 0.</exception>
    public Normalize(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new ArgumentException($"Normalize: needs one std per mean, at least one of each; got {mean.Length} means and {std.Length} stds.");
        for (int c = 0; c < mean.Length; c++)
        {
            if (!float.IsFinite(mean[c])) throw new ArgumentException($"Normalize: mean[{c}] is {mean[c]}; it must be finite.", nameof(mean));
            if (!(std[c] > 0) || !float.IsFinite(std[c]))
                throw new ArgumentException($"Normalize: std[{c}] is {std[c]}; it must be finite and > 0 (it divides).", nameof(std));
        }
        this.mean = (float[])mean.Clone();
        this.std = (float[])std.Clone();
    }

    /// <summary>The per-channel means (a copy).</summary>
    public float[] Mean => (float[])mean.Clone();

    /// <summary>The per-channel standard deviations (a copy).</summary>
    public float[] Std => (float[])std.Clone();

    /// <summary>The same shape; an image with C channels needs C means (or 1).</summary>
    public override int[] OutputShape(int[] sampleShape)
    {
        var (c, _, _) = ImageShape(sampleShape);
        if (mean.Length != 1 && mean.Length != c)
            throw new ArgumentException(
                $"Normalize: {mean.Length} means and stds for images of {c} channel(s) (shape {Show(sampleShape)}); give {c} or 1.",
                nameof(sampleShape));
        return (int[])sampleShape.Clone();
    }

    protected override void ApplyCore(ReadOnlySpan<float> sample, int[] sampleShape, Span<float> output, ref SampleRandom random)
    {
        int channels = sampleShape[0], plane = sampleShape[1] * sampleShape[2];
        for (int c = 0; c < channels; c++)
        {
            float m = mean[mean.Length == 1 ? 0 : c], s = std[std.Length == 1 ? 0 : c];
            for (int i = c * plane; i < (c + 1) * plane; i++) output[i] = (sample[i] - m) / s;
        }
    }
}
