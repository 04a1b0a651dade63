using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// The optimizers' fused update rules in vector form. Each rule struct below is the update rule of the ILGPU kernel
/// of the same name in OptimizerKernels.cs (whose summary states it, symbol by symbol), written with the same
/// operations in the same order and no fused multiply-adds the scalar form does not have, so the two backends agree
/// to the last bit on the same inputs wherever square roots and divisions are correctly rounded (they are, on both).
/// One pass reads θ, g and the state once and writes them once.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    /// <summary>The step's scalars broadcast to registers.</summary>
    private readonly struct Hyper<TV> where TV : struct, IFloatVector<TV>
    {
        public readonly TV Lr, Beta1, Beta2, Alpha, Eps, WeightDecay, L1, Momentum, Dampening, C1, C2, One, OneMinusBeta1,
            OneMinusBeta2;
        public readonly bool Maximize, Nesterov, AmsGrad, Centered, FirstStep, Decoupled, Rectified, HasL1, HasMomentum,
            PositiveMomentum, HasWeightDecay;

        public Hyper(UpdateScalars s)
        {
            Lr = TV.Broadcast(s.Lr);
            Beta1 = TV.Broadcast(s.Beta1);
            Beta2 = TV.Broadcast(s.Beta2);
            Alpha = TV.Broadcast(s.Alpha);
            Eps = TV.Broadcast(s.Eps);
            WeightDecay = TV.Broadcast(s.WeightDecay);
            L1 = TV.Broadcast(s.L1);
            Momentum = TV.Broadcast(s.Momentum);
            Dampening = TV.Broadcast(s.Dampening);
            C1 = TV.Broadcast(s.C1);
            C2 = TV.Broadcast(s.C2);
            One = TV.Broadcast(1f);
            // 1 − β rounded once here, as the scalar form rounds it: the same float either way.
            OneMinusBeta1 = TV.Broadcast(1f - s.Beta1);
            OneMinusBeta2 = TV.Broadcast(1f - s.Beta2);
            Maximize = s.Has(UpdateFlags.Maximize);
            Nesterov = s.Has(UpdateFlags.Nesterov);
            AmsGrad = s.Has(UpdateFlags.AmsGrad);
            Centered = s.Has(UpdateFlags.Centered);
            FirstStep = s.Has(UpdateFlags.FirstStep);
            Decoupled = s.Has(UpdateFlags.DecoupledDecay);
            Rectified = s.Has(UpdateFlags.Rectified);
            HasL1 = s.L1 != 0f;
            HasMomentum = s.Momentum != 0f;
            PositiveMomentum = s.Momentum > 0f;
            HasWeightDecay = s.WeightDecay != 0f;
        }

        /// <summary><see cref="OptimizerKernels.EffectiveGradient"/>: g̃ = ±g + λθ (coupled, λ ≠ 0) + l1·sign(θ).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV Effective(TV g, TV theta)
        {
            var e = Maximize ? -g : g;
            if (!Decoupled && HasWeightDecay) e += WeightDecay * theta;
            if (HasL1) e += L1 * VectorMath.Sign(theta);
            return e;
        }

        /// <summary><see cref="OptimizerKernels.AdvanceMoments"/>: m ← m + (g̃ − m)(1 − β₁), v ← β₂v + (1 − β₂)g̃².</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Advance(TV d, ref TV m, ref TV v)
        {
            m += (d - m) * OneMinusBeta1;
            v = Beta2 * v + OneMinusBeta2 * d * d;
        }
    }

    /// <summary>One element-wise update rule over θ, g and up to three state buffers.</summary>
    private interface IRule
    {
        void Apply<TV>(ref TV p, TV g, ref TV s0, ref TV s1, ref TV s2, in Hyper<TV> h) where TV : struct, IFloatVector<TV>;
    }

    /// <summary>
    /// Runs a rule over [from, to): full registers, then the tail through partial loads and stores. The stores are
    /// plain ones: with 64-byte aligned buffers, streaming (non-temporal) stores measured 1.5× slower on the 4 M Adam
    /// step (AMD EPYC, Zen 5), in the engine and in a bare Vector512 loop alike.
    /// </summary>
    private readonly struct RuleBody<TRule, TV>(float* p, float* g, float* s0, float* s1, float* s2, UpdateScalars s)
        : IRangeBody where TRule : struct, IRule where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            var h = new Hyper<TV>(s);
            // Locals, not fields of this struct: the loop keeps them in registers.
            float* theta = p, grad = g, state0 = s0, state1 = s1, state2 = s2;
            int w = TV.Count, body = from + (to - from) / w * w;
            for (int i = from; i < body; i += w)
            {
                TV vp = TV.Load(theta + i), a = state0 == null ? default : TV.Load(state0 + i),
                    b = state1 == null ? default : TV.Load(state1 + i), c = state2 == null ? default : TV.Load(state2 + i);
                default(TRule).Apply(ref vp, TV.Load(grad + i), ref a, ref b, ref c, in h);
                TV.Store(vp, theta + i);
                if (state0 != null) TV.Store(a, state0 + i);
                if (state1 != null) TV.Store(b, state1 + i);
                if (state2 != null) TV.Store(c, state2 + i);
            }
            if (body < to) Tail(body, to - body, in h);
        }

        private void Tail(int i, int r, in Hyper<TV> h)
        {
            TV vp = Lanes.LoadTail<TV>(p + i, r), a = s0 == null ? default : Lanes.LoadTail<TV>(s0 + i, r),
                b = s1 == null ? default : Lanes.LoadTail<TV>(s1 + i, r),
                c = s2 == null ? default : Lanes.LoadTail<TV>(s2 + i, r);
            default(TRule).Apply(ref vp, Lanes.LoadTail<TV>(g + i, r), ref a, ref b, ref c, in h);
            Lanes.StoreTail(vp, p + i, r);
            if (s0 != null) Lanes.StoreTail(a, s0 + i, r);
            if (s1 != null) Lanes.StoreTail(b, s1 + i, r);
            if (s2 != null) Lanes.StoreTail(c, s2 + i, r);
        }
    }

    private void Update<TRule>(ArrayView<float> p, ArrayView<float> g, float* s0, float* s1, float* s2,
        UpdateScalars s) where TRule : struct, IRule
    {
        int n = p.IntLength;
        if (n == 0) return;
        if (Lanes.Wide) Lanes.For(n, new RuleBody<TRule, F512>(Ptr(p), Ptr(g), s0, s1, s2, s), Pool, Lanes.UpdateParallelElements);
        else Lanes.For(n, new RuleBody<TRule, F256>(Ptr(p), Ptr(g), s0, s1, s2, s), Pool, Lanes.UpdateParallelElements);
    }

    private static float* State(ArrayView<float> view) => view.Length == 0 ? null : Ptr(view);

    public void SgdStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, UpdateScalars s) =>
        Update<SgdRule>(p, g, s.Momentum != 0f ? State(buf) : null, null, null, s);

    /// <summary><see cref="OptimizerKernels.Sgd"/>.</summary>
    private struct SgdRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV b, ref TV s1, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var d = h.Effective(g, p);
            if (h.HasMomentum)
            {
                b = h.FirstStep ? d : h.Momentum * b + (h.One - h.Dampening) * d;
                d = h.Nesterov ? d + h.Momentum * b : b;
            }
            p -= h.Lr * d;
        }
    }

    public void AdaGradStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> sum, UpdateScalars s) =>
        Update<AdaGradRule>(p, g, State(sum), null, null, s);

    /// <summary><see cref="OptimizerKernels.AdaGrad"/>.</summary>
    private struct AdaGradRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV sum, ref TV s1, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var d = h.Effective(g, p);
            sum += d * d;
            p -= h.C1 * d / (TV.Sqrt(sum) + h.Eps);
        }
    }

    public void RmsPropStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg,
        ArrayView<float> gradAvg, ArrayView<float> buf, UpdateScalars s) =>
        Update<RmsPropRule>(p, g, State(squareAvg), s.Has(UpdateFlags.Centered) ? State(gradAvg) : null,
            s.Momentum > 0f ? State(buf) : null, s);

    /// <summary><see cref="OptimizerKernels.RmsProp"/>.</summary>
    private struct RmsPropRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV v, ref TV m, ref TV b, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var d = h.Effective(g, p);
            v = h.Alpha * v + (h.One - h.Alpha) * d * d;
            TV a;
            if (h.Centered)
            {
                m += (d - m) * (h.One - h.Alpha);
                a = TV.Sqrt(v - m * m) + h.Eps;
            }
            else
            {
                a = TV.Sqrt(v) + h.Eps;
            }
            if (h.PositiveMomentum)
            {
                b = h.Momentum * b + d / a;
                p -= h.Lr * b;
            }
            else
            {
                p -= h.Lr * d / a;
            }
        }
    }

    public void AdadeltaStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg,
        ArrayView<float> accDelta, UpdateScalars s) =>
        Update<AdadeltaRule>(p, g, State(squareAvg), State(accDelta), null, s);

    /// <summary><see cref="OptimizerKernels.Adadelta"/>.</summary>
    private struct AdadeltaRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV v, ref TV u, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var d = h.Effective(g, p);
            v = h.Alpha * v + (h.One - h.Alpha) * d * d;
            var delta = TV.Sqrt(u + h.Eps) / TV.Sqrt(v + h.Eps) * d;
            u = h.Alpha * u + (h.One - h.Alpha) * delta * delta;
            p -= h.Lr * delta;
        }
    }

    public void AdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> vMax, UpdateScalars s) =>
        Update<AdamRule>(p, g, State(m), State(v), s.Has(UpdateFlags.AmsGrad) ? State(vMax) : null, s);

    /// <summary><see cref="OptimizerKernels.Adam"/> (and AdamW, with decoupled decay).</summary>
    private struct AdamRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV m, ref TV v, ref TV vMax, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var theta = p;
            if (h.Decoupled) theta *= h.One - h.Lr * h.WeightDecay;
            var d = h.Effective(g, theta);
            h.Advance(d, ref m, ref v);
            var vv = v;
            if (h.AmsGrad)
            {
                vMax = TV.Max(vMax, v);
                vv = vMax;
            }
            p = theta - h.C1 * m / (TV.Sqrt(vv) / h.C2 + h.Eps);
        }
    }

    public void AdamaxStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> u,
        UpdateScalars s) => Update<AdamaxRule>(p, g, State(m), State(u), null, s);

    /// <summary><see cref="OptimizerKernels.Adamax"/>.</summary>
    private struct AdamaxRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV m, ref TV u, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var d = h.Effective(g, p);
            m += (d - m) * (h.One - h.Beta1);
            u = TV.Max(h.Beta2 * u, TV.Abs(d) + h.Eps);
            p -= h.C1 * m / u;
        }
    }

    public void NAdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        UpdateScalars s) => Update<NAdamRule>(p, g, State(m), State(v), null, s);

    /// <summary><see cref="OptimizerKernels.NAdam"/>.</summary>
    private struct NAdamRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV m, ref TV v, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var d = h.Effective(g, p);
            h.Advance(d, ref m, ref v);
            var denom = TV.Sqrt(v / h.Alpha) + h.Eps;
            var theta = p - h.C1 * d / denom;
            p = theta - h.C2 * m / denom;
        }
    }

    public void RAdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        UpdateScalars s) => Update<RAdamRule>(p, g, State(m), State(v), null, s);

    /// <summary><see cref="OptimizerKernels.RAdam"/>.</summary>
    private struct RAdamRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV m, ref TV v, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var d = h.Effective(g, p);
            h.Advance(d, ref m, ref v);
            var corrected = m / h.Alpha;
            p -= h.Rectified ? corrected * h.Lr * (h.C2 / (TV.Sqrt(v) + h.Eps)) * h.C1 : corrected * h.Lr;
        }
    }

    public void LionStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, UpdateScalars s) =>
        Update<LionRule>(p, g, State(m), null, null, s);

    /// <summary><see cref="OptimizerKernels.Lion"/>.</summary>
    private struct LionRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV m, ref TV s1, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV>
        {
            var theta = p * (h.One - h.Lr * h.WeightDecay);
            var d = h.Effective(g, theta);
            var c = h.Beta1 * m + (h.One - h.Beta1) * d;
            p = theta - h.Lr * VectorMath.Sign(c);
            m = h.Beta2 * m + (h.One - h.Beta2) * d;
        }
    }

    public void AdaptiveSgdStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> normSq, UpdateScalars s)
    {
        var scaled = s;
        scaled.Lr = s.Lr / (1f + *Ptr(normSq));
        Update<PlainStepRule>(p, g, null, null, null, scaled);
    }

    /// <summary><see cref="OptimizerKernels.AdaptiveSgd"/> with ηₜ already formed: θ ← θ − ηₜ·g̃.</summary>
    private struct PlainStepRule : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply<TV>(ref TV p, TV g, ref TV s0, ref TV s1, ref TV s2, in Hyper<TV> h)
            where TV : struct, IFloatVector<TV> => p -= h.Lr * h.Effective(g, p);
    }

    public void EffectiveGradientNormSquared(ArrayView<float> p, ArrayView<float> g, ArrayView<float> result,
        UpdateScalars s)
    {
        int n = p.IntLength;
        *Ptr(result) = n == 0 ? 0f
            : Lanes.Wide ? EffectiveNormSquared<F512>(Ptr(p), Ptr(g), n, s) : EffectiveNormSquared<F256>(Ptr(p), Ptr(g), n, s);
    }

    [MethodImpl(Lanes.Hot)]
    private static float EffectiveNormSquared<TV>(float* p, float* g, int n, UpdateScalars s)
        where TV : struct, IFloatVector<TV>
    {
        var h = new Hyper<TV>(s);
        TV acc = default;
        for (int i = 0, w = TV.Count; i < n; i += w)
        {
            int r = Math.Min(w, n - i);
            var d = h.Effective(Lanes.LoadTail<TV>(g + i, r), Lanes.LoadTail<TV>(p + i, r));
            acc += d * d;
        }
        return TV.Sum(acc);
    }

    public void ScaleToNorm(ArrayView<float> g, ArrayView<float> normSq, float maxNorm)
    {
        float coef = maxNorm / (MathF.Sqrt(*Ptr(normSq)) + 1e-6f);
        if (coef >= 1f || g.Length == 0) return;
        int n = g.IntLength;
        if (Lanes.Wide) Lanes.For(n, new ScaleBody<F512>(Ptr(g), coef), Pool);
        else Lanes.For(n, new ScaleBody<F256>(Ptr(g), coef), Pool);
    }

    /// <summary>y *= factor.</summary>
    private readonly struct ScaleBody<TV>(float* y, float factor) : IRangeBody where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            TV f = TV.Broadcast(factor);
            int i = from, w = TV.Count;
            for (; i + w <= to; i += w) TV.Store(TV.Load(y + i) * f, y + i);
            if (i < to) Lanes.StoreTail(Lanes.LoadTail<TV>(y + i, to - i) * f, y + i, to - i);
        }
    }

    public void LambStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> scratch, ArrayView<int> starts, UpdateScalars s)
    {
        if (Lanes.Wide) Lamb<F512>(Ptr(p), Ptr(g), Ptr(m), Ptr(v), Ptr(scratch), Ptr(starts), starts.IntLength - 1, s);
        else Lamb<F256>(Ptr(p), Ptr(g), Ptr(m), Ptr(v), Ptr(scratch), Ptr(starts), starts.IntLength - 1, s);
    }

    /// <summary><see cref="OptimizerKernels.Lamb"/>: per segment, pass 1 stores r and both norms², pass 2 applies.</summary>
    [MethodImpl(Lanes.Hot)]
    private static void Lamb<TV>(float* p, float* g, float* m, float* v, float* scratch, int* starts, int segments,
        UpdateScalars s) where TV : struct, IFloatVector<TV>
    {
        var h = new Hyper<TV>(s);
        int w = TV.Count;
        for (int seg = 0; seg < segments; seg++)
        {
            int from = starts[seg], to = starts[seg + 1];
            TV thetaSq = default, rSq = default;
            for (int i = from; i < to; i += w)
            {
                int n = Math.Min(w, to - i);
                var theta = Lanes.LoadTail<TV>(p + i, n);
                var d = h.Effective(Lanes.LoadTail<TV>(g + i, n), theta);
                var mi = Lanes.LoadTail<TV>(m + i, n);
                var vi = Lanes.LoadTail<TV>(v + i, n);
                h.Advance(d, ref mi, ref vi);
                Lanes.StoreTail(mi, m + i, n);
                Lanes.StoreTail(vi, v + i, n);
                var r = mi / h.C1 / (TV.Sqrt(vi / h.C2) + h.Eps) + h.WeightDecay * theta;
                r = TV.Select(Lanes.FirstLanes<TV>(n), r, default);
                Lanes.StoreTail(r, scratch + i, n);
                thetaSq += theta * theta;
                rSq += r * r;
            }
            float thetaNorm = MathF.Sqrt(TV.Sum(thetaSq)), rNorm = MathF.Sqrt(TV.Sum(rSq));
            float trust = thetaNorm > 0f && rNorm > 0f ? thetaNorm / rNorm : 1f;
            float step = s.Lr * trust;
            for (int i = from; i < to; i++) p[i] -= step * scratch[i];
        }
    }
}
