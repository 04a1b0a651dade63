namespace Engine.Nn;

/// <summary>
/// What the convolution layers share: PyTorch's initialisation (weight and bias ~ U(−1/√fan_in, 1/√fan_in), fan_in =
/// weight.size(1)·kernel area, i.e. kaiming_uniform with a = √5; the weight takes its seed's first numbers and the
/// bias the next, as <see cref="Linear"/>'s do), the state-dict names <c>weight</c> and <c>bias</c>, and the checks
/// of their constructor arguments.
/// </summary>
public abstract class ConvolutionBase : Module
{
    private protected ConvolutionBase(string layer, Device device, int inChannels, int outChannels, int groups,
        int[] weightShape, bool bias, int? seed)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (inChannels < 1 || outChannels < 1)
            throw new ArgumentOutOfRangeException(nameof(inChannels),
                $"{layer}: channels must be ≥ 1, got in_channels {inChannels}, out_channels {outChannels}.");
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException(
                $"{layer}: groups {groups} must be ≥ 1 and divide in_channels {inChannels} and out_channels {outChannels}.");
        if (weightShape.Skip(2).Any(k => k < 1))
            throw new ArgumentOutOfRangeException(nameof(weightShape), $"{layer}: kernel_size must be ≥ 1, got {Shapes.Format(weightShape[2..])}.");
        Layer = layer;
        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        int fanIn = weightShape[1] * weightShape.Skip(2).Aggregate(1, (a, b) => a * b);
        float bound = 1f / MathF.Sqrt(fanIn);
        int stream = Generator.SeedOrNext(seed);
        weight = RegisterParameter("weight", Tensor.RandU(device, weightShape, stream, -bound, bound));
        if (bias)
        {
            var b = Tensor.Uninitialized(device, new[] { outChannels });
            device.Kernels.Random(b.Elements, unchecked((uint)stream), -bound, bound, normal: false,
                offset: unchecked((uint)Shapes.Numel(weightShape)));
            this.bias = RegisterParameter("bias", b);
        }
        AllowPruning(bias ? new[] { "weight", "bias" } : new[] { "weight" });
    }

    /// <summary>The layer as PyTorch prints it, e.g. <c>Conv2d(1, 6, kernel_size=(5, 5))</c>, for error messages.</summary>
    public string Layer { get; }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Groups { get; }
    /// <summary>The weight; once pruned (<see cref="Prune"/>), weight_orig ⊙ weight_mask, as PyTorch's <c>module.weight</c>.</summary>
    public Tensor Weight => Masked(weight);

    /// <summary>The bias [out] or null; once pruned, bias_orig ⊙ bias_mask.</summary>
    public Tensor? Bias => bias is null ? null : Masked(bias);

    private readonly Tensor weight;
    private readonly Tensor? bias;

    /// <summary>Checks the input's rank and channel count, naming the layer.</summary>
    private protected void CheckInput(Tensor input, int spatial)
    {
        ArgumentNullException.ThrowIfNull(input);
        string dims = spatial == 1 ? "L" : "H, W";
        if ((input.Rank != spatial + 2 && input.Rank != spatial + 1) || input.Shape[^(spatial + 1)] != InChannels)
            throw new ArgumentException(
                $"{Layer}: expected input [N, {InChannels}, {dims}] or [{InChannels}, {dims}], got {Shapes.Format(input.Shape)}.");
    }

    private protected static void CheckPaddingMode(string layer, string mode)
    {
        if (mode is not ("zeros" or "reflect" or "replicate"))
            throw new ArgumentException($"{layer}: padding_mode must be \"zeros\", \"reflect\" or \"replicate\", got \"{mode}\".");
    }

    /// <summary>The (before, after) padding of one axis: "same" splits d·(k − 1) with the odd one after, as PyTorch does.</summary>
    private protected static (int Before, int After) AxisPadding(ConvPadding padding, int explicitSize, int kernel,
        int dilation) => padding.Mode switch
    {
        "same" => (dilation * (kernel - 1) / 2, dilation * (kernel - 1) - dilation * (kernel - 1) / 2),
        "valid" => (0, 0),
        _ => (explicitSize, explicitSize),
    };
}

