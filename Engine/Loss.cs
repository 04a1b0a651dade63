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
    /// Softmax cross-entropy of logits [rows, classes] against class indices: mean (or sum) over rows of
    /// −log softmax(logits[r])[label[r]], fused and numerically stable (the row max is subtracted).
    /// Backward: dlogits += g·s·(softmax − onehot(label)). Labels are checked on the host before launch.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">a label outside [0, classes), naming its index and value.</exception>
    public static Tensor CrossEntropy(Tensor logits, int[] labels, Reduction reduction = Reduction.Mean)
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
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] < 0 || labels[i] >= classes)
                throw new ArgumentOutOfRangeException(nameof(labels),
                    $"cross_entropy: label at index {i} is {labels[i]}, outside [0, {classes}) for logits of shape " +
                    $"{Shapes.Format(shape)}.");
        }

        var device = logits.Device;
        var k = device.Kernels;
        var labelBuffer = device.Pool.Rent<int>(rows);
        k.Upload<int>(labels, labelBuffer.View);
        var rowLoss = device.Pool.Rent<float>(rows);
        var loss = Tensor.Uninitialized(device, Array.Empty<int>());
        float scale = reduction == Reduction.Mean ? 1f / rows : 1f;
        k.CrossEntropyRows(logits.View, labelBuffer.View, rowLoss.View, classes);
        k.SumAll<Identity>(rowLoss.View, rowLoss.View, loss.View, scale);
        device.Pool.Return(rowLoss);
        return Tensor.Record(loss, "cross_entropy", new[] { logits },
            dloss => k.CrossEntropyGrad(logits.View, labelBuffer.View, dloss, logits.GradTarget(), classes, scale),
            onRelease: () => device.Pool.Return(labelBuffer));
    }

    /// <summary>
    /// Cross-entropy against class indices held in a tensor of shape [rows] (whole numbers stored as floats).
    /// NOTE: reads the labels back to the host to validate them; pass an <c>int[]</c> in a hot loop.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, Reduction reduction = Reduction.Mean)
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
        return CrossEntropy(logits, indices, reduction);
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
        k.SumAll<TTerm>(pred.View, target.View, loss.View, scale);
        return Tensor.Record(loss, op, new[] { pred, target }, dloss =>
        {
            ArrayView<float> dp = pred.RequiresGrad ? pred.GradTarget() : pred.View;
            ArrayView<float> dt = target.RequiresGrad ? target.GradTarget() : pred.View;
            k.SumAllGrad<TTerm>(pred.View, target.View, dloss, dp, dt, scale, pred.RequiresGrad, target.RequiresGrad);
        });
    }
}
