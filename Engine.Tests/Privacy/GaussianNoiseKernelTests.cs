namespace Engine.Tests.Privacy;

/// <summary>IKernels.AddGaussianNoise: the same numbers on both backends (up to ln/sincos's last bits), standard normal.</summary>
public sealed class GaussianNoiseKernelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(257)]
    [InlineData(20001)]
    public void BothBackendsAddTheSameNoise(int n)
    {
        float[] Run(Device d)
        {
            using var t = Tensor.Full(d, new[] { n }, 0.5f);
            d.Kernels.AddGaussianNoise(t.Elements, 42, 2f);
            return t.ToArray();
        }
        var simd = Run(TestDevice.Simd);
        var ilgpu = Run(TestDevice.Ilgpu);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(simd[i] - ilgpu[i]) <= 1e-4 + 1e-5 * Math.Abs(ilgpu[i]), $"element {i}: {simd[i]} vs {ilgpu[i]}");
    }

    [Fact]
    public void TheNoiseIsStandardNormalTimesStd()
    {
        var d = TestDevice.Instance;
        using var t = Tensor.Zeros(d, new[] { 100_000 });
        d.Kernels.AddGaussianNoise(t.Elements, 7, 3f);
        var z = t.ToArray().Select(v => v / 3.0).ToArray();
        double mean = z.Average(), variance = z.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, -0.0127, 0.0127); // 4 standard errors
        Assert.InRange(variance, 0.982, 1.018); // 4 standard errors of the variance (√(2/n))
        double tail = z.Count(v => Math.Abs(v) > 1.959964) / (double)z.Length;
        Assert.InRange(tail, 0.05 - 0.0028, 0.05 + 0.0028); // P(|z| > 1.96) = 5 %
    }
}
