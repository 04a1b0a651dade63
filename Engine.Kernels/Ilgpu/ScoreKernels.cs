using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Progressive-validation scores kept on the device, so online training reads them back in one copy every N samples
/// instead of reading each prediction.
/// </summary>
public static class ScoreKernels
{
    /// <summary>
    /// Slot s of a score buffer: scores[2s] = loss[0]; scores[2s+1] = 1 when argmax_c logits[c] = label (the first
    /// maximum, as torch.argmax), else 0; regression (classes = 0) writes 0 there. One thread: it runs once per sample
    /// on a single row, and the launch, not the C comparisons, is its cost.
    /// </summary>
    public static void ScoreSample(ArrayView<float> logits, int classes, int label, ArrayView<float> loss,
        ArrayView<float> scores, int slot)
    {
        for (int i = GridStride.Start, step = GridStride.Step; i < 1; i += step)
        {
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (logits[c] > logits[best]) best = c;
            scores[2 * slot] = loss[0];
            scores[2 * slot + 1] = classes > 0 && best == label ? 1f : 0f;
        }
    }

    public static void ScoreSample(this KernelContext k, ArrayView<float> logits, int classes, int label,
        ArrayView<float> loss, ArrayView<float> scores, int slot) =>
        k.Load<ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>, int>(ScoreSample)(
            k.ForItems(1), logits, classes, label, loss, scores, slot);
}
