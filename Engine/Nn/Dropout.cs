using Engine.Kernels;

namespace Engine.Nn;

/// <summary>
/// Inverted dropout (<c>torch.nn.Dropout</c>): in training mode each element is zeroed with probability p and the
/// rest scaled by 1/(1 − p); identity in evaluation mode. The mask comes from a counter-based RNG kernel seeded by
/// (seed, call number), so runs are reproducible and backward recomputes the mask instead of storing it.
/// </summary>
public sealed class Dropout : Module, IRandomStream
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

    long IRandomStream.Position
    {
        get => calls;
        set => calls = (uint)value;
    }

    public override Tensor Forward(Tensor input)
    {
        if (!Training || P == 0f) return input;
        RandomReplay.Touch(this);
        uint seed = unchecked((uint)Seed * 0x9E3779B9u + ++calls);
        return input.DropoutWithSeed(P, seed);
    }
}

/// <summary>
/// Channel dropout, as <c>torch.nn.Dropout2d</c>: in training mode each whole channel of [N, C, H, W] (or [C, H, W])
/// is zeroed with probability p and the others scaled by 1/(1 − p); identity in evaluation mode. The [N, C] mask
/// comes from the same counter-based RNG kernel as <see cref="Dropout"/>'s, drawn on a tensor of ones.
/// </summary>
public sealed class Dropout2d : Module, IRandomStream
{
    private uint calls;

    public Dropout2d(float p = 0.5f, int? seed = null)
    {
        if (!(p >= 0f && p < 1f))
            throw new ArgumentOutOfRangeException(nameof(p), $"Dropout2d: p must be in [0, 1), got {p}.");
        P = p;
        Seed = Generator.SeedOrNext(seed);
    }

    public float P { get; }
    public int Seed { get; }

    long IRandomStream.Position
    {
        get => calls;
        set => calls = (uint)value;
    }

    public override Tensor Forward(Tensor input)
    {
        if (!Training || P == 0f) return input;
        Tensor.CheckOperands("dropout2d", input);
        RandomReplay.Touch(this);
        if (input.Rank is not (3 or 4))
            throw new ArgumentException($"Dropout2d: expected input [N, C, H, W] or [C, H, W], got {Shapes.Format(input.Shape)}.");
        uint seed = unchecked((uint)Seed * 0x9E3779B9u + ++calls);
        var maskShape = input.Shape.ToArray();
        for (int d = maskShape.Length - 2; d < maskShape.Length; d++) maskShape[d] = 1;
        using var ones = Tensor.Ones(input.Device, maskShape);
        var mask = Tensor.Uninitialized(input.Device, maskShape);
        input.Device.Kernels.Dropout(ones.Elements, mask.Elements, seed, P, accumulate: false);
        return input * mask;
    }
}
