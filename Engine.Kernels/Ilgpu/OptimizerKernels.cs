using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Option bits of an update rule.</summary>
[Flags]
public enum UpdateFlags
{
    None = 0,
    Maximize = 1,
    Nesterov = 2,
    AmsGrad = 4,
    Centered = 8,
    FirstStep = 16,
    DecoupledDecay = 32,
    Rectified = 64,
}

/// <summary>
/// The scalars of one optimizer step, computed on the host (bias corrections, the current lr, step sizes) and
/// passed by value to the fused update kernels. Each kernel's summary says which fields it reads.
/// </summary>
public struct UpdateScalars
{
    public float Lr;
    public float Beta1;
    public float Beta2;
    public float Alpha;
    public float Eps;
    public float WeightDecay;
    public float L1;
    public float Momentum;
    public float Dampening;
    public float C1;
    public float C2;
    public int Flags;

    public readonly bool Has(UpdateFlags flag) => (Flags & (int)flag) != 0;
}

/// <summary>
/// Fused optimizer update rules: each reads parameter θ, gradient g and its state once and writes them once,
/// in place, over a parameter group's slice of the flat buffers (grid-stride, one thread per element).
/// Every rule first forms the effective gradient g̃ = (maximize ? −g : g) + λ·θ (coupled weight decay, λ ≠ 0)
/// + l1·sign(θ).
/// </summary>
public static class OptimizerKernels
{
    /// <summary>g̃ = ±g + λθ (when decay is coupled and λ ≠ 0) + l1·sign(θ).</summary>
    public static float EffectiveGradient(float g, float theta, UpdateScalars s)
    {
        float e = s.Has(UpdateFlags.Maximize) ? -g : g;
        // Skipped at λ = 0 as PyTorch skips it: 0·θ would turn g̃ into NaN where θ is ±∞.
        if (!s.Has(UpdateFlags.DecoupledDecay) && s.WeightDecay != 0f) e += s.WeightDecay * theta;
        if (s.L1 != 0f) e += s.L1 * (theta > 0f ? 1f : theta < 0f ? -1f : 0f);
        return e;
    }

    /// <summary>Adam-style moments, in place: m ← β₁m + (1 − β₁)g̃ and v ← β₂v + (1 − β₂)g̃².</summary>
    public static void AdvanceMoments(ArrayView<float> expAvg, ArrayView<float> expAvgSq, int i, float d,
        UpdateScalars s, out float m, out float v)
    {
        m = expAvg[i] + (d - expAvg[i]) * (1f - s.Beta1);
        v = s.Beta2 * expAvgSq[i] + (1f - s.Beta2) * d * d;
        expAvg[i] = m;
        expAvgSq[i] = v;
    }

