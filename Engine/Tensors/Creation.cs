using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Copies <paramref name="data"/> (row-major) to the device as a tensor of <paramref name="shape"/>.</summary>
    public static Tensor FromArray(Device device, float[] data, int[] shape, bool requiresGrad = false)
    {
        var t = ForHostData(device, data?.Length, shape, DType.Float32);
        device.Kernels.Upload<float>(data, t.Elements);
        t.requiresGrad = requiresGrad;
        return t;
    }

    /// <summary>A scalar (rank-0) tensor.</summary>
    public static Tensor Scalar(Device device, float value, bool requiresGrad = false) =>
        FromArray(device, new[] { value }, Array.Empty<int>(), requiresGrad);

    public static Tensor Zeros(Device device, int[] shape, bool requiresGrad = false, DType dtype = DType.Float32) =>
        Full(device, shape, 0f, requiresGrad, dtype);

    public static Tensor Ones(Device device, int[] shape, bool requiresGrad = false, DType dtype = DType.Float32) =>
        Full(device, shape, 1f, requiresGrad, dtype);

    /// <summary>A tensor of <paramref name="value"/> (for an integer dtype a whole number; for bool, value ≠ 0).</summary>
    public static Tensor Full(Device device, int[] shape, float value, bool requiresGrad = false,
        DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(device);
        Shapes.Validate("Full", shape);
        var t = Uninitialized(device, (int[])shape.Clone(), dtype: dtype);
        if (dtype != DType.Float32 && dtype != DType.Bool && (value != MathF.Round(value) || Math.Abs(value) > int.MaxValue))
            throw new ArgumentException($"Full: {value} is not a whole number in the {dtype.Name()} range this engine holds.");
        device.Kernels.Fill(t.RawElements, dtype == DType.Float32 ? value
            : BitConverter.Int32BitsToSingle(dtype == DType.Bool ? (value != 0f ? 1 : 0) : (int)value));
        t.RequiresGrad = requiresGrad;
        return t;
    }

    /// <summary>An int32 tensor of <paramref name="data"/> (row-major).</summary>
    public static Tensor FromArray(Device device, int[] data, int[] shape) =>
        FromIntegers(device, data, shape, DType.Int32);

    /// <summary>
    /// An int64 tensor of <paramref name="data"/> (PyTorch's index type). Values must lie in the 32-bit range the device
    /// holds (<see cref="DType"/>); one outside is refused, naming its position.
    /// </summary>
    public static Tensor FromArray(Device device, long[] data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        var narrow = new int[data.Length];
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] < int.MinValue || data[i] > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(data),
                    $"FromArray: int64 value {data[i]} at position {i} is outside the 32-bit range this engine's int64 " +
                    "tensors hold on the device (every index fits it).");
            narrow[i] = (int)data[i];
        }
        return FromIntegers(device, narrow, shape, DType.Int64);
    }

    /// <summary>A bool tensor (a mask) of <paramref name="data"/>.</summary>
    public static Tensor FromArray(Device device, bool[] data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        return FromIntegers(device, data.Select(b => b ? 1 : 0).ToArray(), shape, DType.Bool);
    }

    private static Tensor FromIntegers(Device device, int[] data, int[] shape, DType dtype)
    {
        var t = ForHostData(device, data?.Length, shape, dtype);
        device.Kernels.Upload<int>(data, t.IntElements);
        return t;
    }

    /// <summary>A new tensor for <paramref name="count"/> host values of <paramref name="shape"/>, or an error naming both.</summary>
    private static Tensor ForHostData(Device device, int? count, int[] shape, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (count is not { } values) throw new ArgumentNullException("data");
        int n = Shapes.Validate("FromArray", shape);
        if (values != n)
            throw new ArgumentException(
                $"FromArray: {values} values do not fill shape {Shapes.Format(shape)} ({n} elements).");
        return Uninitialized(device, (int[])shape.Clone(), dtype: dtype);
    }

    /// <summary>
    /// start, start + step, … below end (PyTorch <c>arange</c>): int64 for whole-number arguments as here, float32 from
    /// the float overload.
    /// </summary>
    public static Tensor Arange(Device device, int end) => Arange(device, 0, end, 1);

    public static Tensor Arange(Device device, int start, int end, int step = 1)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (step == 0) throw new ArgumentException("arange: step must be non-zero.");
        long count = ((long)end - start + step - Math.Sign(step)) / step;
        if (count < 1)
            throw new ArgumentException($"arange: [{start}, {end}) with step {step} is empty (this engine has no empty tensors).");
        var t = Uninitialized(device, new[] { checked((int)count) }, dtype: DType.Int64);
        device.Kernels.IntSequence(t.IntElements, start, step);
        return t;
    }

    public static Tensor Arange(Device device, float start, float end, float step = 1f)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (step == 0f || !float.IsFinite(step)) throw new ArgumentException($"arange: step must be finite and non-zero, got {step}.");
        double count = Math.Ceiling((end - (double)start) / step);
        if (!(count >= 1) || count > int.MaxValue)
            throw new ArgumentException($"arange: [{start}, {end}) with step {step} holds {count} elements.");
        var t = Uninitialized(device, new[] { (int)count });
        device.Kernels.Sequence(t.Elements, start, step);
        return t;
    }

    /// <summary>The n × m identity (m = n when omitted; PyTorch <c>eye</c>).</summary>
    public static Tensor Eye(Device device, int n, int? m = null, DType dtype = DType.Float32)
    {
        var ones = Ones(device, new[] { n, m ?? n }, dtype: dtype);
        return ones.Tril().Triu();
    }

    /// <summary>Normal samples N(mean, std²) from a counter-based generator: the same seed gives the same tensor; no seed draws one from <see cref="Generator"/>.</summary>
    public static Tensor RandN(Device device, int[] shape, int? seed = null, bool requiresGrad = false, float mean = 0f,
        float std = 1f)
    {
        ArgumentNullException.ThrowIfNull(device);
        Shapes.Validate("RandN", shape);
        if (!(std >= 0f) || float.IsInfinity(std))
            throw new ArgumentOutOfRangeException(nameof(std), $"RandN: std must be finite and ≥ 0, got {std}.");
        var t = Uninitialized(device, (int[])shape.Clone());
        device.Kernels.Random(t.Elements, unchecked((uint)Generator.SeedOrNext(seed)), mean, std, normal: true);
        t.requiresGrad = requiresGrad;
        return t;
    }

    /// <summary>Uniform samples in [low, high) from a counter-based generator: the same seed gives the same tensor; no seed draws one from <see cref="Generator"/>.</summary>
    public static Tensor RandU(Device device, int[] shape, int? seed = null, float low = 0f, float high = 1f,
        bool requiresGrad = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        Shapes.Validate("RandU", shape);
        if (!(high >= low) || float.IsInfinity(high - low))
            throw new ArgumentException($"RandU: need finite low ≤ high, got low {low}, high {high}.");
        var t = Uninitialized(device, (int[])shape.Clone());
        device.Kernels.Random(t.Elements, unchecked((uint)Generator.SeedOrNext(seed)), low, high, normal: false);
        t.requiresGrad = requiresGrad;
        return t;
    }

    /// <summary>Overwrites the elements with <paramref name="data"/> from the host (PyTorch <c>copy_</c>).</summary>
    public void CopyFrom(float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        ThrowIfDisposed("copy_");
        if (data.Length != Numel)
            throw new ArgumentException(
                $"copy_: {data.Length} values for a tensor of shape {Shapes.Format(shape)} ({Numel} elements).");
        Kernels.Upload<float>(data, Elements);
        MarkWritten();
    }

    /// <summary>Copies a float32 tensor's elements to the host (synchronizes the device).</summary>
    public float[] ToArray()
    {
        if (DType != DType.Float32)
            throw new InvalidOperationException(
                $"ToArray(): this tensor is {DType.Name()}; read it with ToArray<{(DType == DType.Bool ? "bool" : DType == DType.Int32 ? "int" : "long")}>().");
        var data = new float[Numel];
        Kernels.Download(Elements, data);
        Device.IndexChecks.ThrowIfFailed();
        return data;
    }

    /// <summary>
    /// The elements as <typeparamref name="T"/>: float for float32, int for int32, long for int64, bool for bool
    /// (synchronizes the device). Another pairing is refused; convert with <see cref="To"/> first.
    /// </summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        ThrowIfDisposed("ToArray");
        if (typeof(T) == typeof(float) && DType == DType.Float32) return (T[])(object)ToArray();
        bool fits = (typeof(T) == typeof(int) && DType == DType.Int32) || (typeof(T) == typeof(long) && DType == DType.Int64)
            || (typeof(T) == typeof(bool) && DType == DType.Bool);
        if (!fits)
            throw new InvalidOperationException(
                $"ToArray<{typeof(T).Name}>(): this tensor is {DType.Name()}; convert it with To(…) first.");
        var raw = new int[Numel];
        Kernels.Download(IntElements, raw);
        Device.IndexChecks.ThrowIfFailed();
        if (typeof(T) == typeof(int)) return (T[])(object)raw;
        if (typeof(T) == typeof(long)) return (T[])(object)raw.Select(v => (long)v).ToArray();
        return (T[])(object)raw.Select(v => v != 0).ToArray();
    }

    /// <summary>The value of a one-element float32 tensor (synchronizes the device).</summary>
    public float Item()
    {
        if (Numel != 1)
            throw new InvalidOperationException(
                $"Item() needs a one-element tensor, got shape {Shapes.Format(shape)} ({Numel} elements).");
        return ToArray()[0];
    }

    /// <summary>The value of a one-element tensor as <typeparamref name="T"/> (see <see cref="ToArray{T}"/>).</summary>
    public T Item<T>() where T : unmanaged
    {
        if (Numel != 1)
            throw new InvalidOperationException(
                $"Item() needs a one-element tensor, got shape {Shapes.Format(shape)} ({Numel} elements).");
        return ToArray<T>()[0];
    }
}
