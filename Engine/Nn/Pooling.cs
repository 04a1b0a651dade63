namespace Engine.Nn;

/// <summary>2-D max pooling, as <c>torch.nn.MaxPool2d</c> (stride defaults to the kernel size). See <see cref="Tensor.MaxPool2d"/>.</summary>
public sealed class MaxPool2d(Pair kernelSize, Pair? stride = null, Pair? padding = null, Pair? dilation = null,
    bool ceilMode = false) : Module
{
    public Pair KernelSize { get; } = kernelSize;
    public Pair Stride { get; } = stride ?? kernelSize;
    public Pair Padding { get; } = padding ?? 0;
    public Pair Dilation { get; } = dilation ?? 1;
    public bool CeilMode { get; } = ceilMode;

    public override Tensor Forward(Tensor input) =>
        Tensor.MaxPool2d(input, KernelSize, Stride, Padding, Dilation, CeilMode);
}

/// <summary>1-D max pooling over [N, C, L], as <c>torch.nn.MaxPool1d</c>.</summary>
public sealed class MaxPool1d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1,
    bool ceilMode = false) : Module
{
    public int KernelSize { get; } = kernelSize;
    public int Stride { get; } = stride ?? kernelSize;
    public int Padding { get; } = padding;
    public int Dilation { get; } = dilation;
    public bool CeilMode { get; } = ceilMode;

    public override Tensor Forward(Tensor input) =>
        Tensor.MaxPool1d(input, KernelSize, Stride, Padding, Dilation, CeilMode);
}

/// <summary>2-D average pooling, as <c>torch.nn.AvgPool2d</c>. See <see cref="Tensor.AvgPool2d"/>.</summary>
public sealed class AvgPool2d(Pair kernelSize, Pair? stride = null, Pair? padding = null, bool ceilMode = false,
    bool countIncludePad = true, int? divisorOverride = null) : Module
{
    public Pair KernelSize { get; } = kernelSize;
    public Pair Stride { get; } = stride ?? kernelSize;
    public Pair Padding { get; } = padding ?? 0;
    public bool CeilMode { get; } = ceilMode;
    public bool CountIncludePad { get; } = countIncludePad;
    public int? DivisorOverride { get; } = divisorOverride;

    public override Tensor Forward(Tensor input) =>
        Tensor.AvgPool2d(input, KernelSize, Stride, Padding, CeilMode, CountIncludePad, DivisorOverride);
}

/// <summary>1-D average pooling over [N, C, L], as <c>torch.nn.AvgPool1d</c>.</summary>
public sealed class AvgPool1d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false,
    bool countIncludePad = true) : Module
{
    public int KernelSize { get; } = kernelSize;
    public int Stride { get; } = stride ?? kernelSize;
    public int Padding { get; } = padding;
    public bool CeilMode { get; } = ceilMode;
    public bool CountIncludePad { get; } = countIncludePad;

    public override Tensor Forward(Tensor input) =>
        Tensor.AvgPool1d(input, KernelSize, Stride, Padding, CeilMode, CountIncludePad);
}

/// <summary>Adaptive average pooling to a fixed output size, as <c>torch.nn.AdaptiveAvgPool2d</c>.</summary>
public sealed class AdaptiveAvgPool2d(Pair outputSize) : Module
{
    public Pair OutputSize { get; } = outputSize;

    public override Tensor Forward(Tensor input) => Tensor.AdaptiveAvgPool2d(input, OutputSize);
}

/// <summary>Adaptive max pooling to a fixed output size, as <c>torch.nn.AdaptiveMaxPool2d</c>.</summary>
public sealed class AdaptiveMaxPool2d(Pair outputSize) : Module
{
    public Pair OutputSize { get; } = outputSize;

    public override Tensor Forward(Tensor input) => Tensor.AdaptiveMaxPool2d(input, OutputSize);
}
