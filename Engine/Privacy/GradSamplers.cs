using Engine.Kernels;
using Engine.Nn;
using ILGPU;

namespace Engine.Privacy;

/// <summary>
/// One parameter's per-sample gradients for a batch of B samples, θ's gradient from sample i alone being gᵢ:
/// what DP-SGD needs of them is each ‖gᵢ‖² and the clipped sum Σᵢ fᵢ·gᵢ for per-sample factors f.
/// </summary>
internal abstract class PerSampleGradient
{
    protected PerSampleGradient(Tensor parameter) => Parameter = parameter;

    public Tensor Parameter { get; }

    /// <summary>‖gᵢ‖² for each sample i: [B].</summary>
    public abstract Tensor SquaredNorms();

    /// <summary>Writes Σᵢ fᵢ·gᵢ (<paramref name="factors"/> [B]) into <paramref name="target"/> (the parameter's shape), adding to it.</summary>
    public abstract void AccumulateWeightedSum(Tensor factors, ArrayView<float> target);

    /// <summary>Every gᵢ: [B, ..parameter shape].</summary>
    public abstract Tensor Materialize();
}

/// <summary>Per-sample gradients held whole: samples [B, ..parameter shape] (Opacus' <c>p.grad_sample</c>).</summary>
internal sealed class MaterializedGradient : PerSampleGradient
{
    private readonly Tensor samples;

    public MaterializedGradient(Tensor parameter, Tensor samples) : base(parameter) => this.samples = samples;

    public override Tensor SquaredNorms()
    {
        var flat = samples.Reshape(samples.Shape[0], -1);
        return (flat * flat).Sum(1);
    }

    /// <summary>fᵀ·S over S = samples as [B, P]: one matrix product [1, B]·[B, P].</summary>
    public override void AccumulateWeightedSum(Tensor factors, ArrayView<float> target)
    {
        int b = samples.Shape[0], p = Parameter.Numel;
        samples.Device.Kernels.MatMul<AsStored, AsStored>(factors.Elements, samples.Contiguous().Elements, target, 1, p, b,
            accumulate: true);
    }

    public override Tensor Materialize() => samples.Reshape(Parameter.Shape.Prepend(samples.Shape[0]).ToArray());
}

/// <summary>
/// A <see cref="Linear"/> weight's per-sample gradients over 2-D input, never formed: gᵢ = dyᵢ·xᵢᵀ [out, in] from the
/// output gradient dy [B, out] and the input x [B, in]. ‖dyᵢ xᵢᵀ‖²_F = ‖dyᵢ‖²·‖xᵢ‖² (an outer product's Frobenius norm
/// is the product of its factors' norms) and Σᵢ fᵢ·dyᵢ xᵢᵀ = (f ⊙ dy)ᵀ·x: one matrix product, the cost of the layer's
/// ordinary weight gradient, instead of B·out·in numbers.
/// </summary>
internal sealed class OuterProductGradient : PerSampleGradient
{
    private readonly Tensor outputGrad, input;

    public OuterProductGradient(Tensor parameter, Tensor outputGrad, Tensor input) : base(parameter)
    {
        this.outputGrad = outputGrad;
        this.input = input;
    }

    public override Tensor SquaredNorms() => (outputGrad * outputGrad).Sum(1) * (input * input).Sum(1);

    public override void AccumulateWeightedSum(Tensor factors, ArrayView<float> target)
    {
        int b = input.Shape[0], inputs = input.Shape[1], outputs = outputGrad.Shape[1];
        using var scaled = outputGrad * factors.Unsqueeze(1);
        var x = input.Contiguous();
        scaled.Device.Kernels.MatMul<AsTransposed, AsStored>(scaled.Elements, x.Elements, target, outputs, inputs, b,
            accumulate: true);
    }

    public override Tensor Materialize() => outputGrad.Unsqueeze(2) * input.Unsqueeze(1);
}

