using Engine.Kernels;

namespace Engine.Nn;

/// <summary>
/// Inverted dropout (<c>torch.nn.Dropout</c>): in training mode each element is zeroed with probability p and the
/// rest scaled by 1/(1 − p); identity in evaluation mode. The mask comes from a counter-based RNG kernel seeded by
/// (seed, call number), so runs are reproducible and backward recomputes the mask instead of storing it.
/// </summary>
public sealed class Dropout : Module
{
    private uint calls;

    /// <summary>Dropout with probability <c>p</c>; <c>seed</c> names the masks' random stream, and null (the default) takes the next seed of <see cref="Generator"/>.</summary>
    public Dropout(float p = 0.5f, int? seed = null)
    {
        if (!(p >= 0f && p < 1f))
            throw new ArgumentOutOfRangeException(nameof(p), $"Dropout: p must be in [0, 1), got {p}.");
        P = p;
        Seed = Generator.SeedOrNext(seed);
    }

    public float P { get; }

    /// <summary>Forward calls in training mode so far: the RNG's position, kept by checkpoints.</summary>
    internal uint Calls
    {
        get => calls;
        set => calls = value;
    }
    public int Seed { get; }

    public override Tensor Forward(Tensor input)
    {
        if (!Training || P == 0f) return input;
        Tensor.CheckOperands("dropout", input);
        uint seed = unchecked((uint)Seed * 0x9E3779B9u + ++calls);
        var x = input;
        var y = Tensor.Uninitialized(x.Device, x.Shape);
        var k = x.Device.Kernels;
        float p = P;
        k.Dropout(x.Elements, y.Elements, seed, p, accumulate: false);
        return Tensor.Record(y, "dropout", new[] { x }, dy => k.Dropout(dy, x.GradTarget(), seed, p, accumulate: true));
    }
}
