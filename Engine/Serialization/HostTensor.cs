namespace Engine.Serialization;

/// <summary>
/// A tensor's values on the host with its shape (row-major), as read from or written to a safetensors file.
/// <see cref="DType"/> is the element type in the file: values are always held as float32 here, converted on
/// load, and rounded to <see cref="DType"/> on save.
/// </summary>
public sealed record HostTensor(int[] Shape, float[] Values, SafeTensorsDType DType = SafeTensorsDType.F32)
{
    /// <summary>Elements the shape holds (1 for a scalar's empty shape).</summary>
    public long Numel => Shape.Aggregate(1L, (n, d) => n * d);

    /// <summary>Copies a device tensor to the host (synchronizes).</summary>
    public static HostTensor From(Tensor tensor) => new(tensor.Shape, tensor.ToArray());
}