/// <summary>
/// 2-D convolution layer, as <c>torch.nn.Conv2d</c>: weight [out, in/groups, kh, kw], bias [out]; padding sizes,
/// "same" or "valid", with <c>padding_mode</c> "zeros", "reflect" or "replicate" (non-zero modes pad the input
/// first, then convolve without padding, as PyTorch does). See <see cref="Tensor.Conv2d"/> for the math.
/// </summary>
public sealed class Conv2d : ConvolutionBase
{
    public Conv2d(Device device, int inChannels, int outChannels, Pair kernelSize, Pair? stride = null,
        ConvPadding? padding = null, Pair? dilation = null, int groups = 1, bool bias = true,
        string paddingMode = "zeros", int? seed = null)
        : base($"Conv2d({inChannels}, {outChannels}, kernel_size={kernelSize})", device, inChannels, outChannels,
            groups, new[] { outChannels, inChannels / Math.Max(groups, 1), kernelSize.H, kernelSize.W }, bias, seed)
    {
        CheckPaddingMode(Layer, paddingMode);
        KernelSize = kernelSize;
        Stride = stride ?? 1;
        Padding = padding ?? 0;
        Dilation = dilation ?? 1;
        PaddingMode = paddingMode;
        if (Padding.Mode == "same" && Stride != new Pair(1, 1))
            throw new ArgumentException($"{Layer}: padding='same' is not supported for strided convolutions (stride {Stride}).");
    }

    public Pair KernelSize { get; }
    public Pair Stride { get; }
    public ConvPadding Padding { get; }
    public Pair Dilation { get; }
    public string PaddingMode { get; }

    public override Tensor Forward(Tensor input)
    {
        CheckInput(input, spatial: 2);
        if (PaddingMode == "zeros")
            return RunHooks(input, Tensor.Conv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups));
        var (top, bottom) = AxisPadding(Padding, Padding.H, KernelSize.H, Dilation.H);
        var (left, right) = AxisPadding(Padding, Padding.W, KernelSize.W, Dilation.W);
        var padded = input.Pad(new[] { left, right, top, bottom }, PaddingMode);
        return RunHooks(input, Tensor.Conv2d(padded, Weight, Bias, Stride, 0, Dilation, Groups));
    }
}

/// <summary>1-D convolution layer, as <c>torch.nn.Conv1d</c>: weight [out, in/groups, k], bias [out], input [N, C, L].</summary>
public sealed class Conv1d : ConvolutionBase
{
    public Conv1d(Device device, int inChannels, int outChannels, int kernelSize, int stride = 1,
        ConvPadding? padding = null, int dilation = 1, int groups = 1, bool bias = true, string paddingMode = "zeros",
        int? seed = null)
        : base($"Conv1d({inChannels}, {outChannels}, kernel_size=({kernelSize},))", device, inChannels, outChannels,
            groups, new[] { outChannels, inChannels / Math.Max(groups, 1), kernelSize }, bias, seed)
    {
        CheckPaddingMode(Layer, paddingMode);
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding ?? 0;
        Dilation = dilation;
        PaddingMode = paddingMode;
        if (stride < 1) throw new ArgumentException($"{Layer}: stride must be ≥ 1, got {stride}.");
        if (Padding.Mode == "same" && stride != 1)
            throw new ArgumentException($"{Layer}: padding='same' is not supported for strided convolutions (stride {stride}).");
    }

    public int KernelSize { get; }
    public int Stride { get; }
    public ConvPadding Padding { get; }
    public int Dilation { get; }
    public string PaddingMode { get; }

    public override Tensor Forward(Tensor input)
    {
        CheckInput(input, spatial: 1);
        if (PaddingMode == "zeros")
            return Tensor.Conv1d(input, Weight, Bias, Stride, Padding, Dilation, Groups);
        var (left, right) = AxisPadding(Padding, Padding.W, KernelSize, Dilation);
        return Tensor.Conv1d(input.Pad(new[] { left, right }, PaddingMode), Weight, Bias, Stride, 0, Dilation, Groups);
    }
}

/// <summary>
/// 2-D transposed convolution layer, as <c>torch.nn.ConvTranspose2d</c>: weight [in, out/groups, kh, kw] (PyTorch's
/// layout), bias [out]. See <see cref="Tensor.ConvTranspose2d"/>.
/// </summary>
public sealed class ConvTranspose2d : ConvolutionBase
{
    public ConvTranspose2d(Device device, int inChannels, int outChannels, Pair kernelSize, Pair? stride = null,
        Pair? padding = null, Pair? outputPadding = null, int groups = 1, bool bias = true, Pair? dilation = null,
        int? seed = null)
        : base($"ConvTranspose2d({inChannels}, {outChannels}, kernel_size={kernelSize})", device, inChannels,
            outChannels, groups, new[] { inChannels, outChannels / Math.Max(groups, 1), kernelSize.H, kernelSize.W },
            bias, seed)
    {
        KernelSize = kernelSize;
        Stride = stride ?? 1;
        Padding = padding ?? 0;
        OutputPadding = outputPadding ?? 0;
        Dilation = dilation ?? 1;
    }

    public Pair KernelSize { get; }
    public Pair Stride { get; }
    public Pair Padding { get; }
    public Pair OutputPadding { get; }
    public Pair Dilation { get; }

    public override Tensor Forward(Tensor input)
    {
        CheckInput(input, spatial: 2);
        return Tensor.ConvTranspose2d(input, Weight, Bias, Stride, Padding, OutputPadding, Groups, Dilation);
    }
}
