using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Softmax and log-softmax along the middle axis of x = [Outer, Len, Inner]; one thread per line.</summary>
/// <remarks>NOTE: every line subtracts its maximum before exponentiating, so e^x never overflows.</remarks>
public static class SoftmaxKernels
{
    /// <summary>
    /// Softmax: y[l] = e^(x[l] − m) / Σ_k e^(x[k] − m); log-softmax (<paramref name="log"/> ≠ 0):
    /// y[l] = x[l] − m − ln Σ_k e^(x[k] − m), with m = max_k x[k].
    /// </summary>
    public static void Forward(ArrayView<float> x, ArrayView<float> y, AxisView v, int log)
    {
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            float max = x[v.Index(line, 0)];
            for (int l = 1; l < v.Len; l++) max = XMath.Max(max, x[v.Index(line, l)]);
            float sum = 0f;
            for (int l = 0; l < v.Len; l++) sum += XMath.Exp(x[v.Index(line, l)] - max);
            float logSum = XMath.Log(sum);
            for (int l = 0; l < v.Len; l++)
            {
                int i = v.Index(line, l);
                y[i] = log != 0 ? x[i] - max - logSum : XMath.Exp(x[i] - max) / sum;
            }
        }
    }

    /// <summary>
    /// Backward from the output y. Softmax: dx[l] += y[l]·(dy[l] − Σ_k dy[k]·y[k]).
    /// Log-softmax: dx[l] += dy[l] − e^(y[l])·Σ_k dy[k].
    /// </summary>
    public static void Backward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, AxisView v, int log)
    {
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            float s = 0f;
            for (int l = 0; l < v.Len; l++)
            {
                int i = v.Index(line, l);
                s += log != 0 ? dy[i] : dy[i] * y[i];
            }
            for (int l = 0; l < v.Len; l++)
            {
                int i = v.Index(line, l);
                dx[i] += log != 0 ? dy[i] - XMath.Exp(y[i]) * s : y[i] * (dy[i] - s);
            }
        }
    }

    public static void Softmax(this KernelContext k, ArrayView<float> x, ArrayView<float> y, AxisView v, bool log) =>
        k.Load<ArrayView<float>, ArrayView<float>, AxisView, int>(Forward)(k.ForItems(v.Lines), x, y, v, log ? 1 : 0);

    public static void SoftmaxGrad(this KernelContext k, ArrayView<float> y, ArrayView<float> dy,
        ArrayView<float> dx, AxisView v, bool log) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, AxisView, int>(Backward)(
            k.ForItems(v.Lines), y, dy, dx, v, log ? 1 : 0);
}
