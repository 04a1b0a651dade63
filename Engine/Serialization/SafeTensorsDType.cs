namespace Engine.Serialization;

/// <summary>
/// The safetensors element types this engine reads (all converted to float32 on load) and writes. Declared in the
/// format's own order of increasing alignment, which the writer sorts by (descending) as the reference does.
/// </summary>
public enum SafeTensorsDType
{
    /// <summary>A boolean, one byte (0 or 1): PyTorch's <c>torch.bool</c> masks.</summary>
    BOOL,

    /// <summary>IEEE 754 half precision (2 bytes).</summary>
    F16,

    /// <summary>bfloat16: the top 16 bits of a float32 (2 bytes).</summary>
    BF16,

    /// <summary>Signed 32-bit integer (4 bytes), <c>torch.int32</c>.</summary>
    I32,

    /// <summary>IEEE 754 single precision (4 bytes); the engine's own type.</summary>
    F32,

    /// <summary>IEEE 754 double precision (8 bytes).</summary>
    F64,

    /// <summary>
    /// Signed 64-bit integer (8 bytes), PyTorch's <c>torch.long</c>: how BatchNorm's <c>num_batches_tracked</c> is
    /// saved, and index tensors. Exact in <see cref="HostTensor.Integers"/>; the float32 view is exact up to 2²⁴.
    /// </summary>
    I64,
}

internal static class SafeTensorsDTypes
{
    /// <summary>Every dtype name the format defines; those outside <see cref="SafeTensorsDType"/> are refused by name.</summary>
    public static readonly string[] FormatNames =
        { "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64" };

    public static int Size(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.BOOL => 1,
        SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.F32 or SafeTensorsDType.I32 => 4,
        _ => 8,
    };

    /// <summary>Sort rank in the reference writer: its dtype enum position (larger first).</summary>
    public static int FormatRank(this SafeTensorsDType dtype) => Array.IndexOf(FormatNames, dtype.ToString());

    /// <summary>
    /// float32 → bfloat16 with round-to-nearest-even, as <c>torch.Tensor.bfloat16()</c>; NaN stays a (quiet) NaN.
    /// </summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static float FromBFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
