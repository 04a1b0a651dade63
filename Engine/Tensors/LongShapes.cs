namespace Engine;

/// <summary>
/// Sizes as <c>long</c>, as PyTorch (and TorchSharp) give them: every call that takes a shape also takes a <c>long[]</c>,
/// and <see cref="Size()"/> reads the shape back as one. A size past this engine's 2³¹ − 1 elements is refused, naming it.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>The dimensions as <c>long</c> (PyTorch <c>size()</c>).</summary>
    public long[] Size() => shape.Select(d => (long)d).ToArray();

    /// <summary>The size of axis <paramref name="dim"/> (negative counts from the end; PyTorch <c>size(dim)</c>).</summary>
    public long Size(int dim) => shape[Shapes.NormalizeAxis("size", dim, shape)];

    public static Tensor FromArray(Device device, float[] data, long[] shape, bool requiresGrad = false) =>
        FromArray(device, data, Narrow("FromArray", shape), requiresGrad);

    public static Tensor Zeros(Device device, long[] shape, bool requiresGrad = false, DType dtype = DType.Float32) =>
        Zeros(device, Narrow("Zeros", shape), requiresGrad, dtype);

    public static Tensor Ones(Device device, long[] shape, bool requiresGrad = false, DType dtype = DType.Float32) =>
        Ones(device, Narrow("Ones", shape), requiresGrad, dtype);

    public static Tensor Full(Device device, long[] shape, float value, bool requiresGrad = false,
        DType dtype = DType.Float32) => Full(device, Narrow("Full", shape), value, requiresGrad, dtype);

    public static Tensor RandN(Device device, long[] shape, int? seed = null, bool requiresGrad = false, float mean = 0f,
        float std = 1f) => RandN(device, Narrow("RandN", shape), seed, requiresGrad, mean, std);

    public static Tensor RandU(Device device, long[] shape, int? seed = null, float low = 0f, float high = 1f,
        bool requiresGrad = false) => RandU(device, Narrow("RandU", shape), seed, low, high, requiresGrad);

    public Tensor Reshape(long[] newShape) => Reshape(Narrow("reshape", newShape));

    public Tensor View(long[] newShape) => Reshape(Narrow("view", newShape));

    public Tensor Expand(long[] sizes) => Expand(Narrow("expand", sizes));

    /// <summary>The sizes as int, or an error naming the op and the size that does not fit.</summary>
    private static int[] Narrow(string op, long[] sizes)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        var narrow = new int[sizes.Length];
        for (int i = 0; i < sizes.Length; i++)
        {
            if (sizes[i] < int.MinValue || sizes[i] > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(sizes),
                    $"{op}: size {sizes[i]} at position {i} exceeds the {int.MaxValue} elements a tensor of this engine holds.");
            narrow[i] = (int)sizes[i];
        }
        return narrow;
    }
}
