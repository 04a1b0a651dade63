namespace Engine.Serialization;

/// <summary>
/// A tensor's values on the host with its shape (row-major), as read from or written to a safetensors file.
/// <see cref="DType"/> is the element type in the file. Float values are held as float32 in <see cref="Values"/>
/// (converted on load, rounded to <see cref="DType"/> on save); an integer or bool tensor (I32, I64, BOOL) also carries
/// its exact values in <see cref="Integers"/>, which the writer uses when present.
/// </summary>
public sealed record HostTensor(int[] Shape, float[] Values, SafeTensorsDType DType = SafeTensorsDType.F32)
{
    /// <summary>Elements the shape holds (1 for a scalar's empty shape).</summary>
    public long Numel => Shape.Aggregate(1L, (n, d) => n * d);

    /// <summary>The exact values of an I32, I64 or BOOL tensor (BOOL as 0/1); null for a float tensor.</summary>
    public long[]? Integers { get; init; }

    /// <summary>Copies a device tensor to the host (synchronizes): F32, or I32/I64/BOOL with exact values.</summary>
    public static HostTensor From(Tensor tensor)
    {
        if (tensor.DType == Engine.DType.Float32) return new(tensor.Shape, tensor.ToArray());
        long[] exact = tensor.DType switch
        {
            Engine.DType.Int32 => tensor.ToArray<int>().Select(v => (long)v).ToArray(),
            Engine.DType.Int64 => tensor.ToArray<long>(),
            _ => tensor.ToArray<bool>().Select(v => v ? 1L : 0L).ToArray(),
        };
        var dtype = tensor.DType switch
        {
            Engine.DType.Int32 => SafeTensorsDType.I32,
            Engine.DType.Int64 => SafeTensorsDType.I64,
            _ => SafeTensorsDType.BOOL,
        };
        return new(tensor.Shape, exact.Select(v => (float)v).ToArray(), dtype) { Integers = exact };
    }

    /// <summary>
    /// A device tensor of these values: float32 for a float dtype; int32, int64 or bool for I32, I64, BOOL (an int64
    /// value outside the 32-bit range the device holds is refused, naming its position).
    /// </summary>
    public Tensor ToTensor(Device device)
    {
        if (DType is not (SafeTensorsDType.I32 or SafeTensorsDType.I64 or SafeTensorsDType.BOOL))
            return Tensor.FromArray(device, Values, Shape);
        var exact = Integers ?? Values.Select(v => (long)v).ToArray();
        return DType switch
        {
            SafeTensorsDType.I32 => Tensor.FromArray(device, exact.Select(v => (int)v).ToArray(), Shape),
            SafeTensorsDType.I64 => Tensor.FromArray(device, exact, Shape),
            _ => Tensor.FromArray(device, exact.Select(v => v != 0).ToArray(), Shape),
        };
    }
}
