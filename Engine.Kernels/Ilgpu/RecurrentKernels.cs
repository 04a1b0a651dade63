using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// The element-wise half of one LSTM or GRU time step, fused: the matrix products x·W_ihᵀ + b_ih (for every step at
/// once) and h·W_hhᵀ (+ b_hh) run before it as GEMMs, and one launch turns their sums into the gates and the new state.
/// Layout and thread mapping: <see cref="RecurrentCellShape"/> (thread t = n·H + j). σ is
/// <see cref="SigmoidOp"/>, tanh <see cref="TanhOp"/>, the scalar forms the element-wise kernels use.
/// </summary>
/// <remarks>
/// LSTM (torch.nn.LSTM, gates i, f, g, o), from a = xGates + hGates:
/// i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o); c′ = f∘c + i∘g; h′ = o∘tanh(c′).
/// Backward, with dh′ and dc′ the state's gradients: dĉ = dc′ + dh′∘o∘(1 − tanh²c′);
/// da_i = dĉ∘g∘i(1 − i), da_f = dĉ∘c∘f(1 − f), da_g = dĉ∘i∘(1 − g²), da_o = dh′∘tanh(c′)∘o(1 − o); dc += dĉ∘f.
/// The same da goes to xGates and hGates (they are summed).
/// <para>
/// GRU (torch.nn.GRU, gates r, z, n), where hGates = h·W_hhᵀ + b_hh keeps its n block apart:
/// r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r∘h_n); h′ = (1 − z)∘n + z∘h.
/// Backward from dh′: da_n = dh′∘(1 − z)∘(1 − n²), da_z = dh′∘(h − n)∘z(1 − z), da_r = da_n∘h_n∘r(1 − r);
/// dxGates += (da_r, da_z, da_n), dhGates += (da_r, da_z, da_n∘r), dh += dh′∘z.
/// </para>
/// The forward saves the activated gates (and tanh c′, or h_n) so the backward needs no transcendental function.
/// </remarks>
public static class RecurrentKernels
{
    private static float Sigmoid(float x) => default(SigmoidOp).Forward(x, 0f, 0f);

    private static float Tanh(float x) => default(TanhOp).Forward(x, 0f, 0f);

