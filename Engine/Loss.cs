using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>Loss functions, each a fused kernel with its own backward; PyTorch's definitions and defaults.</summary>
public static partial class Loss
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
    /// Cross-entropy against class indices in a tensor, as PyTorch's <c>cross_entropy</c> on N-d input: logits
    /// [N, C, d1, …] with labels [N, d1, …] (the class axis is <paramref name="classDim"/>, 1 as PyTorch; −1 takes
    /// [B, T, C] logits with [B, T] labels, a sequence model's layout). Labels are int64/int32 (or whole numbers in a
    /// float tensor). The class axis is moved last and the rest flattened to rows, so every row counts once in the mean.
    /// NOTE: reads the labels back to the host to validate them and count the mean; pass an <c>int[]</c> in a hot loop.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, Reduction reduction = Reduction.Mean,
        int ignoreIndex = -100, float[]? weight = null, float labelSmoothing = 0f, int classDim = 1)
    {
        Tensor.CheckOperands("cross_entropy", logits);
        Tensor.CheckOperandsAnyType("cross_entropy", logits, labels);
        int[] shape = logits.Shape;
        if (shape.Length < 1)
            throw new ArgumentException("cross_entropy: logits must have a class axis, got a scalar.");
        int c = Shapes.NormalizeAxis("cross_entropy", shape.Length == 1 ? 0 : classDim, shape);
        var expected = shape.Where((_, i) => i != c).ToArray();
        if (!labels.Shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"cross_entropy: labels of shape {Shapes.Format(labels.Shape)} for logits {Shapes.Format(shape)} with " +
                $"classes on axis {c}; expected labels of shape {Shapes.Format(expected)}.");
        int[] indices;
        if (labels.DType == DType.Float32)
        {
            var values = labels.ToArray();
            indices = new int[values.Length];
            for (int i = 0; i < values.Length; i++)
            {
                if (values[i] != MathF.Floor(values[i]) || float.IsInfinity(values[i]))
                    throw new ArgumentException(
                        $"cross_entropy: label at index {i} is {values[i]}, not a class index.", nameof(labels));
                indices[i] = (int)Math.Clamp(values[i], int.MinValue, int.MaxValue);
            }
        }
        else if (labels.DType.IsInteger()) indices = labels.DType == DType.Int32 ? labels.ToArray<int>()
            : labels.ToArray<long>().Select(v => (int)v).ToArray();
        else throw new ArgumentException("cross_entropy: labels must be class indices (int64), got a bool tensor.");
        var rows = logits;
        if (shape.Length == 1) rows = logits.Reshape(1, shape[0]);
        else if (c != shape.Length - 1)
        {
            var perm = Enumerable.Range(0, shape.Length).Where(i => i != c).Append(c).ToArray();
            rows = logits.Permute(perm);
        }
        if (rows.Rank != 2) rows = rows.Reshape(-1, shape[c]);
        return CrossEntropy(rows, indices, reduction, ignoreIndex, weight, labelSmoothing);
    }

    /// <summary>Mean (or sum) absolute error |input − target| (PyTorch <c>l1_loss</c>); shapes broadcast.</summary>
    public static Tensor L1(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
        Reduce((input - target).Abs(), reduction);

    /// <summary>
    /// Huber loss (PyTorch <c>huber_loss</c>): ½d² where |d| ≤ δ, δ(|d| − ½δ) beyond, d = input − target; computed as
    /// ½c² + δ(|d| − c) with c = min(|d|, δ), which is the same and smooth at the seam.
    /// </summary>
    public static Tensor Huber(Tensor input, Tensor target, float delta = 1f, Reduction reduction = Reduction.Mean)
    {
        if (!(delta > 0f))
            throw new ArgumentOutOfRangeException(nameof(delta), $"huber_loss: delta must be > 0, got {delta}.");
        var abs = (input - target).Abs();
        var clipped = abs.Clamp(0f, delta);
        return Reduce(clipped * clipped * 0.5f + (abs - clipped) * delta, reduction);
    }

    /// <summary>Smooth L1 (PyTorch <c>smooth_l1_loss</c>): Huber with δ = β, divided by β.</summary>
    public static Tensor SmoothL1(Tensor input, Tensor target, float beta = 1f, Reduction reduction = Reduction.Mean)
    {
        if (beta == 0f) return L1(input, target, reduction);
        return Huber(input, target, beta, reduction) / beta;
    }

    /// <summary>
    /// Negative log-likelihood of log-probabilities [N, C] (or [N, C, d…] with labels [N, d…]) against int64 class
    /// indices (PyTorch <c>nll_loss</c>): −mean of input[n, label[n]]; labels equal to <paramref name="ignoreIndex"/>
    /// count nothing. Labels are checked on the device (an index out of range is reported naming the op).
    /// </summary>
    public static Tensor Nll(Tensor logProbs, Tensor labels, Reduction reduction = Reduction.Mean, int ignoreIndex = -100)
    {
        Tensor.CheckOperands("nll_loss", logProbs);
        Tensor.CheckOperandsAnyType("nll_loss", logProbs, labels);
        var shape = logProbs.Shape;
        if (shape.Length < 2 || !labels.Shape.SequenceEqual(shape.Where((_, i) => i != 1)))
            throw new ArgumentException(
                $"nll_loss: input {Shapes.Format(shape)} and labels {Shapes.Format(labels.Shape)} are not [N, C, …] and [N, …].");
        var keep = labels.Ne(ignoreIndex);
        // Ignored labels pick class 0 (any valid one) and are masked out of the sum and the count.
        var safe = Tensor.Where(keep, labels, 0f).Unsqueeze(1);
        var picked = logProbs.Gather(1, safe).Squeeze(1);
        var masked = Tensor.Where(keep, -picked, 0f);
        return reduction == Reduction.Sum ? masked.Sum() : masked.Sum() / keep.Float().Sum();
    }

    /// <summary>
    /// Binary cross-entropy of probabilities p against targets y (PyTorch <c>binary_cross_entropy</c>):
    /// −(y·ln p + (1 − y)·ln(1 − p)), each log clamped at −100 as PyTorch does.
    /// </summary>
    public static Tensor Bce(Tensor probs, Tensor target, Reduction reduction = Reduction.Mean)
    {
        var logP = probs.Log().Clamp(-100f, float.MaxValue);
        var log1mP = (1f - probs).Log().Clamp(-100f, float.MaxValue);
        return Reduce(-(target * logP + (1f - target) * log1mP), reduction);
    }

    /// <summary>
    /// Kullback–Leibler divergence (PyTorch <c>kl_div</c>): input holds log q, target p (or log p with
    /// <paramref name="logTarget"/>); terms p·(ln p − log q), 0 where p = 0. <paramref name="batchMean"/> divides the
    /// sum by the batch size (the mathematically right mean, PyTorch's <c>reduction="batchmean"</c>); otherwise mean over
    /// elements or sum.
    /// </summary>
    public static Tensor KlDiv(Tensor input, Tensor target, Reduction reduction = Reduction.Mean, bool batchMean = false,
        bool logTarget = false)
    {
        Tensor terms;
        if (logTarget) terms = target.Exp() * (target - input);
        else
        {
            var positive = target.Gt(0f);
            var safe = Tensor.Where(positive, target, 1f);
            terms = Tensor.Where(positive, target * (safe.Log() - input), 0f);
        }
        if (batchMean) return terms.Sum() / input.Shape[0];
        return Reduce(terms, reduction);
    }

    private static Tensor Reduce(Tensor terms, Reduction reduction) =>
        reduction == Reduction.Sum ? terms.Sum() : terms.Mean();

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
