using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Fused softmax-cross-entropy over row-major logits [rows, classes] with integer labels.</summary>
/// <remarks>
/// Labels are validated on the host before launch; the kernels trust them. The mean/sum over rows is a
/// <see cref="ReduceKernels.SumAll{TTerm}"/> of the per-row losses (MSE and BCE are SumAll terms directly).
/// </remarks>
public static class LossKernels
{
    /// <summary>
    /// rowLoss[r] = −log softmax(x[r])[label[r]] = m + ln Σ_c e^(x[r,c] − m) − x[r, label[r]], m = max_c x[r,c].
    /// One thread per row.
    /// </summary>
    public static void CrossEntropyRows(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> rowLoss,
        int classes)
    {
        for (int r = GridStride.Start, step = GridStride.Step, end = rowLoss.IntLength; r < end; r += step)
        {
            int row = r * classes;
            float max = logits[row];
            for (int c = 1; c < classes; c++) max = XMath.Max(max, logits[row + c]);
            float sum = 0f;
            for (int c = 0; c < classes; c++) sum += XMath.Exp(logits[row + c] - max);
            rowLoss[r] = max + XMath.Log(sum) - logits[row + labels[r]];
        }
    }

    /// <summary>
    /// dlogits[r, c] += g·scale·(softmax(x[r])[c] − [c = label[r]]), g = dloss[0] read on the device.
    /// One thread per row.
    /// </summary>
    public static void CrossEntropyBackward(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> dloss,
        ArrayView<float> dlogits, int classes, float scale)
    {
        float g = dloss[0] * scale;
        for (int r = GridStride.Start, step = GridStride.Step, end = labels.IntLength; r < end; r += step)
        {
            int row = r * classes;
            float max = logits[row];
            for (int c = 1; c < classes; c++) max = XMath.Max(max, logits[row + c]);
            float sum = 0f;
            for (int c = 0; c < classes; c++) sum += XMath.Exp(logits[row + c] - max);
            for (int c = 0; c < classes; c++)
            {
                float p = XMath.Exp(logits[row + c] - max) / sum;
                dlogits[row + c] += g * (c == labels[r] ? p - 1f : p);
            }
        }
    }

    public static void CrossEntropyRows(this KernelContext k, ArrayView<float> logits, ArrayView<int> labels,
        ArrayView<float> rowLoss, int classes) =>
        k.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, int>(CrossEntropyRows)(
            k.ForItems(rowLoss.Length), logits, labels, rowLoss, classes);

    public static void CrossEntropyGrad(this KernelContext k, ArrayView<float> logits, ArrayView<int> labels,
        ArrayView<float> dloss, ArrayView<float> dlogits, int classes, float scale) =>
        k.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float>(
            CrossEntropyBackward)(k.ForItems(labels.Length), logits, labels, dloss, dlogits, classes, scale);
}
