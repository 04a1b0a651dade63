using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// The fused per-sample dense step (math on Ilgpu/DenseStepKernels.cs) as vector loops: the forward is one dot product
/// per weight row; the backward makes one pass over the weights, each row read once for dx (dx += dy[j]·W[j, :]) and
/// written once with its update (W[j, :] += Scale·dy[j]·x). Large layers split their rows over the pool.
/// </summary>
/// <remarks>
/// The backend does not prefer it (<see cref="PrefersFusedOnlineStep"/> is false): measured on mlp-s it was no faster
/// than the general path here, whose per-sample step has no launches to save and whose rank-1 update is bound by the
/// same memory traffic. <c>OnlineTrainer.FusedSteps = true</c> takes it anyway.
/// </remarks>
public sealed unsafe partial class SimdKernels
{
    public bool PrefersFusedOnlineStep => false;

    /// <summary>
    /// Weights of at least this many elements are split by rows over the pool: each core then keeps its share of a
    /// layer in its own L2 from one step to the next (784×256 floats is 800 KB: too much for one core's cache).
    /// </summary>
    private const int DenseParallelElements = 1 << 16;

    private bool SplitRows(DenseStepShape s) => Pool.Threads > 1 && (long)s.Outputs * s.Inputs >= DenseParallelElements && s.Outputs >= Pool.Threads;

    public void DenseForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, DenseStepShape s)
    {
        if (SplitRows(s)) Pool.Run(new DenseRows(Ptr(x), Ptr(w), Ptr(b), Ptr(y), null, s, forward: true), Pool.Threads);
        else DenseForwardRows(Ptr(x), Ptr(w), Ptr(b), Ptr(y), s, 0, s.Outputs);
    }

    private static void DenseForwardRows(float* x, float* w, float* b, float* y, DenseStepShape s, int from, int to)
    {
        if (Lanes.Wide) DenseForward<F512>(x, w, b, y, s, from, to);
        else DenseForward<F256>(x, w, b, y, s, from, to);
    }

    /// <summary>A band of rows of the forward, or of a backward that writes no dx (rows are then independent).</summary>
    private sealed class DenseRows(float* x, float* w, float* b, float* y, float* dy, DenseStepShape s, bool forward) : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            int from = (int)((long)s.Outputs * part / parts), to = (int)((long)s.Outputs * (part + 1) / parts);
            if (forward) DenseForwardRows(x, w, b, y, s, from, to);
            else if (Lanes.Wide) DenseBackwardSgd<F512>(x, w, b, dy, null, s, from, to);
            else DenseBackwardSgd<F256>(x, w, b, dy, null, s, from, to);
        }
    }

    /// <summary>y[j] = b[j] + W[j, :]·x (then ReLU) for rows [from, to), four accumulators per row.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void DenseForward<TV>(float* x, float* w, float* b, float* y, DenseStepShape s, int from, int to)
        where TV : struct, IFloatVector<TV>
    {
        int n = s.Inputs, width = TV.Count;
        for (int j = from; j < to; j++)
        {
            float* row = w + (long)j * n;
            TV a0 = default, a1 = default, a2 = default, a3 = default;
            int i = 0;
            for (; i + 4 * width <= n; i += 4 * width)
            {
                a0 = TV.MultiplyAdd(TV.Load(row + i), TV.Load(x + i), a0);
                a1 = TV.MultiplyAdd(TV.Load(row + i + width), TV.Load(x + i + width), a1);
                a2 = TV.MultiplyAdd(TV.Load(row + i + 2 * width), TV.Load(x + i + 2 * width), a2);
                a3 = TV.MultiplyAdd(TV.Load(row + i + 3 * width), TV.Load(x + i + 3 * width), a3);
            }
            for (; i < n; i += width)
            {
                int r = Math.Min(width, n - i);
                a0 = TV.MultiplyAdd(Lanes.LoadTail<TV>(row + i, r), Lanes.LoadTail<TV>(x + i, r), a0);
            }
            float v = TV.Sum((a0 + a1) + (a2 + a3)) + b[j];
            y[j] = s.Relu != 0 ? MathF.Max(v, 0f) : v;
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
        float* pdx = s.WriteDx != 0 ? Ptr(dx) : null;
        if (pdx == null && SplitRows(s))
            Pool.Run(new DenseRows(Ptr(x), Ptr(w), Ptr(b), null, Ptr(dy), s, forward: false), Pool.Threads);
        else if (Lanes.Wide) DenseBackwardSgd<F512>(Ptr(x), Ptr(w), Ptr(b), Ptr(dy), pdx, s, 0, s.Outputs);
        else DenseBackwardSgd<F256>(Ptr(x), Ptr(w), Ptr(b), Ptr(dy), pdx, s, 0, s.Outputs);
    }

    /// <summary>One pass over W's rows: dx += dy[j]·W[j, :] (old values), W[j, :] += Scale·dy[j]·x; then the ReLU gate on dx.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void DenseBackwardSgd<TV>(float* x, float* w, float* b, float* dy, float* dx, DenseStepShape s, int from, int to)
        where TV : struct, IFloatVector<TV>
    {
        int n = s.Inputs, width = TV.Count;
        if (dx != null) new Span<float>(dx, n).Clear();
        for (int j = from; j < to; j++)
        {
            float* row = w + (long)j * n;
            TV d = TV.Broadcast(dy[j]), g = TV.Broadcast(s.Scale * dy[j]);
            for (int i = 0; i < n; i += width)
            {
                int r = Math.Min(width, n - i);
                var wi = Lanes.LoadTail<TV>(row + i, r);
                if (dx != null) Lanes.StoreTail(TV.MultiplyAdd(d, wi, Lanes.LoadTail<TV>(dx + i, r)), dx + i, r);
                Lanes.StoreTail(TV.MultiplyAdd(g, Lanes.LoadTail<TV>(x + i, r), wi), row + i, r);
            }
            b[j] += s.Scale * dy[j];
        }
        if (dx == null || s.Relu == 0) return;
        for (int i = 0; i < n; i++)
            if (!(x[i] > 0f)) dx[i] = 0f;
    }
}