/// <summary>
/// The per-sample gradient rules of the supported layers (Opacus' <c>grad_sample/*.py</c>), each from the layer's input
/// x and the gradient dy of the loss with respect to its output, for a batch of B samples on axis 0, without a batch-1
/// loop. dy is already the per-sample loss's gradient (the mean loss's times B); inputs have their batch axis
/// (<see cref="PerSampleGradients"/> checks it).
/// </summary>
internal static class GradSamplers
{
    /// <summary>The layer types with a rule.</summary>
    public static readonly Type[] Supported = { typeof(Linear), typeof(Conv2d), typeof(Embedding), typeof(LayerNorm) };

    public static IEnumerable<PerSampleGradient> For(Module layer, Tensor input, Tensor outputGrad) => layer switch
    {
        Linear l => Linear(l, input, outputGrad),
        Conv2d c => Conv2d(c, input, outputGrad),
        Embedding e => Embedding(e, input, outputGrad),
        LayerNorm n => LayerNorm(n, input, outputGrad),
        _ => throw new NotSupportedException($"per-sample gradients of {layer.GetType().Name} are not supported."),
    };

    /// <summary>
    /// Linear, y = x·Wᵀ + b: for x [B, in], gᵢ(W) = dyᵢ·xᵢᵀ (<see cref="OuterProductGradient"/>) and gᵢ(b) = dyᵢ; for
    /// x [B, T.., in], gᵢ(W) = Σ_t dy_{i,t}·x_{i,t}ᵀ (a batched product [B, out, T]·[B, T, in]) and gᵢ(b) = Σ_t dy_{i,t}.
    /// </summary>
    private static IEnumerable<PerSampleGradient> Linear(Linear layer, Tensor x, Tensor dy)
    {
        if (layer.Weight.RequiresGrad && x.Rank == 2) yield return new OuterProductGradient(layer.Weight, dy, x);
        else if (layer.Weight.RequiresGrad)
        {
            int b = x.Shape[0];
            var x3 = x.Reshape(b, -1, layer.InFeatures);
            var dy3 = dy.Reshape(b, -1, layer.OutFeatures);
            yield return new MaterializedGradient(layer.Weight, dy3.Transpose(1, 2).Bmm(x3));
        }
        if (layer.Bias is { RequiresGrad: true } bias)
            yield return new MaterializedGradient(bias, x.Rank == 2 ? dy : dy.Reshape(x.Shape[0], -1, layer.OutFeatures).Sum(1));
    }

    /// <summary>
    /// Conv2d: gᵢ(W) = dyᵢ·unfold(xᵢ)ᵀ per group, with unfold(x) [B, C·KH·KW, OH·OW] the im2col matrix of every sample at
    /// once (built from KH·KW strided slices of the padded input), so that all B products are one batched product
    /// [B·G, OC/G, P]·[B·G, P, Cg·KH·KW]; gᵢ(b) = Σ_{oh, ow} dyᵢ.
    /// </summary>
    private static IEnumerable<PerSampleGradient> Conv2d(Conv2d layer, Tensor x, Tensor dy)
    {
        int b = x.Shape[0], groups = layer.Groups, oc = layer.OutChannels, oh = dy.Shape[2], ow = dy.Shape[3];
        if (layer.Weight.RequiresGrad)
        {
            var padded = PaddedInput(layer, x);
            int kh = layer.KernelSize.H, kw = layer.KernelSize.W, c = padded.Shape[1];
            var slices = new List<Tensor>(kh * kw);
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                {
                    int top = i * layer.Dilation.H, left = j * layer.Dilation.W;
                    slices.Add(padded
                        .Slice(2, top, top + (oh - 1) * layer.Stride.H + 1, layer.Stride.H)
                        .Slice(3, left, left + (ow - 1) * layer.Stride.W + 1, layer.Stride.W));
                }
            // [B, C, KH·KW, OH, OW] → [B·G, Cg·KH·KW, P]: rows ordered (c, kh, kw) as the weight's [Cg, KH, KW].
            var columns = Tensor.Stack(slices, 2).Reshape(b * groups, c / groups * kh * kw, oh * ow);
            var grads = dy.Reshape(b * groups, oc / groups, oh * ow).Bmm(columns.Transpose(1, 2));
            yield return new MaterializedGradient(layer.Weight, grads.Reshape(b, -1));
        }
        if (layer.Bias is { RequiresGrad: true } bias) yield return new MaterializedGradient(bias, dy.Sum(new[] { 2, 3 }));
    }

