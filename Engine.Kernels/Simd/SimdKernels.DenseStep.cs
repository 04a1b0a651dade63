using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// The fused per-sample dense step (math on Ilgpu/DenseStepKernels.cs), as plain loops: the SIMD backend's general
/// path is already launch-free, so it does not prefer this one; it exists so the same step runs, and is tested, on
/// every backend.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    public bool PrefersFusedOnlineStep => false;

    public void DenseForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, DenseStepShape s)
    {
        float* px = Ptr(x), pw = Ptr(w), pb = Ptr(b), py = Ptr(y);
        for (int j = 0; j < s.Outputs; j++)
        {
            float sum = 0f;
            float* row = pw + (long)j * s.Inputs;
            for (int i = 0; i < s.Inputs; i++) sum += row[i] * px[i];
            float v = sum + pb[j];
            py[j] = s.Relu != 0 ? MathF.Max(v, 0f) : v;
        }
    }

    public void DenseForwardCrossEntropy(ArrayView<float> h, ArrayView<float> w, ArrayView<float> b, ArrayView<float> logits,
        ArrayView<float> dz, ArrayView<float> scores, DenseStepShape s)
    {
        DenseForward(h, w, b, logits, s with { Relu = 0 });
        float* z = Ptr(logits), d = Ptr(dz), score = Ptr(scores);
        int best = 0;
        for (int c = 1; c < s.Outputs; c++)
            if (z[c] > z[best]) best = c;
        float max = z[best], total = 0f;
        for (int c = 0; c < s.Outputs; c++) total += MathF.Exp(z[c] - max);
        score[2 * s.Slot] = max + MathF.Log(total) - z[s.Label];
        score[2 * s.Slot + 1] = best == s.Label ? 1f : 0f;
        for (int c = 0; c < s.Outputs; c++) d[c] = MathF.Exp(z[c] - max) / total - (c == s.Label ? 1f : 0f);
    }

    public void DenseBackwardSgd(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> dy,
        ArrayView<float> dx, DenseStepShape s)
    {
        float* px = Ptr(x), pw = Ptr(w), pb = Ptr(b), pdy = Ptr(dy), pdx = s.WriteDx != 0 ? Ptr(dx) : null;
        if (pdx != null)
        {
            for (int i = 0; i < s.Inputs; i++)
            {
                float sum = 0f;
                for (int j = 0; j < s.Outputs; j++) sum += pw[(long)j * s.Inputs + i] * pdy[j];
                pdx[i] = s.Relu != 0 && !(px[i] > 0f) ? 0f : sum;
            }
        }
        for (int j = 0; j < s.Outputs; j++)
        {
            float g = s.Scale * pdy[j];
            float* row = pw + (long)j * s.Inputs;
            for (int i = 0; i < s.Inputs; i++) row[i] += g * px[i];
            pb[j] += s.Scale * pdy[j];
        }
    }
}
