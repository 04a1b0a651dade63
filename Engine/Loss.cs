using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>Loss functions, each a fused kernel with its own backward; PyTorch's definitions and defaults.</summary>
public static class Loss
{
    /// <summary>
    /// Mean squared error: mean (or sum) of (pred − target)² over all elements; shapes must match.
    /// Backward: dpred += g·s·2(pred − target), dtarget += g·s·2(target − pred), s = 1/n for the mean.
    /// </summary>
    public static Tensor Mse(Tensor pred, Tensor target, Reduction reduction = Reduction.Mean) =>
        PairLoss<SquaredError>("mse_loss", pred, target, reduction);

    /// <summary>
    /// Binary cross-entropy on logits x with targets y ∈ [0, 1]: mean (or sum) of
    /// max(x, 0) − x·y + ln(1 + e^(−|x|)) (= −y ln σ(x) − (1 − y) ln(1 − σ(x)), computed stably).
    /// Backward: dx += g·s·(σ(x) − y).
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor target,
        Reduction reduction = Reduction.Mean) =>
        PairLoss<Kernels.BinaryCrossEntropyWithLogits>("binary_cross_entropy_with_logits", logits, target, reduction);

    /// <summary>
    /// Softmax cross-entropy of logits [rows, classes] against class indices, as <c>torch.nn.functional.cross_entropy</c>:
    /// per row −log softmax(logits[r])[label[r]], fused and numerically stable (the row max is subtracted).
    /// <list type="bullet">
    /// <item><paramref name="ignoreIndex"/> (default −100): rows with that label add nothing and leave the mean's count.</item>
    /// <item><paramref name="weight"/>: a weight per class; a row counts w[label], and the mean divides by Σ w[label].</item>
    /// <item><paramref name="labelSmoothing"/> ε ∈ [0, 1]: the target is (1 − ε)·onehot + ε/C, so a row's loss is
    /// −(1 − ε)·w_y·log p_y − (ε/C)·Σ_c w_c·log p_c.</item>
    /// </list>
    /// Backward: dlogits += g·s·(p·((1 − ε)·w_y + (ε/C)·Σw) − (1 − ε)·w_y·onehot(y) − (ε/C)·w). Labels and weights are
    /// checked on the host before launch. A mean over rows that are all ignored is NaN, as in PyTorch.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">a label outside [0, classes) that is not the ignore index, naming its
    /// index and value; a bad weight or smoothing.</exception>
    public static Tensor CrossEntropy(Tensor logits, int[] labels, Reduction reduction = Reduction.Mean,
        int ignoreIndex = -100, float[]? weight = null, float labelSmoothing = 0f)
    {
        Tensor.CheckOperands("cross_entropy", logits);
        ArgumentNullException.ThrowIfNull(labels);
        int[] shape = logits.Shape;
        if (shape.Length != 2)
            throw new ArgumentException(
                $"cross_entropy: logits must be [rows, classes], got shape {Shapes.Format(shape)}.");
        int rows = shape[0], classes = shape[1];
        if (labels.Length != rows)
            throw new ArgumentException(
                $"cross_entropy: {labels.Length} labels for logits of shape {Shapes.Format(shape)} ({rows} rows).");
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing),
                $"cross_entropy: labelSmoothing must be in [0, 1], got {labelSmoothing}.");
        if (weight != null && weight.Length != classes)
            throw new ArgumentException(
                $"cross_entropy: {weight.Length} class weights for logits of shape {Shapes.Format(shape)} ({classes} classes).",
                nameof(weight));
        if (weight != null && Array.FindIndex(weight, w => !float.IsFinite(w) || w < 0f) is int badWeight and >= 0)
            throw new ArgumentOutOfRangeException(nameof(weight),
                $"cross_entropy: class weight {badWeight} is {weight[badWeight]}; weights must be finite and ≥ 0.");
        double counted = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] == ignoreIndex) continue;
            if (labels[i] < 0 || labels[i] >= classes)
                throw new ArgumentOutOfRangeException(nameof(labels),
                    $"cross_entropy: label at index {i} is {labels[i]}, outside [0, {classes}) for logits of shape " +
                    $"{Shapes.Format(shape)}" + (ignoreIndex is >= 0 ? "" : $" (and not the ignore index {ignoreIndex})") + ".");
            counted += weight == null ? 1 : weight[labels[i]];
        }

        var device = logits.Device;
        var k = device.Kernels;
        var labelBuffer = device.Pool.Rent<int>(rows);
        k.Upload<int>(labels, labelBuffer.View);
        var weightBuffer = device.Pool.Rent<float>(weight?.Length ?? 1);
        if (weight != null) k.Upload<float>(weight, weightBuffer.View);
        var terms = new CrossEntropyTerms
        {
            IgnoreIndex = ignoreIndex,
            Smoothing = labelSmoothing,
            Weighted = weight != null ? 1 : 0,
            WeightSum = weight?.Sum() ?? classes,
        };
        var rowLoss = device.Pool.Rent<float>(rows);
        var loss = Tensor.Uninitialized(device, Array.Empty<int>());
        float scale = reduction == Reduction.Mean ? 1f / (float)counted : 1f;
        k.CrossEntropyRows(logits.Elements, labelBuffer.View, rowLoss.View, classes, weightBuffer.View, terms);
        k.SumAll<Identity>(rowLoss.View, rowLoss.View, loss.Elements, scale);
        device.Pool.Return(rowLoss);
        return Tensor.Record(loss, "cross_entropy", new[] { logits },
            dloss => k.CrossEntropyGrad(logits.Elements, labelBuffer.View, dloss, logits.GradTarget(), classes, scale,
                weightBuffer.View, terms),
            onRelease: () =>
            {
                device.Pool.Return(labelBuffer);
                device.Pool.Return(weightBuffer);
            });
    }

    /// <summary>
    /// Cross-entropy against class indices held in a tensor of shape [rows] (whole numbers stored as floats).
    /// NOTE: reads the labels back to the host to validate them; pass an <c>int[]</c> in a hot loop.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, Reduction reduction = Reduction.Mean,
        int ignoreIndex = -100, float[]? weight = null, float labelSmoothing = 0f)
    {
        Tensor.CheckOperands("cross_entropy", logits, labels);
        if (labels.Rank != 1)
            throw new ArgumentException(
                $"cross_entropy: labels must be class indices of shape [rows], got {Shapes.Format(labels.Shape)}.");
        var values = labels.ToArray();
        var indices = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] != MathF.Floor(values[i]) || float.IsInfinity(values[i]))
                throw new ArgumentException(
                    $"cross_entropy: label at index {i} is {values[i]}, not a class index.", nameof(labels));
            indices[i] = (int)Math.Clamp(values[i], int.MinValue, int.MaxValue);
        }
        return CrossEntropy(logits, indices, reduction, ignoreIndex, weight, labelSmoothing);
    }

    private static Tensor PairLoss<TTerm>(string op, Tensor pred, Tensor target, Reduction reduction)
        where TTerm : struct, IPairTerm
    {
        Tensor.CheckOperands(op, pred, target);
        if (!pred.Shape.SequenceEqual(target.Shape))
            throw new ArgumentException(
                $"{op}: input shape {Shapes.Format(pred.Shape)} and target shape {Shapes.Format(target.Shape)} " +
                "must be equal.");
        var k = pred.Device.Kernels;
        float scale = reduction == Reduction.Mean ? 1f / pred.Numel : 1f;
        var loss = Tensor.Uninitialized(pred.Device, Array.Empty<int>());
        k.SumAll<TTerm>(pred.Elements, target.Elements, loss.Elements, scale);
        return Tensor.Record(loss, op, new[] { pred, target }, dloss =>
        {
            ArrayView<float> dp = pred.RequiresGrad ? pred.GradTarget() : pred.Elements;
            ArrayView<float> dt = target.RequiresGrad ? target.GradTarget() : pred.Elements;
            k.SumAllGrad<TTerm>(pred.Elements, target.Elements, dloss, dp, dt, scale, pred.RequiresGrad, target.RequiresGrad);
        });
    }
}
