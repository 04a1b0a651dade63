using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Copies <paramref name="data"/> (row-major) to the device as a tensor of <paramref name="shape"/>.</summary>
    public static Tensor FromArray(Device device, float[] data, int[] shape, bool requiresGrad = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(data);
        int n = Shapes.Validate("FromArray", shape);
        if (data.Length != n)
            throw new ArgumentException(
                $"FromArray: {data.Length} values do not fill shape {Shapes.Format(shape)} ({n} elements).");
        var t = Uninitialized(device, (int[])shape.Clone());
        device.Kernels.Upload<float>(data, t.Elements);
        t.requiresGrad = requiresGrad;
        return t;
    }

    /// <summary>A scalar (rank-0) tensor.</summary>
    public static Tensor Scalar(Device device, float value, bool requiresGrad = false) =>
        FromArray(device, new[] { value }, Array.Empty<int>(), requiresGrad);

    public static Tensor Zeros(Device device, int[] shape, bool requiresGrad = false) =>
        Full(device, shape, 0f, requiresGrad);

    public static Tensor Ones(Device device, int[] shape, bool requiresGrad = false) =>
        Full(device, shape, 1f, requiresGrad);

    public static Tensor Full(Device device, int[] shape, float value, bool requiresGrad = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        Shapes.Validate("Full", shape);
        var t = Uninitialized(device, (int[])shape.Clone());
        device.Kernels.Fill(t.Elements, value);
        t.requiresGrad = requiresGrad;
        return t;
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

    /// <summary>Copies the elements to the host (synchronizes the device).</summary>
    public float[] ToArray()
    {
        var data = new float[Numel];
        Kernels.Download(Elements, data);
        return data;
    }

    /// <summary>The value of a one-element tensor (synchronizes the device).</summary>
    public float Item()
    {
        if (Numel != 1)
            throw new InvalidOperationException(
                $"Item() needs a one-element tensor, got shape {Shapes.Format(shape)} ({Numel} elements).");
        return ToArray()[0];
    }
}
