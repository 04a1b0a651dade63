namespace Engine.Data.Transforms;

/// <summary>
/// A random size × size window of an image [C, H, W] padded with <c>padding</c> zeros on every side (torchvision's
/// <c>RandomCrop(size, padding)</c> with constant fill 0): the window's top-left corner (top, left) in the padded
/// image is uniform over [0, H + 2·padding − size] × [0, W + 2·padding − size], drawn in that order, and
/// out[c, y, x] = in[c, y + top − padding, x + left − padding], or 0 where that falls in the padding. The result is
/// [C, size, size]. The usual augmentation keeps the size and shifts the content: <c>RandomCrop(28, padding: 2)</c>
/// on MNIST, <c>RandomCrop(32, padding: 4)</c> on CIFAR.
/// </summary>
public sealed class RandomCrop : Transform
{
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> &lt; 1 or <paramref name="padding"/> &lt; 0.</exception>
    public RandomCrop(int size, int padding = 0)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), $"RandomCrop: size must be ≥ 1, got {size}.");
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), $"RandomCrop: padding must be ≥ 0, got {padding}.");
        Size = size;
        Padding = padding;
    }

    /// <summary>The side of the square output.</summary>
    public int Size { get; }

    /// <summary>Zeros added on each of the four sides before cropping.</summary>
    public int Padding { get; }

    /// <summary>[C, size, size]; the window must fit in the padded image.</summary>
    public override int[] OutputShape(int[] sampleShape)
    {
        var (c, h, w) = ImageShape(sampleShape);
        if (Size > h + 2 * Padding || Size > w + 2 * Padding)
            throw new ArgumentException(
                $"RandomCrop: a {Size}×{Size} crop does not fit in a {h}×{w} image padded by {Padding} " +
                $"({h + 2 * Padding}×{w + 2 * Padding}).", nameof(sampleShape));
        return new[] { c, Size, Size };
    }

    protected override void ApplyCore(ReadOnlySpan<float> sample, int[] sampleShape, Span<float> output, ref SampleRandom random)
    {
        int channels = sampleShape[0], h = sampleShape[1], w = sampleShape[2];
        int top = random.Next(h + 2 * Padding - Size + 1), left = random.Next(w + 2 * Padding - Size + 1);
        int dy = top - Padding, dx = left - Padding; // the window's corner in the unpadded image
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < Size; y++)
            {
                var row = output.Slice((c * Size + y) * Size, Size);
                int sy = y + dy;
                if ((uint)sy >= (uint)h)
                {
                    row.Clear();
                    continue;
                }
                for (int x = 0; x < Size; x++)
                {
                    int sx = x + dx;
                    row[x] = (uint)sx < (uint)w ? sample[(c * h + sy) * w + sx] : 0f;
                }
            }
    }
}
