namespace Engine.Nn;

/// <summary>
/// One seeded stream of U(−bound, bound) numbers that a recurrent module's parameters take one after another, in
/// registration order (PyTorch's RNN modules draw every parameter from U(−1/√hidden, 1/√hidden) in that order), so
/// no two parameters share numbers and modules built with seeds 1, 2, … differ.
/// </summary>
internal sealed class SeededUniform(Device device, int seed, float bound)
{
    private uint drawn;

    /// <summary>The next <paramref name="shape"/>'s worth of numbers of the stream, as a new tensor.</summary>
    public Tensor Next(params int[] shape)
    {
        var t = Tensor.Uninitialized(device, shape);
        device.Kernels.Random(t.Elements, unchecked((uint)seed), -bound, bound, normal: false, offset: drawn);
        drawn += (uint)t.Numel;
        return t;
    }
}