    /// <summary>
    /// SGD: b ← g̃ on the first step, else b ← μb + (1 − τ)g̃ (μ = Momentum, τ = Dampening; skipped when μ = 0);
    /// d = g̃ + μb (Nesterov) or b; θ ← θ − Lr·d.
    /// </summary>
    public static void Sgd(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            if (s.Momentum != 0f)
            {
                float b = s.Has(UpdateFlags.FirstStep) ? d : s.Momentum * buf[i] + (1f - s.Dampening) * d;
                buf[i] = b;
                d = s.Has(UpdateFlags.Nesterov) ? d + s.Momentum * b : b;
            }
            p[i] -= s.Lr * d;
        }
    }

    /// <summary>
    /// AdaGrad: S ← S + g̃²; θ ← θ − C1·g̃ / (√S + ε), with C1 = lr / (1 + (t − 1)·lrDecay) from the host.
    /// </summary>
    public static void AdaGrad(ArrayView<float> p, ArrayView<float> g, ArrayView<float> sum, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            float acc = sum[i] + d * d;
            sum[i] = acc;
            p[i] -= s.C1 * d / (XMath.Sqrt(acc) + s.Eps);
        }
    }

    /// <summary>
    /// RMSprop (α = Alpha): v ← αv + (1 − α)g̃²; centered: ḡ ← αḡ + (1 − α)g̃, a = √(v − ḡ²) + ε, else
    /// a = √v + ε; with momentum μ: b ← μb + g̃/a, θ ← θ − Lr·b; without: θ ← θ − Lr·g̃/a.
    /// </summary>
    public static void RmsProp(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg,
        ArrayView<float> gradAvg, ArrayView<float> buf, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            float v = s.Alpha * squareAvg[i] + (1f - s.Alpha) * d * d;
            squareAvg[i] = v;
            float a;
            if (s.Has(UpdateFlags.Centered))
            {
                float m = gradAvg[i] + (d - gradAvg[i]) * (1f - s.Alpha);
                gradAvg[i] = m;
                a = XMath.Sqrt(v - m * m) + s.Eps;
            }
            else
            {
                a = XMath.Sqrt(v) + s.Eps;
            }
            if (s.Momentum > 0f)
            {
                float b = s.Momentum * buf[i] + d / a;
                buf[i] = b;
                p[i] -= s.Lr * b;
            }
            else
            {
                p[i] -= s.Lr * d / a;
            }
        }
    }

    /// <summary>
    /// Adadelta (ρ = Alpha): v ← ρv + (1 − ρ)g̃²; Δ = √(u + ε) / √(v + ε) · g̃; u ← ρu + (1 − ρ)Δ²;
    /// θ ← θ − Lr·Δ.
    /// </summary>
    public static void Adadelta(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg,
        ArrayView<float> accDelta, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            float v = s.Alpha * squareAvg[i] + (1f - s.Alpha) * d * d;
            squareAvg[i] = v;
            float delta = XMath.Sqrt(accDelta[i] + s.Eps) / XMath.Sqrt(v + s.Eps) * d;
            accDelta[i] = s.Alpha * accDelta[i] + (1f - s.Alpha) * delta * delta;
            p[i] -= s.Lr * delta;
        }
    }

    /// <summary>
    /// Adam / AdamW: decoupled decay first (θ ← θ(1 − Lr·λ)); m ← β₁m + (1 − β₁)g̃; v ← β₂v + (1 − β₂)g̃²;
    /// amsgrad: v̂ ← max(v̂, v) and v̂ replaces v below; θ ← θ − C1·m / (√v / C2 + ε), with
    /// C1 = lr / (1 − β₁ᵗ) and C2 = √(1 − β₂ᵗ) from the host.
    /// </summary>
    public static void Adam(ArrayView<float> p, ArrayView<float> g, ArrayView<float> expAvg,
        ArrayView<float> expAvgSq, ArrayView<float> maxExpAvgSq, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float theta = p[i];
            if (s.Has(UpdateFlags.DecoupledDecay)) theta *= 1f - s.Lr * s.WeightDecay;
            float d = EffectiveGradient(g[i], theta, s);
            AdvanceMoments(expAvg, expAvgSq, i, d, s, out float m, out float v);
            if (s.Has(UpdateFlags.AmsGrad))
            {
                v = XMath.Max(maxExpAvgSq[i], v);
                maxExpAvgSq[i] = v;
            }
            p[i] = theta - s.C1 * m / (XMath.Sqrt(v) / s.C2 + s.Eps);
        }
    }

    /// <summary>
    /// Adamax: m ← β₁m + (1 − β₁)g̃; u ← max(β₂u, |g̃| + ε); θ ← θ − C1·m/u with C1 = lr / (1 − β₁ᵗ).
    /// </summary>
    public static void Adamax(ArrayView<float> p, ArrayView<float> g, ArrayView<float> expAvg,
        ArrayView<float> expInf, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            float m = expAvg[i] + (d - expAvg[i]) * (1f - s.Beta1);
            float u = XMath.Max(s.Beta2 * expInf[i], XMath.Abs(d) + s.Eps);
            expAvg[i] = m;
            expInf[i] = u;
            p[i] -= s.C1 * m / u;
        }
    }

    /// <summary>
    /// NAdam: m ← β₁m + (1 − β₁)g̃; v ← β₂v + (1 − β₂)g̃²; D = √(v / Alpha) + ε with Alpha = 1 − β₂ᵗ;
    /// θ ← θ − C1·g̃/D, then θ ← θ − C2·m/D, with C1 = lr(1 − μₜ)/(1 − Πμ) and C2 = lr·μₜ₊₁/(1 − Πμ·μₜ₊₁).
    /// </summary>
    public static void NAdam(ArrayView<float> p, ArrayView<float> g, ArrayView<float> expAvg,
        ArrayView<float> expAvgSq, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            AdvanceMoments(expAvg, expAvgSq, i, d, s, out float m, out float v);
            float denom = XMath.Sqrt(v / s.Alpha) + s.Eps;
            float theta = p[i] - s.C1 * d / denom;
            p[i] = theta - s.C2 * m / denom;
        }
    }

    /// <summary>
    /// RAdam: m ← β₁m + (1 − β₁)g̃; v ← β₂v + (1 − β₂)g̃²; m̂ = m / Alpha (Alpha = 1 − β₁ᵗ); rectified
    /// (ρₜ &gt; 5): θ ← θ − m̂·Lr·(C2 / (√v + ε))·C1 with C1 = r (the rectification term) and C2 = √(1 − β₂ᵗ);
    /// otherwise θ ← θ − m̂·Lr.
    /// </summary>
    public static void RAdam(ArrayView<float> p, ArrayView<float> g, ArrayView<float> expAvg,
        ArrayView<float> expAvgSq, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            AdvanceMoments(expAvg, expAvgSq, i, d, s, out float m, out float v);
            float corrected = m / s.Alpha;
            p[i] -= s.Has(UpdateFlags.Rectified)
                ? corrected * s.Lr * (s.C2 / (XMath.Sqrt(v) + s.Eps)) * s.C1
                : corrected * s.Lr;
        }
    }

    /// <summary>
    /// Lion (Chen et al. 2023, decoupled decay): c = β₁m + (1 − β₁)g̃; θ ← θ(1 − Lr·λ) − Lr·sign(c);
    /// m ← β₂m + (1 − β₂)g̃.
    /// </summary>
    public static void Lion(ArrayView<float> p, ArrayView<float> g, ArrayView<float> expAvg, UpdateScalars s)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
        {
            float theta = p[i] * (1f - s.Lr * s.WeightDecay);
            float d = EffectiveGradient(g[i], theta, s);
            float c = s.Beta1 * expAvg[i] + (1f - s.Beta1) * d;
            p[i] = theta - s.Lr * (c > 0f ? 1f : c < 0f ? -1f : 0f);
            expAvg[i] = s.Beta2 * expAvg[i] + (1f - s.Beta2) * d;
        }
    }

    /// <summary>
    /// LAMB (You et al. 2019), one group per parameter tensor (segment k = [starts[k], starts[k+1])):
    /// m ← β₁m + (1 − β₁)g̃; v ← β₂v + (1 − β₂)g̃²; r = (m / C1) / (√(v / C2) + ε) + λθ (C1 = 1 − β₁ᵗ,
    /// C2 = 1 − β₂ᵗ); trust = ‖θ‖/‖r‖ over the segment (1 when either norm is 0); θ ← θ − Lr·trust·r.
    /// Pass 1 stores r in <paramref name="scratch"/> and both squared norms in shared memory; pass 2 applies.
    /// </summary>
    public static void Lamb(ArrayView<float> p, ArrayView<float> g, ArrayView<float> expAvg,
        ArrayView<float> expAvgSq, ArrayView<float> scratch, ArrayView<int> starts, UpdateScalars s)
    {
        var shared = SharedMemory.GetDynamic<float>();
        int t = Group.IdxX, width = Group.DimX;
        for (int seg = Grid.IdxX, segStep = Grid.DimX, segEnd = starts.IntLength - 1; seg < segEnd; seg += segStep)
        {
            int from = starts[seg], to = starts[seg + 1];
            float thetaSq = 0f, rSq = 0f;
            for (int i = from + t; i < to; i += width)
            {
                float theta = p[i];
                float d = EffectiveGradient(g[i], theta, s);
                AdvanceMoments(expAvg, expAvgSq, i, d, s, out float m, out float v);
                float r = m / s.C1 / (XMath.Sqrt(v / s.C2) + s.Eps) + s.WeightDecay * theta;
                scratch[i] = r;
                thetaSq += theta * theta;
                rSq += r * r;
            }
            shared[t] = thetaSq;
            shared[width + t] = rSq;
            GroupReduce.TreeSum(shared.SubView(0, width));
            GroupReduce.TreeSum(shared.SubView(width, width));
            float thetaNorm = XMath.Sqrt(shared[0]), rNorm = XMath.Sqrt(shared[width]);
            float trust = thetaNorm > 0f && rNorm > 0f ? thetaNorm / rNorm : 1f;
            for (int i = from + t; i < to; i += width) p[i] -= s.Lr * trust * scratch[i];
            Group.Barrier();
        }
    }

    /// <summary>
    /// result[0] = Σᵢ g̃ᵢ² over the whole buffer, one group (the global norm² AdaptiveSgd divides by).
    /// </summary>
    public static void EffectiveGradientNormSquared(ArrayView<float> p, ArrayView<float> g, ArrayView<float> result,
        UpdateScalars s)
    {
        var scratch = SharedMemory.GetDynamic<float>();
        int t = Group.IdxX;
        float sum = 0f;
        for (int i = t, step = Group.DimX, end = p.IntLength; i < end; i += step)
        {
            float d = EffectiveGradient(g[i], p[i], s);
            sum += d * d;
        }
        scratch[t] = sum;
        GroupReduce.TreeSum(scratch);
        if (t == 0) result[0] = scratch[0];
    }

    /// <summary>AdaptiveSgd: ηₜ = Lr / (1 + ‖g̃‖²) with ‖g̃‖² = normSq[0] (read on the device); θ ← θ − ηₜ·g̃.</summary>
    public static void AdaptiveSgd(ArrayView<float> p, ArrayView<float> g, ArrayView<float> normSq, UpdateScalars s)
    {
        float eta = s.Lr / (1f + normSq[0]);
        for (int i = GridStride.Start, step = GridStride.Step, end = p.IntLength; i < end; i += step)
            p[i] -= eta * EffectiveGradient(g[i], p[i], s);
    }

    /// <summary>
    /// Gradient-norm clipping: with ‖g‖ = √normSq[0], c = maxNorm / (‖g‖ + 1e−6); when c &lt; 1, g ← c·g
    /// (PyTorch's <c>clip_grad_norm_</c>).
    /// </summary>
    public static void ScaleToNorm(ArrayView<float> g, ArrayView<float> normSq, float maxNorm)
    {
        float coef = maxNorm / (XMath.Sqrt(normSq[0]) + 1e-6f);
        if (coef >= 1f) return;
        for (int i = GridStride.Start, step = GridStride.Step, end = g.IntLength; i < end; i += step)
            g[i] *= coef;
    }

    private static KernelConfig ForGroup(KernelContext k, int groups, int floatsPerThread) =>
        new(groups, k.GroupSize, SharedMemoryConfig.RequestDynamic<float>(floatsPerThread * k.GroupSize));

    public static void SgdStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf,
        UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(Sgd)(k.ForItems(p.Length), p, g, buf, s);

    public static void AdaGradStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g,
        ArrayView<float> sum, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(AdaGrad)(k.ForItems(p.Length), p, g, sum, s);

    public static void RmsPropStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g,
        ArrayView<float> squareAvg, ArrayView<float> gradAvg, ArrayView<float> buf, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(
            RmsProp)(k.ForItems(p.Length), p, g, squareAvg, gradAvg, buf, s);

    public static void AdadeltaStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g,
        ArrayView<float> squareAvg, ArrayView<float> accDelta, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(Adadelta)(
            k.ForItems(p.Length), p, g, squareAvg, accDelta, s);

    public static void AdamStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m,
        ArrayView<float> v, ArrayView<float> vMax, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(
            Adam)(k.ForItems(p.Length), p, g, m, v, vMax, s);

    public static void AdamaxStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m,
        ArrayView<float> u, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(Adamax)(
            k.ForItems(p.Length), p, g, m, u, s);

    public static void NAdamStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m,
        ArrayView<float> v, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(NAdam)(
            k.ForItems(p.Length), p, g, m, v, s);

    public static void RAdamStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m,
        ArrayView<float> v, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(RAdam)(
            k.ForItems(p.Length), p, g, m, v, s);

    public static void LionStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m,
        UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(Lion)(k.ForItems(p.Length), p, g, m, s);

    /// <summary>LAMB over <paramref name="starts"/>.Length − 1 segments; one group per segment.</summary>
    public static void LambStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m,
        ArrayView<float> v, ArrayView<float> scratch, ArrayView<int> starts, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            UpdateScalars>(Lamb)(ForGroup(k, Math.Min((int)starts.Length - 1, k.MaxGroups * 8), 2), p, g, m, v, scratch,
            starts, s);

    public static void EffectiveGradientNormSquared(this KernelContext k, ArrayView<float> p, ArrayView<float> g,
        ArrayView<float> result, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(EffectiveGradientNormSquared)(
            ForGroup(k, 1, 1), p, g, result, s);

    public static void AdaptiveSgdStep(this KernelContext k, ArrayView<float> p, ArrayView<float> g,
        ArrayView<float> normSq, UpdateScalars s) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, UpdateScalars>(AdaptiveSgd)(
            k.ForItems(p.Length), p, g, normSq, s);

    public static void ScaleToNorm(this KernelContext k, ArrayView<float> g, ArrayView<float> normSq, float maxNorm) =>
        k.Load<ArrayView<float>, ArrayView<float>, float>(ScaleToNorm)(k.ForItems(g.Length), g, normSq, maxNorm);
}
