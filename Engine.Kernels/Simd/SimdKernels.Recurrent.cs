using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// The fused LSTM and GRU cell steps, the math of Ilgpu/RecurrentKernels.cs (stated there), as vector loops: each row
/// n runs along its H units a register at a time, reading gate k's block at n·G·H + k·H + j (the last register of a
/// row partial), with <see cref="VectorMath.Sigmoid{TV}"/> and <see cref="VectorMath.Tanh{TV}"/>. A step is N·H
/// units, small next to its h·W_hhᵀ product, so it stays on the calling thread.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    public void LstmCellForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> c,
        ArrayView<float> state, ArrayView<float> saved, RecurrentCellShape s)
    {
        s.CheckLstmForward(xGates.Length, hGates.Length, c.Length, state.Length, saved.Length);
        if (s.Units == 0) return;
        if (Lanes.Wide) LstmForward<F512>(Ptr(xGates), Ptr(hGates), Ptr(c), Ptr(state), Ptr(saved), s);
        else LstmForward<F256>(Ptr(xGates), Ptr(hGates), Ptr(c), Ptr(state), Ptr(saved), s);
    }

    public void LstmCellBackward(ArrayView<float> saved, ArrayView<float> c, ArrayView<float> dState,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dC, RecurrentCellShape s)
    {
        s.CheckLstmBackward(saved.Length, c.Length, dState.Length, dXGates.Length, dHGates.Length, dC.Length);
        if (s.Units == 0) return;
        float* dx = dXGates.Length > 0 ? Ptr(dXGates) : null, dh = dHGates.Length > 0 ? Ptr(dHGates) : null;
        float* dc = dC.Length > 0 ? Ptr(dC) : null;
        if (Lanes.Wide) LstmBackward<F512>(Ptr(saved), Ptr(c), Ptr(dState), dx, dh, dc, s);
        else LstmBackward<F256>(Ptr(saved), Ptr(c), Ptr(dState), dx, dh, dc, s);
    }

    public void GruCellForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> h,
        ArrayView<float> hNext, ArrayView<float> saved, RecurrentCellShape s)
    {
        s.CheckGruForward(xGates.Length, hGates.Length, h.Length, hNext.Length, saved.Length);
        if (s.Units == 0) return;
        if (Lanes.Wide) GruForward<F512>(Ptr(xGates), Ptr(hGates), Ptr(h), Ptr(hNext), Ptr(saved), s);
        else GruForward<F256>(Ptr(xGates), Ptr(hGates), Ptr(h), Ptr(hNext), Ptr(saved), s);
    }

    public void GruCellBackward(ArrayView<float> saved, ArrayView<float> h, ArrayView<float> dHNext,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dH, RecurrentCellShape s)
    {
        s.CheckGruBackward(saved.Length, h.Length, dHNext.Length, dXGates.Length, dHGates.Length, dH.Length);
        if (s.Units == 0) return;
        float* dx = dXGates.Length > 0 ? Ptr(dXGates) : null, dhg = dHGates.Length > 0 ? Ptr(dHGates) : null;
        float* dPrev = dH.Length > 0 ? Ptr(dH) : null;
        if (Lanes.Wide) GruBackward<F512>(Ptr(saved), Ptr(h), Ptr(dHNext), dx, dhg, dPrev, s);
        else GruBackward<F256>(Ptr(saved), Ptr(h), Ptr(dHNext), dx, dhg, dPrev, s);
    }

    [MethodImpl(Lanes.Hot)]
    private static void LstmForward<TV>(float* xg, float* hg, float* c, float* state, float* saved,
        RecurrentCellShape s) where TV : struct, IFloatVector<TV>
    {
        int h = s.Hidden, w = TV.Count;
        long units = s.Units;
        for (int n = 0; n < s.Batch; n++)
        {
            float* x = xg + (long)n * 4 * h, hh = hg + (long)n * 4 * h, keep = saved + (long)n * 5 * h;
            float* cRow = c + (long)n * h, hOut = state + (long)n * h, cOut = state + units + (long)n * h;
            for (int j = 0; j < h; j += w)
            {
                int r = Math.Min(w, h - j);
                var i = VectorMath.Sigmoid(Lanes.LoadTail<TV>(x + j, r) + Lanes.LoadTail<TV>(hh + j, r));
                var f = VectorMath.Sigmoid(Lanes.LoadTail<TV>(x + h + j, r) + Lanes.LoadTail<TV>(hh + h + j, r));
                var g = VectorMath.Tanh(Lanes.LoadTail<TV>(x + 2 * h + j, r) + Lanes.LoadTail<TV>(hh + 2 * h + j, r));
                var o = VectorMath.Sigmoid(Lanes.LoadTail<TV>(x + 3 * h + j, r) + Lanes.LoadTail<TV>(hh + 3 * h + j, r));
                var cNext = TV.MultiplyAdd(f, Lanes.LoadTail<TV>(cRow + j, r), i * g);
                var tanhC = VectorMath.Tanh(cNext);
                Lanes.StoreTail(o * tanhC, hOut + j, r);
                Lanes.StoreTail(cNext, cOut + j, r);
                Lanes.StoreTail(i, keep + j, r);
                Lanes.StoreTail(f, keep + h + j, r);
                Lanes.StoreTail(g, keep + 2 * h + j, r);
                Lanes.StoreTail(o, keep + 3 * h + j, r);
                Lanes.StoreTail(tanhC, keep + 4 * h + j, r);
            }
        }
    }

    [MethodImpl(Lanes.Hot)]
    private static void LstmBackward<TV>(float* saved, float* c, float* dState, float* dXGates, float* dHGates,
        float* dC, RecurrentCellShape s) where TV : struct, IFloatVector<TV>
    {
        int h = s.Hidden, w = TV.Count;
        long units = s.Units;
        var one = TV.Broadcast(1f);
        for (int n = 0; n < s.Batch; n++)
        {
            float* keep = saved + (long)n * 5 * h, cRow = c + (long)n * h;
            float* dhRow = dState + (long)n * h, dcRow = dState + units + (long)n * h;
            for (int j = 0; j < h; j += w)
            {
                int r = Math.Min(w, h - j);
                var i = Lanes.LoadTail<TV>(keep + j, r);
                var f = Lanes.LoadTail<TV>(keep + h + j, r);
                var g = Lanes.LoadTail<TV>(keep + 2 * h + j, r);
                var o = Lanes.LoadTail<TV>(keep + 3 * h + j, r);
                var tanhC = Lanes.LoadTail<TV>(keep + 4 * h + j, r);
                var dh = Lanes.LoadTail<TV>(dhRow + j, r);
                var dc = Lanes.LoadTail<TV>(dcRow + j, r) + dh * o * (one - tanhC * tanhC);
                var di = dc * g * i * (one - i);
                var df = dc * Lanes.LoadTail<TV>(cRow + j, r) * f * (one - f);
                var dg = dc * i * (one - g * g);
                var dO = dh * tanhC * o * (one - o);
                if (dXGates != null) AddGates4(dXGates + (long)n * 4 * h + j, h, r, di, df, dg, dO);
                if (dHGates != null) AddGates4(dHGates + (long)n * 4 * h + j, h, r, di, df, dg, dO);
                if (dC != null) AddTail(dC + (long)n * h + j, r, dc * f);
            }
        }
    }

    [MethodImpl(Lanes.Hot)]
    private static void GruForward<TV>(float* xg, float* hg, float* hPrev, float* hNext, float* saved,
        RecurrentCellShape s) where TV : struct, IFloatVector<TV>
    {
        int h = s.Hidden, w = TV.Count;
        var one = TV.Broadcast(1f);
        for (int n = 0; n < s.Batch; n++)
        {
            float* x = xg + (long)n * 3 * h, hh = hg + (long)n * 3 * h, keep = saved + (long)n * 4 * h;
            float* prev = hPrev + (long)n * h, next = hNext + (long)n * h;
            for (int j = 0; j < h; j += w)
            {
                int r = Math.Min(w, h - j);
                var reset = VectorMath.Sigmoid(Lanes.LoadTail<TV>(x + j, r) + Lanes.LoadTail<TV>(hh + j, r));
                var z = VectorMath.Sigmoid(Lanes.LoadTail<TV>(x + h + j, r) + Lanes.LoadTail<TV>(hh + h + j, r));
                var hn = Lanes.LoadTail<TV>(hh + 2 * h + j, r);
                var candidate = VectorMath.Tanh(TV.MultiplyAdd(reset, hn, Lanes.LoadTail<TV>(x + 2 * h + j, r)));
                var result = (one - z) * candidate + z * Lanes.LoadTail<TV>(prev + j, r);
                Lanes.StoreTail(result, next + j, r);
                Lanes.StoreTail(reset, keep + j, r);
                Lanes.StoreTail(z, keep + h + j, r);
                Lanes.StoreTail(candidate, keep + 2 * h + j, r);
                Lanes.StoreTail(hn, keep + 3 * h + j, r);
            }
        }
    }

    [MethodImpl(Lanes.Hot)]
    private static void GruBackward<TV>(float* saved, float* hPrev, float* dHNext, float* dXGates, float* dHGates,
        float* dH, RecurrentCellShape s) where TV : struct, IFloatVector<TV>
    {
        int h = s.Hidden, w = TV.Count;
        var one = TV.Broadcast(1f);
        for (int n = 0; n < s.Batch; n++)
        {
            float* keep = saved + (long)n * 4 * h, prev = hPrev + (long)n * h, dNext = dHNext + (long)n * h;
            for (int j = 0; j < h; j += w)
            {
                int r = Math.Min(w, h - j);
                var reset = Lanes.LoadTail<TV>(keep + j, r);
                var z = Lanes.LoadTail<TV>(keep + h + j, r);
                var candidate = Lanes.LoadTail<TV>(keep + 2 * h + j, r);
                var hn = Lanes.LoadTail<TV>(keep + 3 * h + j, r);
                var dh = Lanes.LoadTail<TV>(dNext + j, r);
                var dn = dh * (one - z) * (one - candidate * candidate);
                var dz = dh * (Lanes.LoadTail<TV>(prev + j, r) - candidate) * z * (one - z);
                var dr = dn * hn * reset * (one - reset);
                if (dXGates != null)
                {
                    float* row = dXGates + (long)n * 3 * h + j;
                    AddTail(row, r, dr);
                    AddTail(row + h, r, dz);
                    AddTail(row + 2 * h, r, dn);
                }
                if (dHGates != null)
                {
                    float* row = dHGates + (long)n * 3 * h + j;
                    AddTail(row, r, dr);
                    AddTail(row + h, r, dz);
                    AddTail(row + 2 * h, r, dn * reset);
                }
                if (dH != null) AddTail(dH + (long)n * h + j, r, dh * z);
            }
        }
    }

    /// <summary>The four LSTM gate blocks at <paramref name="row"/> (gate k at + k·h) += the four gradients.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddGates4<TV>(float* row, int h, int count, TV di, TV df, TV dg, TV dO)
        where TV : struct, IFloatVector<TV>
    {
        AddTail(row, count, di);
        AddTail(row + h, count, df);
        AddTail(row + 2 * h, count, dg);
        AddTail(row + 3 * h, count, dO);
    }

    /// <summary>target[0 .. count) += the first <paramref name="count"/> lanes of <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTail<TV>(float* target, int count, TV value) where TV : struct, IFloatVector<TV> =>
        Lanes.StoreTail(Lanes.LoadTail<TV>(target, count) + value, target, count);
}