    /// <summary>state = [h′; c′] ([2, N, H]); saved = [i, f, g, o, tanh c′] per row ([N, 5H]).</summary>
    public static void LstmForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> c,
        ArrayView<float> state, ArrayView<float> saved, RecurrentCellShape s)
    {
        int h = s.Hidden, units = s.Batch * h;
        for (int t = GridStride.Start, step = GridStride.Step; t < units; t += step)
        {
            int n = t / h, j = t % h, gates = n * 4 * h + j, keep = n * 5 * h + j;
            float i = Sigmoid(xGates[gates] + hGates[gates]);
            float f = Sigmoid(xGates[gates + h] + hGates[gates + h]);
            float g = Tanh(xGates[gates + 2 * h] + hGates[gates + 2 * h]);
            float o = Sigmoid(xGates[gates + 3 * h] + hGates[gates + 3 * h]);
            float cNext = f * c[t] + i * g;
            float tanhC = Tanh(cNext);
            state[t] = o * tanhC;
            state[units + t] = cNext;
            saved[keep] = i;
            saved[keep + h] = f;
            saved[keep + 2 * h] = g;
            saved[keep + 3 * h] = o;
            saved[keep + 4 * h] = tanhC;
        }
    }

    /// <summary>dXGates, dHGates += da and dC += dĉ∘f from dState = [dh′; dc′]; an empty target is skipped.</summary>
    public static void LstmBackward(ArrayView<float> saved, ArrayView<float> c, ArrayView<float> dState,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dC, RecurrentCellShape s)
    {
        int h = s.Hidden, units = s.Batch * h;
        bool wantX = dXGates.Length > 0, wantH = dHGates.Length > 0, wantC = dC.Length > 0;
        for (int t = GridStride.Start, step = GridStride.Step; t < units; t += step)
        {
            int n = t / h, j = t % h, gates = n * 4 * h + j, keep = n * 5 * h + j;
            float i = saved[keep], f = saved[keep + h], g = saved[keep + 2 * h], o = saved[keep + 3 * h];
            float tanhC = saved[keep + 4 * h];
            float dh = dState[t];
            float dc = dState[units + t] + dh * o * (1f - tanhC * tanhC);
            float di = dc * g * i * (1f - i);
            float df = dc * c[t] * f * (1f - f);
            float dg = dc * i * (1f - g * g);
            float dO = dh * tanhC * o * (1f - o);
            if (wantX)
            {
                dXGates[gates] += di;
                dXGates[gates + h] += df;
                dXGates[gates + 2 * h] += dg;
                dXGates[gates + 3 * h] += dO;
            }
            if (wantH)
            {
                dHGates[gates] += di;
                dHGates[gates + h] += df;
                dHGates[gates + 2 * h] += dg;
                dHGates[gates + 3 * h] += dO;
            }
            if (wantC) dC[t] += dc * f;
        }
    }

    /// <summary>hNext = h′ ([N, H]); saved = [r, z, n, h_n] per row ([N, 4H]).</summary>
    public static void GruForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> hPrev,
        ArrayView<float> hNext, ArrayView<float> saved, RecurrentCellShape s)
    {
        int h = s.Hidden, units = s.Batch * h;
        for (int t = GridStride.Start, step = GridStride.Step; t < units; t += step)
        {
            int n = t / h, j = t % h, gates = n * 3 * h + j, keep = n * 4 * h + j;
            float r = Sigmoid(xGates[gates] + hGates[gates]);
            float z = Sigmoid(xGates[gates + h] + hGates[gates + h]);
            float hn = hGates[gates + 2 * h];
            float candidate = Tanh(xGates[gates + 2 * h] + r * hn);
            hNext[t] = (1f - z) * candidate + z * hPrev[t];
            saved[keep] = r;
            saved[keep + h] = z;
            saved[keep + 2 * h] = candidate;
            saved[keep + 3 * h] = hn;
        }
    }

    /// <summary>dXGates, dHGates and dH += their gradients from dHNext; an empty target is skipped.</summary>
    public static void GruBackward(ArrayView<float> saved, ArrayView<float> hPrev, ArrayView<float> dHNext,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dH, RecurrentCellShape s)
    {
        int h = s.Hidden, units = s.Batch * h;
        bool wantX = dXGates.Length > 0, wantH = dHGates.Length > 0, wantPrev = dH.Length > 0;
        for (int t = GridStride.Start, step = GridStride.Step; t < units; t += step)
        {
            int n = t / h, j = t % h, gates = n * 3 * h + j, keep = n * 4 * h + j;
            float r = saved[keep], z = saved[keep + h], candidate = saved[keep + 2 * h], hn = saved[keep + 3 * h];
            float dh = dHNext[t];
            float dn = dh * (1f - z) * (1f - candidate * candidate);
            float dz = dh * (hPrev[t] - candidate) * z * (1f - z);
            float dr = dn * hn * r * (1f - r);
            if (wantX)
            {
                dXGates[gates] += dr;
                dXGates[gates + h] += dz;
                dXGates[gates + 2 * h] += dn;
            }
            if (wantH)
            {
                dHGates[gates] += dr;
                dHGates[gates + h] += dz;
                dHGates[gates + 2 * h] += dn * r;
            }
            if (wantPrev) dH[t] += dh * z;
        }
    }

    public static void LstmCellForward(this KernelContext c, ArrayView<float> xGates, ArrayView<float> hGates,
        ArrayView<float> cPrev, ArrayView<float> state, ArrayView<float> saved, RecurrentCellShape s)
    {
        s.CheckLstmForward(xGates.Length, hGates.Length, cPrev.Length, state.Length, saved.Length);
        if (s.Units == 0) return;
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            RecurrentCellShape>(LstmForward)(c.ForItems(s.Units), xGates, hGates, cPrev, state, saved, s);
    }

    public static void LstmCellBackward(this KernelContext c, ArrayView<float> saved, ArrayView<float> cPrev,
        ArrayView<float> dState, ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dC,
        RecurrentCellShape s)
    {
        s.CheckLstmBackward(saved.Length, cPrev.Length, dState.Length, dXGates.Length, dHGates.Length,
            dC.Length);
        if (s.Units == 0) return;
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, RecurrentCellShape>(LstmBackward)(c.ForItems(s.Units), saved, cPrev, dState, dXGates,
            dHGates, dC, s);
    }

    public static void GruCellForward(this KernelContext c, ArrayView<float> xGates, ArrayView<float> hGates,
        ArrayView<float> hPrev, ArrayView<float> hNext, ArrayView<float> saved, RecurrentCellShape s)
    {
        s.CheckGruForward(xGates.Length, hGates.Length, hPrev.Length, hNext.Length, saved.Length);
        if (s.Units == 0) return;
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            RecurrentCellShape>(GruForward)(c.ForItems(s.Units), xGates, hGates, hPrev, hNext, saved, s);
    }

    public static void GruCellBackward(this KernelContext c, ArrayView<float> saved, ArrayView<float> hPrev,
        ArrayView<float> dHNext, ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dH,
        RecurrentCellShape s)
    {
        s.CheckGruBackward(saved.Length, hPrev.Length, dHNext.Length, dXGates.Length, dHGates.Length,
            dH.Length);
        if (s.Units == 0) return;
        c.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, RecurrentCellShape>(GruBackward)(c.ForItems(s.Units), saved, hPrev, dHNext, dXGates,
            dHGates, dH, s);
    }
}
