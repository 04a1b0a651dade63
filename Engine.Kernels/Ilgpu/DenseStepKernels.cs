using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// The sizes and scalars of the fused per-sample step of a dense network (see <see cref="DenseStepKernels"/>): a layer's
/// outputs and inputs, the sample's label and score slot, the SGD step scale (−lr), and flags.
/// </summary>
public struct DenseStepShape
{
    public int Outputs;
    public int Inputs;
    public int Label;
    public int Slot;

    /// <summary>The parameter update is θ += Scale·g (−lr for plain SGD).</summary>
    public float Scale;

    /// <summary>1: the forward applies ReLU; in the backward, the layer's input came out of a ReLU (gate dx by x &gt; 0).</summary>
    public int Relu;

    /// <summary>1: the backward writes the gradient of the layer's input (0 for the first layer).</summary>
    public int WriteDx;
}

/// <summary>
/// One online (batch-1) step of a Linear/ReLU network with softmax cross-entropy and plain SGD in 2·L launches for L
/// layers, where the general path takes about 14 per layer (products, bias adds, activations, zero-filled gradients, the
/// loss, the score, the update). On a GPU each launch costs ~6 µs, so this is the online rate there. Weights are
/// [out, in] as <c>Linear</c> stores them; x is one sample.
/// </summary>
public static class DenseStepKernels
{
    /// <summary>y[j] = b[j] + Σ_i W[j, i]·x[i], then max(y, 0) when <c>s.Relu</c>. One thread per output (grid-stride).</summary>
    public static void Forward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, DenseStepShape s)
    {
        for (int j = GridStride.Start, step = GridStride.Step; j < s.Outputs; j += step)
        {
            float sum = 0f;
            int row = j * s.Inputs;
            for (int i = 0; i < s.Inputs; i++) sum += w[row + i] * x[i];
            float v = sum + b[j];
            y[j] = s.Relu != 0 ? XMath.Max(v, 0f) : v;
        }
    }

    /// <summary>
    /// The last layer with softmax cross-entropy, in one group: z = W·h + b into <paramref name="logits"/> (one thread
    /// per output), then (thread 0) m = max z, ℓ = m + ln Σ e^(z − m) − z[label], scores[2·slot] = ℓ,
    /// scores[2·slot + 1] = 1 when the first maximum is the label; then dz = softmax(z) − onehot(label).
    /// NOTE: the maximum is subtracted before exponentiating, as everywhere, so large logits do not overflow.
    /// </summary>
    public static void ForwardCrossEntropy(ArrayView<float> h, ArrayView<float> w, ArrayView<float> b, ArrayView<float> logits,
        ArrayView<float> dz, ArrayView<float> scores, DenseStepShape s)
    {
        var shared = SharedMemory.Allocate<float>(2); // [max, Σ e^(z − max)]
        int t = Group.IdxX, threads = Group.DimX;
        for (int j = t; j < s.Outputs; j += threads)
        {
            float sum = 0f;
            int row = j * s.Inputs;
            for (int i = 0; i < s.Inputs; i++) sum += w[row + i] * h[i];
            logits[j] = sum + b[j];
        }
        Group.Barrier();
        if (t == 0)
        {
            int best = 0;
            for (int c = 1; c < s.Outputs; c++)
                if (logits[c] > logits[best]) best = c;
            float max = logits[best], total = 0f;
            for (int c = 0; c < s.Outputs; c++) total += XMath.Exp(logits[c] - max);
            shared[0] = max;
            shared[1] = total;
            scores[2 * s.Slot] = (max - logits[s.Label]) + XMath.Log(total);
            scores[2 * s.Slot + 1] = best == s.Label ? 1f : 0f;
        }
        Group.Barrier();
        for (int j = t; j < s.Outputs; j += threads)
            dz[j] = XMath.Exp(logits[j] - shared[0]) / shared[1] - (j == s.Label ? 1f : 0f);
    }

    /// <summary>
    /// Backward and SGD step of one layer: thread i (an input) first reads column i of the old W for
    /// dx[i] = Σ_j W[j, i]·dy[j] (times [x[i] &gt; 0] when the input came out of a ReLU; skipped without
    /// <c>s.WriteDx</c>), then updates that column, W[j, i] += Scale·dy[j]·x[i], so no other thread touches it; thread
    /// i &lt; Outputs also updates b[i] += Scale·dy[i]. Grid-stride over max(Inputs, Outputs).
    /// </summary>
    public static void BackwardSgd(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> dy,
        ArrayView<float> dx, DenseStepShape s)
    {
        int items = XMath.Max(s.Inputs, s.Outputs);
        for (int i = GridStride.Start, step = GridStride.Step; i < items; i += step)
        {
            if (i < s.Inputs)
            {
                float xi = x[i];
                if (s.WriteDx != 0)
                {
                    float sum = 0f;
                    for (int j = 0; j < s.Outputs; j++) sum += w[j * s.Inputs + i] * dy[j];
                    dx[i] = s.Relu != 0 && !(xi > 0f) ? 0f : sum;
                }
                float scaled = s.Scale * xi;
                for (int j = 0; j < s.Outputs; j++) w[j * s.Inputs + i] += scaled * dy[j];
            }
            if (i < s.Outputs) b[i] += s.Scale * dy[i];
        }
    }

    public static void DenseForward(this KernelContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> y, DenseStepShape s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseStepShape>(Forward)(
            k.ForItems(s.Outputs), x, w, b, y, s);

    public static void DenseForwardCrossEntropy(this KernelContext k, ArrayView<float> h, ArrayView<float> w,
        ArrayView<float> b, ArrayView<float> logits, ArrayView<float> dz, ArrayView<float> scores, DenseStepShape s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            DenseStepShape>(ForwardCrossEntropy)(new KernelConfig(1, k.GroupSize), h, w, b, logits, dz, scores, s);

    public static void DenseBackwardSgd(this KernelContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> dy, ArrayView<float> dx, DenseStepShape s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DenseStepShape>(BackwardSgd)(
            k.ForItems(Math.Max(s.Inputs, s.Outputs)), x, w, b, dy, dx, s);
}
