using Engine.Kernels;

namespace Engine.Nn;

/// <summary>
/// In-place initialisers, as <c>torch.nn.init</c> (seeded). Fans of a weight [out, in, …]: fan_in = in·receptive,
/// fan_out = out·receptive.
/// </summary>
public static class Init
{
    /// <summary>U(a, b).</summary>
    public static Tensor Uniform(Tensor t, float a = 0f, float b = 1f, int? seed = null) => Fill(t, seed, a, b, false);

    /// <summary>N(mean, std²).</summary>
    public static Tensor Normal(Tensor t, float mean = 0f, float std = 1f, int? seed = null) =>
        Fill(t, seed, mean, std, true);

    /// <summary>Xavier/Glorot uniform: U(−a, a), a = gain·√(6 / (fan_in + fan_out)).</summary>
    public static Tensor XavierUniform(Tensor t, float gain = 1f, int? seed = null)
    {
        var (fanIn, fanOut) = Fans(t);
        float a = gain * MathF.Sqrt(6f / (fanIn + fanOut));
        return Fill(t, seed, -a, a, false);
    }

    /// <summary>Xavier/Glorot normal: N(0, std²), std = gain·√(2 / (fan_in + fan_out)).</summary>
    public static Tensor XavierNormal(Tensor t, float gain = 1f, int? seed = null)
    {
        var (fanIn, fanOut) = Fans(t);
        return Fill(t, seed, 0f, gain * MathF.Sqrt(2f / (fanIn + fanOut)), true);
    }

    /// <summary>
    /// Kaiming/He uniform (fan_in mode): U(−b, b), b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)) for
    /// (leaky) ReLU with negative slope a.
    /// </summary>
    public static Tensor KaimingUniform(Tensor t, float a = 0f, int? seed = null)
    {
        var (fanIn, _) = Fans(t);
        float bound = MathF.Sqrt(2f / (1f + a * a)) * MathF.Sqrt(3f / fanIn);
        return Fill(t, seed, -bound, bound, false);
    }

    /// <summary>Kaiming/He normal (fan_in mode): N(0, std²), std = √(2 / (1 + a²)) / √fan_in.</summary>
    public static Tensor KaimingNormal(Tensor t, float a = 0f, int? seed = null)
    {
        var (fanIn, _) = Fans(t);
        return Fill(t, seed, 0f, MathF.Sqrt(2f / (1f + a * a)) / MathF.Sqrt(fanIn), true);
    }

    public static Tensor Zeros(Tensor t) => Constant(t, 0f);

    public static Tensor Constant(Tensor t, float value)
    {
        t.ThrowIfDisposed("init");
        t.Device.Kernels.Fill(t.Elements, value);
        return t;
    }

    private static (int FanIn, int FanOut) Fans(Tensor t)
    {
        var s = t.Shape;
        if (s.Length < 2)
            throw new ArgumentException($"init: fan in/out need a tensor of rank ≥ 2, got shape {Shapes.Format(s)}.");
        int receptive = s.Skip(2).Aggregate(1, (p, d) => p * d);
        return (s[1] * receptive, s[0] * receptive);
    }

    private static Tensor Fill(Tensor t, int? seed, float a, float b, bool normal)
    {
        t.ThrowIfDisposed("init");
        t.Device.Kernels.Random(t.Elements, unchecked((uint)Generator.SeedOrNext(seed)), a, b, normal);
        return t;
    }
}
