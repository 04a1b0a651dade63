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
    /// rowLoss[r] = −(1 − ε)·w_y·log p_y − (ε/C)·Σ_c w_c·log p_c with log p_c = x[r,c] − m − ln Σ_k e^(x[r,k] − m),
    /// m = max_c x[r,c], y = label[r] (<see cref="CrossEntropyTerms"/>; 0 for an ignored row). One thread per row.
    /// </summary>
    public static void CrossEntropyRows(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> rowLoss,
        int classes, ArrayView<float> weights, CrossEntropyTerms t)
    {
        for (int r = GridStride.Start, step = GridStride.Step, end = rowLoss.IntLength; r < end; r += step)
        {
            int row = r * classes, y = labels[r];
            float max = logits[row];
            for (int c = 1; c < classes; c++) max = XMath.Max(max, logits[row + c]);
            float sum = 0f;
            for (int c = 0; c < classes; c++) sum += XMath.Exp(logits[row + c] - max);
            // −log p_c = (max − x_c) + ln Σ: max is never folded into ln Σ (that rounds away half an ulp of max).
            float logSum = XMath.Log(sum);
            if (y == t.IgnoreIndex)
            {
                rowLoss[r] = 0f;
                continue;
            }
            float loss = (1f - t.Smoothing) * t.WeightOf(weights, y) * ((max - logits[row + y]) + logSum);
            if (t.Smoothing != 0f)
            {
                float spread = 0f;
                for (int c = 0; c < classes; c++) spread += t.WeightOf(weights, c) * ((max - logits[row + c]) + logSum);
                loss += t.Smoothing / classes * spread;
            }
            rowLoss[r] = loss;
        }
    }

    /// <summary>
    /// dlogits[r, k] += g·scale·(p_k·((1 − ε)·w_y + (ε/C)·W) − (1 − ε)·w_y·[k = y] − (ε/C)·w_k), g = dloss[0] read on
    /// the device; ignored rows get nothing. One thread per row.
    /// </summary>
    public static void CrossEntropyBackward(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> dloss,
        ArrayView<float> dlogits, int classes, float scale, ArrayView<float> weights, CrossEntropyTerms t)
    {
        float g = dloss[0] * scale;
        for (int r = GridStride.Start, step = GridStride.Step, end = labels.IntLength; r < end; r += step)
        {
            int row = r * classes, y = labels[r];
            if (y == t.IgnoreIndex) continue;
            float max = logits[row];
            for (int c = 1; c < classes; c++) max = XMath.Max(max, logits[row + c]);
            float sum = 0f;
            for (int c = 0; c < classes; c++) sum += XMath.Exp(logits[row + c] - max);
            float wy = (1f - t.Smoothing) * t.WeightOf(weights, y);
            float spread = t.Smoothing / classes;
            float total = wy + spread * t.WeightSum;
            for (int c = 0; c < classes; c++)
            {
                float p = XMath.Exp(logits[row + c] - max) / sum;
                float d = p * total - spread * t.WeightOf(weights, c) - (c == y ? wy : 0f);
                dlogits[row + c] += g * d;
            }
        }
    }

    public static void CrossEntropyRows(this KernelContext k, ArrayView<float> logits, ArrayView<int> labels,
        ArrayView<float> rowLoss, int classes, ArrayView<float> weights, CrossEntropyTerms t) =>
        k.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, ArrayView<float>, CrossEntropyTerms>(CrossEntropyRows)(
            k.ForItems(rowLoss.Length), logits, labels, rowLoss, classes, weights, t);

    public static void CrossEntropyGrad(this KernelContext k, ArrayView<float> logits, ArrayView<int> labels,
        ArrayView<float> dloss, ArrayView<float> dlogits, int classes, float scale, ArrayView<float> weights,
        CrossEntropyTerms t) =>
        k.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, float, ArrayView<float>,
            CrossEntropyTerms>(CrossEntropyBackward)(k.ForItems(labels.Length), logits, labels, dloss, dlogits, classes,
            scale, weights, t);
}
