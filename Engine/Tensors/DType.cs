namespace Engine;

/// <summary>
/// A tensor's element type, as PyTorch's <c>torch.float32</c>, <c>int32</c>, <c>int64</c> (<c>long</c>, what index
/// tensors are) and <c>bool</c>.
/// </summary>
/// <remarks>
/// On the device every type takes 32 bits: int64 and bool tensors are stored as 32-bit integers (bool as 0/1), which
/// every index of a tensor of this engine fits (sizes are below 2³¹). An int64 value outside the 32-bit range is
/// refused where it enters (creation from the host, loading a file), naming its position, never wrapped. They read back,
/// save and load as their own type (<c>long[]</c>, safetensors I64; <c>bool[]</c>, BOOL).
/// </remarks>
public enum DType
{
    Float32,
    Int32,
    Int64,
    Bool,
}

internal static class DTypes
{
    /// <summary>PyTorch's spelling: float32, int32, int64, bool.</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Int32 => "int32",
        DType.Int64 => "int64",
        _ => "bool",
    };

    public static bool IsInteger(this DType dtype) => dtype is DType.Int32 or DType.Int64;
}
