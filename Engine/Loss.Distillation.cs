using System.Globalization;

namespace Engine;

public static partial class Loss
{
    /// <summary>
    /// Knowledge distillation (Hinton, Vinyals and Dean 2015): the student learns the teacher's softened outputs and the
    /// hard labels,
    /// <code>
    /// L = α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(s, y)
    /// </code>
    /// with s the student's logits [N, C], t the teacher's (same shape), y the labels, T the temperature and α the
    /// weight of the soft targets. KL is summed over classes and averaged over the N rows (PyTorch's
    /// <c>F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")</c>); CE is
    /// <see cref="CrossEntropy(Tensor, int[], Reduction, int, float[], float)"/>'s mean. The T² keeps the soft term's
    /// gradient, which scales as 1/T², comparable to the hard term's as T changes. The teacher's logits are detached:
    /// no gradient flows to the teacher. Composed of log-softmax, softmax and <see cref="KlDiv"/>, so it runs on every
    /// backend with autograd.
    /// </summary>
    /// <param name="studentLogits">s [N, C]: the model being trained.</param>
    /// <param name="teacherLogits">t [N, C]: the trained teacher's outputs for the same inputs (detached here).</param>
    /// <param name="labels">y: N class indices.</param>
    /// <param name="temperature">T &gt; 0: 1 is the plain softmax; higher spreads the teacher's probability over the classes.</param>
    /// <param name="alpha">α ∈ [0, 1]: 1 is soft targets only (the labels then add nothing), 0 plain cross-entropy.</param>
    /// <exception cref="ArgumentOutOfRangeException">T ≤ 0 or not finite, α outside [0, 1], naming the value.</exception>
    /// <exception cref="ArgumentException">the logits are not both [N, C] of one shape, or there are not N labels.</exception>
    public static Tensor Distillation(Tensor studentLogits, Tensor teacherLogits, int[] labels, float temperature, float alpha)
    {
        ArgumentNullException.ThrowIfNull(labels);
        CheckDistillation(studentLogits, teacherLogits, temperature, alpha);
        if (labels.Length != studentLogits.Shape[0])
            throw new ArgumentException(
                $"distillation: {labels.Length} labels for logits of shape {Shapes.Format(studentLogits.Shape)}.", nameof(labels));
        var soft = SoftTargetLoss(studentLogits, teacherLogits, temperature);
        return alpha == 1f ? soft * (temperature * temperature)
            : soft * (alpha * temperature * temperature) + CrossEntropy(studentLogits, labels) * (1f - alpha);
    }

    /// <summary>
    /// <see cref="Distillation(Tensor, Tensor, int[], float, float)"/> with the labels in a tensor [N] (int64, int32 or
    /// whole-number floats).
    /// </summary>
    public static Tensor Distillation(Tensor studentLogits, Tensor teacherLogits, Tensor labels, float temperature, float alpha)
    {
        ArgumentNullException.ThrowIfNull(labels);
        CheckDistillation(studentLogits, teacherLogits, temperature, alpha);
        if (!labels.Shape.SequenceEqual(new[] { studentLogits.Shape[0] }))
            throw new ArgumentException(
                $"distillation: labels of shape {Shapes.Format(labels.Shape)} for logits of shape " +
                $"{Shapes.Format(studentLogits.Shape)}; expected [{studentLogits.Shape[0]}].", nameof(labels));
        var soft = SoftTargetLoss(studentLogits, teacherLogits, temperature);
        return alpha == 1f ? soft * (temperature * temperature)
            : soft * (alpha * temperature * temperature) + CrossEntropy(studentLogits, labels) * (1f - alpha);
    }

    /// <summary>KL(softmax(t/T) ‖ softmax(s/T)), batchmean, with t detached.</summary>
    private static Tensor SoftTargetLoss(Tensor student, Tensor teacher, float temperature)
    {
        var target = (teacher.Detach() / temperature).Softmax(1);
        return KlDiv((student / temperature).LogSoftmax(1), target, batchMean: true);
    }

    private static void CheckDistillation(Tensor student, Tensor teacher, float temperature, float alpha)
    {
        Tensor.CheckOperands("distillation", student, teacher);
        if (!(temperature > 0f) || float.IsPositiveInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature,
                $"distillation: temperature = {temperature.ToString(CultureInfo.InvariantCulture)} must be positive and finite.");
        if (!(alpha >= 0f && alpha <= 1f))
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha,
                $"distillation: alpha = {alpha.ToString(CultureInfo.InvariantCulture)} must be in [0, 1].");
        if (student.Rank != 2 || !student.Shape.SequenceEqual(teacher.Shape))
            throw new ArgumentException(
                $"distillation: student logits {Shapes.Format(student.Shape)} and teacher logits " +
                $"{Shapes.Format(teacher.Shape)} must both be [N, C] of one shape.");
    }
}
