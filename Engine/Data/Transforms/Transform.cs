namespace Engine.Data.Transforms;

/// <summary>
/// A per-sample transform, torchvision's <c>transforms</c>: the <see cref="DataLoader"/> applies it on the host to
/// every sample it gathers (see its <c>transform</c> argument), each sample with its own <see cref="SampleRandom"/>.
/// Samples are row-major floats of a known shape; the built-in transforms take images [C, H, W] and say so when
/// given anything else. To write one, override <see cref="OutputShape"/> (validate, give the shape after) and
/// <see cref="ApplyCore"/> (the arithmetic, drawing any randomness from the given stream only).
/// </summary>
public abstract class Transform
{
    /// <summary>
    /// The shape of a sample after this transform, given its shape before.
    /// </summary>
    /// <exception cref="ArgumentException">This transform cannot take samples of <paramref name="sampleShape"/>; the
    /// message says why.</exception>
    public abstract int[] OutputShape(int[] sampleShape);

    /// <summary>
    /// Transforms one sample of <paramref name="sampleShape"/> into <paramref name="output"/> (of
    /// <see cref="OutputShape"/>), drawing randomness from <paramref name="random"/> only.
    /// </summary>
    /// <exception cref="ArgumentException">The shape does not suit this transform, or a span's length is not the
    /// product of its shape.</exception>
    public void Apply(ReadOnlySpan<float> sample, int[] sampleShape, Span<float> output, ref SampleRandom random)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        int[] outputShape = OutputShape(sampleShape);
        if (sample.Length != Numel(sampleShape))
            throw new ArgumentException(
                $"{Name}: a sample of shape {Show(sampleShape)} has {Numel(sampleShape)} values, got {sample.Length}.", nameof(sample));
        if (output.Length != Numel(outputShape))
            throw new ArgumentException(
                $"{Name}: the output of shape {Show(outputShape)} has {Numel(outputShape)} values, got a span of {output.Length}.",
                nameof(output));
        ApplyCore(sample, sampleShape, output, ref random);
    }

    /// <summary>
    /// The transform itself; <see cref="Apply"/> has checked the shape with <see cref="OutputShape"/> and the lengths
    /// of both spans.
    /// </summary>
    protected abstract void ApplyCore(ReadOnlySpan<float> sample, int[] sampleShape, Span<float> output, ref SampleRandom random);

    /// <summary>The name in error messages: the class name (<c>RandomCrop</c>).</summary>
    protected string Name => GetType().Name;

    /// <summary>(C, H, W) of an image sample shape, or an error saying the dataset's samples are not images.</summary>
    protected (int C, int H, int W) ImageShape(int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (sampleShape.Length != 3)
            throw new ArgumentException(
                $"{Name}: works on image samples [C, H, W], but the samples have shape {Show(sampleShape)}; give the " +
                "dataset an image shape with Dataset.WithSampleShape(C, H, W) (IdxLoader.LoadMnistImages does for MNIST).",
                nameof(sampleShape));
        return (sampleShape[0], sampleShape[1], sampleShape[2]);
    }

    internal static int Numel(int[] shape) => shape.Aggregate(1, (p, s) => checked(p * s));

    internal static string Show(int[] shape) => $"[{string.Join(", ", shape)}]";
}
