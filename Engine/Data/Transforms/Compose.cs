namespace Engine.Data.Transforms;

/// <summary>
/// Several transforms applied in order (torchvision's <c>Compose</c>), e.g.
/// <c>new Compose(new RandomCrop(28, padding: 2), new RandomHorizontalFlip(), new Normalize([0.1307f], [0.3081f]))</c>.
/// All draw from the sample's one random stream, in this order; no transforms is the identity.
/// </summary>
public sealed class Compose : Transform
{
    private readonly Transform[] transforms;

    public Compose(params Transform[] transforms)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        int missing = Array.IndexOf(transforms, null);
        if (missing >= 0) throw new ArgumentNullException(nameof(transforms), $"Compose: transform {missing} is null.");
        this.transforms = (Transform[])transforms.Clone();
    }

    /// <summary>The transforms, in the order they are applied.</summary>
    public IReadOnlyList<Transform> Transforms => transforms;

    /// <summary>The shape after every transform in turn; the first that cannot take its input says why.</summary>
    public override int[] OutputShape(int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        var shape = (int[])sampleShape.Clone();
        foreach (var t in transforms) shape = t.OutputShape(shape);
        return shape;
    }

    protected override void ApplyCore(ReadOnlySpan<float> sample, int[] sampleShape, Span<float> output, ref SampleRandom random)
    {
        if (transforms.Length == 0)
        {
            sample.CopyTo(output);
            return;
        }
        var shape = sampleShape;
        float[]? current = null; // the previous transform's output; null before the first
        for (int k = 0; k < transforms.Length; k++)
        {
            ReadOnlySpan<float> input = current ?? sample;
            if (k == transforms.Length - 1)
            {
                transforms[k].Apply(input, shape, output, ref random);
                return;
            }
            var next = transforms[k].OutputShape(shape);
            var buffer = new float[Numel(next)];
            transforms[k].Apply(input, shape, buffer, ref random);
            (current, shape) = (buffer, next);
        }
    }
}