    /// <summary>The input as the convolution reads it with zero padding made explicit (padding modes, "same", "valid").</summary>
    private static Tensor PaddedInput(Conv2d layer, Tensor x)
    {
        int kh = layer.KernelSize.H, kw = layer.KernelSize.W;
        (int Before, int After) Axis(int size, int kernel, int dilation) => layer.Padding.Mode switch
        {
            "same" => (dilation * (kernel - 1) / 2, dilation * (kernel - 1) - dilation * (kernel - 1) / 2),
            "valid" => (0, 0),
            _ => (size, size),
        };
        var (top, bottom) = Axis(layer.Padding.H, kh, layer.Dilation.H);
        var (left, right) = Axis(layer.Padding.W, kw, layer.Dilation.W);
        if (top + bottom + left + right == 0) return x;
        return x.Pad(new[] { left, right, top, bottom }, layer.PaddingMode == "zeros" ? "constant" : layer.PaddingMode);
    }

    /// <summary>
    /// Embedding: gᵢ(W) is zero but for the rows sample i looked up, row v receiving Σ_{t: idx_{i,t} = v} dy_{i,t}: a
    /// scatter-add of dy's rows into a [B·V, D] table at rows i·V + idx_{i,t}. The padding row gets nothing, as in the
    /// layer's own backward. The indices are read back to the host to form the scatter's index (one small copy).
    /// </summary>
    private static IEnumerable<PerSampleGradient> Embedding(Embedding layer, Tensor indices, Tensor dy)
    {
        if (!layer.Weight.RequiresGrad) yield break;
        int b = indices.Shape[0], v = layer.NumEmbeddings, d = layer.EmbeddingDim, n = indices.Numel;
        var idx = indices.DType == DType.Int64 ? indices.ToArray<long>() : indices.ToArray<int>().Select(i => (long)i).ToArray();
        int perSample = n / b;
        var rows = new int[n * d];
        var keep = new float[n];
        for (int t = 0; t < n; t++)
        {
            int row = (t / perSample) * v + (int)idx[t];
            rows.AsSpan(t * d, d).Fill(row);
            keep[t] = layer.PaddingIdx == idx[t] ? 0f : 1f;
        }
        var device = dy.Device;
        var src = dy.Reshape(n, d);
        if (layer.PaddingIdx != null) src = src * Tensor.FromArray(device, keep, new[] { n, 1 });
        var table = Tensor.Zeros(device, new[] { b * v, d })
            .ScatterAdd(0, Tensor.FromArray(device, rows, new[] { n, d }), src);
        yield return new MaterializedGradient(layer.Weight, table.Reshape(b, v * d));
    }

    /// <summary>
    /// LayerNorm, y = x̂·γ + β over the normalized trailing axes: gᵢ(γ) = Σ over sample i's other axes of x̂ ⊙ dy, and
    /// gᵢ(β) = Σ of dy there; x̂ = (x − mean)/√(var + eps) is recomputed from x.
    /// </summary>
    private static IEnumerable<PerSampleGradient> LayerNorm(LayerNorm layer, Tensor x, Tensor dy)
    {
        var shape = layer.NormalizedShape;
        int b = x.Shape[0], features = Shapes.Numel(shape);
        if (layer.Weight is { RequiresGrad: true } weight)
        {
            var normalized = Tensor.LayerNorm(x, shape, null, null, layer.Eps);
            yield return new MaterializedGradient(weight, (normalized * dy).Reshape(b, -1, features).Sum(1));
        }
        if (layer.Bias is { RequiresGrad: true } bias)
            yield return new MaterializedGradient(bias, dy.Reshape(b, -1, features).Sum(1));
    }
}
