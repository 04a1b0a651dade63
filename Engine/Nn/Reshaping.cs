namespace Engine.Nn;

/// <summary>Flattens axes <c>startDim</c>…<c>endDim</c> into one, as <c>torch.nn.Flatten</c> (defaults 1, −1: [N, C, H, W] → [N, C·H·W]).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    public int StartDim { get; } = startDim;
    public int EndDim { get; } = endDim;

    public override Tensor Forward(Tensor input) => input.Flatten(StartDim, EndDim);
}

/// <summary>Splits axis <c>dim</c> into <c>sizes</c>, as <c>torch.nn.Unflatten</c> ([N, 784] → [N, 1, 28, 28] with dim 1, sizes (1, 28, 28)).</summary>
public sealed class Unflatten(int dim, params int[] sizes) : Module
{
    public int Dim { get; } = dim;
    public int[] Sizes { get; } = sizes;

    public override Tensor Forward(Tensor input) => input.Unflatten(Dim, Sizes);
}

/// <summary>
/// Resizes images, as <c>torch.nn.Upsample</c>: to <c>size</c> or by <c>scaleFactor</c>, mode "nearest" (default) or
/// "bilinear" (<see cref="Tensor.Interpolate"/>).
/// </summary>
public sealed class Upsample : Module
{
    public Upsample(Pair? size = null, double? scaleFactor = null, string mode = "nearest", bool? alignCorners = null)
    {
        if ((size == null) == (scaleFactor == null))
            throw new ArgumentException("Upsample: give exactly one of size and scale_factor.");
        if (mode is not ("nearest" or "bilinear"))
            throw new ArgumentException($"Upsample: mode must be \"nearest\" or \"bilinear\", got \"{mode}\".");
        Size = size;
        ScaleFactor = scaleFactor;
        Mode = mode;
        AlignCorners = alignCorners;
    }

    public Pair? Size { get; }
    public double? ScaleFactor { get; }
    public string Mode { get; }
    public bool? AlignCorners { get; }

    public override Tensor Forward(Tensor input) => Tensor.Interpolate(input, Size, ScaleFactor, Mode, AlignCorners);
}
