using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace Engine.Kernels.Simd;

/// <summary>
/// Element-wise primitives: the math is the operator structs' vector forms (ElementwiseOps.cs) and, for fills,
/// accumulation, dropout and random numbers, the ILGPU kernel of the same name (ElementwiseKernels.cs),
/// whose counter-based hash <see cref="ElementwiseKernels.Unit"/> both backends call, so a seed gives the same numbers.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    public void Unary<TOp>(ArrayView<float> x, ArrayView<float> y, float p = 0f, float q = 0f)
        where TOp : struct, IUnaryOp
    {
        int n = x.IntLength;
        if (n == 0) return;
        // A large out-of-place result is streamed past the caches (Lanes.StreamingElements says why).
        bool stream = n >= Lanes.StreamingElements && Ptr(x) != Ptr(y);
        if (Lanes.Wide) Lanes.For(n, new UnaryBody<TOp, F512>(Ptr(x), Ptr(y), p, q, stream), Pool);
        else Lanes.For(n, new UnaryBody<TOp, F256>(Ptr(x), Ptr(y), p, q, stream), Pool);
    }

    /// <summary>y = f(x; p, q).</summary>
    private readonly struct UnaryBody<TOp, TV>(float* x, float* y, float p, float q, bool stream) : IRangeBody
        where TOp : struct, IUnaryOp where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            TV vp = TV.Broadcast(p), vq = TV.Broadcast(q);
            if (stream)
            {
                Lanes.StreamRange<TV, UnaryAt<TOp, TV>>(y, from, to, new UnaryAt<TOp, TV>(x, vp, vq));
                return;
            }
            int i = from, w = TV.Count;
            for (; i + w <= to; i += w) TV.Store(default(TOp).Forward(TV.Load(x + i), vp, vq), y + i);
            if (i < to) Lanes.StoreTail(default(TOp).Forward(Lanes.LoadTail<TV>(x + i, to - i), vp, vq), y + i, to - i);
        }
    }

    /// <summary>f(x; p, q) at [i, i + count).</summary>
    private readonly struct UnaryAt<TOp, TV>(float* x, TV vp, TV vq) : IVectorAt<TV>
        where TOp : struct, IUnaryOp where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV At(int i, int count) =>
            default(TOp).Forward(count == TV.Count ? TV.Load(x + i) : Lanes.LoadTail<TV>(x + i, count), vp, vq);
    }

    public void UnaryGrad<TOp>(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx,
        float p = 0f, float q = 0f) where TOp : struct, IUnaryOp
    {
        int n = x.IntLength;
        if (n == 0) return;
        if (Lanes.Wide) Lanes.For(n, new UnaryGradBody<TOp, F512>(Ptr(x), Ptr(y), Ptr(dy), Ptr(dx), p, q), Pool);
        else Lanes.For(n, new UnaryGradBody<TOp, F256>(Ptr(x), Ptr(y), Ptr(dy), Ptr(dx), p, q), Pool);
    }

    /// <summary>dx += dy · f′(x, y; p, q).</summary>
    private readonly struct UnaryGradBody<TOp, TV>(float* x, float* y, float* dy, float* dx, float p, float q)
        : IRangeBody where TOp : struct, IUnaryOp where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            TV vp = TV.Broadcast(p), vq = TV.Broadcast(q);
            int i = from, w = TV.Count;
            for (; i + w <= to; i += w)
            {
                var d = default(TOp).Backward(TV.Load(x + i), TV.Load(y + i), vp, vq);
                TV.Store(TV.MultiplyAdd(TV.Load(dy + i), d, TV.Load(dx + i)), dx + i);
            }
            if (i < to)
            {
                int r = to - i;
                var d = default(TOp).Backward(Lanes.LoadTail<TV>(x + i, r), Lanes.LoadTail<TV>(y + i, r), vp, vq);
                Lanes.StoreTail(TV.MultiplyAdd(Lanes.LoadTail<TV>(dy + i, r), d, Lanes.LoadTail<TV>(dx + i, r)), dx + i, r);
            }
        }
    }

    /// <summary>
    /// The run length W over which both broadcast operands are either contiguous or one repeated value: every
    /// operand that repeats with period Len (Div = 1) or holds a value for Div elements divides it.
    /// </summary>
    private static int RunLength(BroadcastMap ma, BroadcastMap mb, int total)
    {
        return Math.Max(Period(mb, Period(ma, total, total), total), 1);
    }

    /// <summary>The run length <paramref name="w"/> cut down so that operand <paramref name="map"/> also divides it.</summary>
    private static int Period(BroadcastMap map, int w, int total)
    {
        if (map.Len == 1 || (map.Div == 1 && map.Len == total)) return w;
        return Gcd(w, map.Div == 1 ? map.Len : map.Div);
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    /// <summary>Within a run starting at i0: where the operand's values start, and whether it is one repeated value.</summary>
    private static float* Operand(float* baseAt, BroadcastMap map, int i0, out bool repeated)
    {
        repeated = map.Len == 1 || map.Div > 1;
        return map.Len == 1 ? baseAt : map.Div == 1 ? baseAt + i0 % map.Len : baseAt + i0 / map.Div % map.Len;
    }

    [MethodImpl(Lanes.Hot)]
    public void Binary<TOp>(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb,
        ArrayView<float> c) where TOp : struct, IBinaryOp
    {
        int total = c.IntLength;
        if (total == 0) return;
        float* pa = Ptr(a), pb = Ptr(b), pc = Ptr(c);
        int run = RunLength(ma, mb, total);
        // A large result written over neither operand is streamed past the caches (Lanes.StreamingElements says why).
        bool stream = Lanes.Streams(run, pa, pc) && pb != pc;
        for (int i0 = 0; i0 < total; i0 += run)
        {
            float* at = Operand(pa, ma, i0, out bool ra), bt = Operand(pb, mb, i0, out bool rb);
            if (Lanes.Wide) Lanes.For(run, new BinaryBody<TOp, F512>(at, ra, bt, rb, pc + i0, stream), Pool);
            else Lanes.For(run, new BinaryBody<TOp, F256>(at, ra, bt, rb, pc + i0, stream), Pool);
        }
    }

    /// <summary>c = f(a, b) over a run where each operand is contiguous or one repeated value.</summary>
    private readonly struct BinaryBody<TOp, TV>(float* a, bool aRepeated, float* b, bool bRepeated, float* c, bool stream)
        : IRangeBody where TOp : struct, IBinaryOp where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            TV av = TV.Broadcast(*a), bv = TV.Broadcast(*b);
            if (stream)
            {
                Lanes.StreamRange<TV, BinaryAt<TOp, TV>>(c, from, to, new BinaryAt<TOp, TV>(a, aRepeated, av, b, bRepeated, bv));
                return;
            }
            int i = from, w = TV.Count;
            for (; i + w <= to; i += w)
                TV.Store(default(TOp).Forward(aRepeated ? av : TV.Load(a + i), bRepeated ? bv : TV.Load(b + i)), c + i);
            if (i < to)
            {
                int r = to - i;
                var x = aRepeated ? av : Lanes.LoadTail<TV>(a + i, r);
                var y = bRepeated ? bv : Lanes.LoadTail<TV>(b + i, r);
                Lanes.StoreTail(default(TOp).Forward(x, y), c + i, r);
            }
        }
    }

    /// <summary>f(a, b) at [i, i + count) of a run.</summary>
    private readonly struct BinaryAt<TOp, TV>(float* a, bool aRepeated, TV av, float* b, bool bRepeated, TV bv) : IVectorAt<TV>
        where TOp : struct, IBinaryOp where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TV At(int i, int count) => default(TOp).Forward(aRepeated ? av : Lanes.LoadTail<TV>(a + i, count),
            bRepeated ? bv : Lanes.LoadTail<TV>(b + i, count));
    }

    public void BinaryGrad<TOp>(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb,
        ArrayView<float> c, ArrayView<float> dc, ArrayView<float> d, int side) where TOp : struct, IBinaryOp
    {
        int total = c.IntLength;
        if (total == 0) return;
        if (Lanes.Wide) BinaryGrad<TOp, F512>(Ptr(a), ma, Ptr(b), mb, Ptr(c), Ptr(dc), Ptr(d), side, total);
        else BinaryGrad<TOp, F256>(Ptr(a), ma, Ptr(b), mb, Ptr(c), Ptr(dc), Ptr(d), side, total);
    }

    /// <summary>
    /// d[j] += Σ_{i: m(i) = j} dc[i]·∂f/∂operand over each run: added element by element where the operand is contiguous
    /// along the run (a same-shape operand, or a bias repeated over rows), else summed in registers into its one element.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    private static void BinaryGrad<TOp, TV>(float* pa, BroadcastMap ma, float* pb, BroadcastMap mb, float* pc,
        float* pdc, float* pd, int side, int total) where TOp : struct, IBinaryOp where TV : struct, IFloatVector<TV>
    {
        int run = RunLength(ma, mb, total), w = TV.Count;
        var mine = side == 0 ? ma : mb;
        float* tail = stackalloc float[Lanes.MaxWidth];
        for (int i0 = 0; i0 < total; i0 += run)
        {
            float* at = Operand(pa, ma, i0, out bool ra), bt = Operand(pb, mb, i0, out bool rb);
            float* dt = Operand(pd, mine, i0, out bool rd);
            TV av = TV.Broadcast(*at), bv = TV.Broadcast(*bt), sum = default;
            float rest = 0f;
            for (int i = 0; i < run; i += w)
            {
                int r = Math.Min(w, run - i);
                var x = ra ? av : Lanes.LoadTail<TV>(at + i, r);
                var y = rb ? bv : Lanes.LoadTail<TV>(bt + i, r);
                var z = Lanes.LoadTail<TV>(pc + i0 + i, r);
                var g = side == 0 ? default(TOp).GradA(x, y, z) : default(TOp).GradB(x, y, z);
                var term = Lanes.LoadTail<TV>(pdc + i0 + i, r) * g;
                if (!rd) Lanes.StoreTail(Lanes.LoadTail<TV>(dt + i, r) + term, dt + i, r);
                else if (r == w) sum += term;
                else
                {
                    // A partial register's other lanes hold the derivative at padding (0/0 for a quotient): left out.
                    TV.Store(term, tail);
                    for (int j = 0; j < r; j++) rest += tail[j];
                }
            }
            if (rd) *dt += TV.Sum(sum) + rest;
        }
    }

    public void Fill(ArrayView<float> y, float value)
    {
        int n = y.IntLength;
        if (n == 0) return;
        new Span<float>(Ptr(y), n).Fill(value);
    }

    public void FlagNonFinite(ArrayView<float> x, ArrayView<int> flag, bool reset = true)
    {
        int* f = Ptr(flag);
        if (reset) *f = 0;
        int n = x.IntLength;
        if (n == 0) return;
        bool found = Lanes.Wide ? AnyNonFinite<F512>(Ptr(x), n) : AnyNonFinite<F256>(Ptr(x), n);
        if (found) *f = 1;
    }

    [MethodImpl(Lanes.Hot)]
    private static bool AnyNonFinite<TV>(float* x, int n) where TV : struct, IFloatVector<TV>
    {
        int i = 0, w = TV.Count;
        for (; i + w <= n; i += w)
            if (TV.AnyTrue(TV.IsNonFinite(TV.Load(x + i)))) return true;
        return i < n && TV.AnyTrue(TV.IsNonFinite(Lanes.LoadTail<TV>(x + i, n - i)));
    }

    public void Accumulate(ArrayView<float> x, ArrayView<float> y, float alpha = 1f)
    {
        int n = x.IntLength;
        if (n == 0) return;
        if (Lanes.Wide) Lanes.For(n, new AxpyBody<F512>(Ptr(x), Ptr(y), alpha), Pool);
        else Lanes.For(n, new AxpyBody<F256>(Ptr(x), Ptr(y), alpha), Pool);
    }

    /// <summary>y += alpha · x.</summary>
    private readonly struct AxpyBody<TV>(float* x, float* y, float alpha) : IRangeBody
        where TV : struct, IFloatVector<TV>
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            TV va = TV.Broadcast(alpha);
            int i = from, w = TV.Count;
            for (; i + w <= to; i += w) TV.Store(TV.Load(y + i) + va * TV.Load(x + i), y + i);
            if (i < to) Lanes.StoreTail(Lanes.LoadTail<TV>(y + i, to - i) + va * Lanes.LoadTail<TV>(x + i, to - i), y + i, to - i);
        }
    }

    /// <summary>
    /// The math of <see cref="ElementwiseKernels.Dropout"/>: the same counter hash, computed for a register of counters
    /// at once (<see cref="UnitLanes"/>), so a seed keeps the same mask on both backends.
    /// </summary>
    public void Dropout(ArrayView<float> x, ArrayView<float> y, uint seed, float p, bool accumulate)
    {
        int n = x.IntLength;
        if (n == 0) return;
        Lanes.For(n, new DropoutBody(Ptr(x), Ptr(y), seed, p, accumulate), Pool);
    }

    /// <summary>y (+)= x·[u(seed, i) ≥ p]/(1 − p).</summary>
    private readonly struct DropoutBody(float* x, float* y, uint seed, float p, bool accumulate) : IRangeBody
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            float scale = 1f / (1f - p);
            int i = from, w = Vector<uint>.Count;
            var vp = new Vector<float>(p);
            var vs = new Vector<float>(scale);
            for (; i + w <= to; i += w)
            {
                var u = UnitLanes(seed, (uint)i);
                var kept = Vector.ConditionalSelect(Vector.GreaterThanOrEqual(u, vp),
                    new Vector<float>(new ReadOnlySpan<float>(x + i, w)) * vs, Vector<float>.Zero);
                var target = new Span<float>(y + i, w);
                if (accumulate) kept += new Vector<float>(target);
                kept.CopyTo(target);
            }
            for (; i < to; i++)
            {
                float kept = ElementwiseKernels.Unit(seed, (uint)i) >= p ? x[i] * scale : 0f;
                y[i] = accumulate ? y[i] + kept : kept;
            }
        }
    }

    /// <summary><see cref="ElementwiseKernels.Unit"/> for counters k0, k0 + 1, … (one register of them), exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> UnitLanes(uint seed, uint k0) => UnitOf(seed, new Vector<uint>(k0) + Iota);

    private static readonly Vector<uint> Iota = CreateIota();

    private static Vector<uint> CreateIota()
    {
        var lanes = new uint[Vector<uint>.Count];
        for (int i = 0; i < lanes.Length; i++) lanes[i] = (uint)i;
        return new Vector<uint>(lanes);
    }

    /// <summary>
    /// The math of <see cref="ElementwiseKernels.GaussianNoise"/> (same hash, same pairs and blocks of 32), a register of
    /// pairs at a time with polynomial ln and sincos (so equal to the ILGPU kernel up to their last bits), the blocks
    /// split over the worker threads.
    /// </summary>
    public void AddGaussianNoise(ArrayView<float> y, uint seed, float std)
    {
        int n = y.IntLength;
        if (n == 0) return;
        int blocks = (n + 31) / 32;
        if (blocks * 32L < 4096) new GaussianNoiseBody(Ptr(y), n, seed, std).Run(0, blocks);
        else Lanes.For(blocks, new GaussianNoiseBody(Ptr(y), n, seed, std), Pool);
    }

    /// <summary>Blocks [from, to) of 32 elements: 16 pairs, y[32b + t] += std·r·cos φ and y[32b + 16 + t] += std·r·sin φ.</summary>
    private readonly struct GaussianNoiseBody(float* y, int n, uint seed, float std) : IRangeBody
    {
        [MethodImpl(Lanes.Hot)]
        public void Run(int from, int to)
        {
            int w = Vector<float>.Count;
            var vstd = new Vector<float>(std);
            for (int b = from; b < to; b++)
            {
                int start = b * 32;
                if (start + 32 > n || w > 16)
                {
                    for (int i = start; i < Math.Min(n, start + 32); i++) y[i] += std * ElementwiseKernels.NoiseAt(seed, i);
                    continue;
                }
                for (int off = 0; off < 16; off += w)
                {
                    var pair = new Vector<uint>((uint)(b * 16 + off)) + Iota;
                    var u1 = UnitOf(seed, pair * 2u);
                    var u2 = UnitOf(seed, pair * 2u + Vector<uint>.One);
                    var r = Vector.SquareRoot(new Vector<float>(-2f) * NaturalLog(Vector<float>.One - u1));
                    var (sin, cos) = SinCos((u2 - new Vector<float>(0.5f)) * new Vector<float>(6.283185307179586f));
                    var first = new Span<float>(y + start + off, w);
                    var second = new Span<float>(y + start + 16 + off, w);
                    (new Vector<float>(first) + vstd * r * cos).CopyTo(first);
                    (new Vector<float>(second) + vstd * r * sin).CopyTo(second);
                }
            }
        }
    }

    /// <summary><see cref="ElementwiseKernels.Unit"/> of each lane's counter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> UnitOf(uint seed, Vector<uint> k)
    {
        var h = (k * new Vector<uint>(0x9E3779B9u)) ^ new Vector<uint>(unchecked(seed * 0x85EBCA6Bu + 0x68E31DA4u));
        h ^= Vector.ShiftRightLogical(h, 16);
        h *= new Vector<uint>(0x7FEB352Du);
        h ^= Vector.ShiftRightLogical(h, 15);
        h *= new Vector<uint>(0x846CA68Bu);
        h ^= Vector.ShiftRightLogical(h, 16);
        return Vector.ConvertToSingle(Vector.AsVectorInt32(Vector.ShiftRightLogical(h, 8))) * new Vector<float>(1f / 16777216f);
    }

    /// <summary>
    /// ln x for x in (0, 1] (normal floats): x = m·2ᵉ with m in [√½, √2), ln m = 2·atanh(t) = 2(t + t³/3 + … + t⁹/9)
    /// for t = (m − 1)/(m + 1), |t| ≤ 0.172 (the next term is below 4·10⁻¹⁰).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> NaturalLog(Vector<float> x)
    {
        var bits = Vector.AsVectorInt32(x);
        var e = Vector.ShiftRightArithmetic(bits, 23) - new Vector<int>(127);
        var m = Vector.AsVectorSingle((bits & new Vector<int>(0x007FFFFF)) | new Vector<int>(0x3F800000));
        var big = Vector.GreaterThan(m, new Vector<float>(1.41421356f));
        m = Vector.ConditionalSelect(big, m * new Vector<float>(0.5f), m);
        e = Vector.ConditionalSelect(big, e + Vector<int>.One, e);
        var t = (m - Vector<float>.One) / (m + Vector<float>.One);
        var t2 = t * t;
        var series = new Vector<float>(1f / 9f);
        series = series * t2 + new Vector<float>(1f / 7f);
        series = series * t2 + new Vector<float>(1f / 5f);
        series = series * t2 + new Vector<float>(1f / 3f);
        series = series * t2 + Vector<float>.One;
        return new Vector<float>(2f) * t * series + Vector.ConvertToSingle(e) * new Vector<float>(0.693147180559945f);
    }

    /// <summary>
    /// (sin φ, cos φ) for φ in [−π, π]: φ = k·π/2 + r with |r| ≤ π/4 (two-part π/2), Taylor polynomials to r⁹ and r⁸,
    /// then the quadrant k mod 4 picks and signs them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector<float> Sin, Vector<float> Cos) SinCos(Vector<float> phi)
    {
        var kf = Vector.Round(phi * new Vector<float>(0.636619772367581f));
        var k = Vector.ConvertToInt32(kf);
        var r = phi - kf * new Vector<float>(1.5703125f) - kf * new Vector<float>(4.83826794897e-4f);
        var r2 = r * r;
        var s = new Vector<float>(1f / 362880f);
        s = s * r2 - new Vector<float>(1f / 5040f);
        s = s * r2 + new Vector<float>(1f / 120f);
        s = s * r2 - new Vector<float>(1f / 6f);
        s = s * r2 * r + r;
        var c = new Vector<float>(1f / 40320f);
        c = c * r2 - new Vector<float>(1f / 720f);
        c = c * r2 + new Vector<float>(1f / 24f);
        c = c * r2 - new Vector<float>(0.5f);
        c = c * r2 + Vector<float>.One;
        var odd = Vector.Equals(k & Vector<int>.One, Vector<int>.One);
        var sin = Vector.ConditionalSelect(odd, c, s);
        var cos = Vector.ConditionalSelect(odd, s, c);
        // quadrant 1: (cos r, −sin r); 2: (−sin r, −cos r); 3: (−cos r, sin r)
        var sinNegative = Vector.Equals(k & new Vector<int>(2), new Vector<int>(2));
        var cosNegative = Vector.Equals((k + Vector<int>.One) & new Vector<int>(2), new Vector<int>(2));
        sin = Vector.ConditionalSelect(sinNegative, -sin, sin);
        cos = Vector.ConditionalSelect(cosNegative, -cos, cos);
        return (sin, cos);
    }

    /// <summary>The math of <see cref="ElementwiseKernels.Random"/> (same hash, same transforms), element by element.</summary>
    [MethodImpl(Lanes.Hot)]
    public void Random(ArrayView<float> y, uint seed, float low, float high, bool normal, uint offset = 0)
    {
        int n = y.IntLength;
        if (n == 0) return;
        float* py = Ptr(y);
        for (int i = 0; i < n; i++)
        {
            uint j = offset + (uint)i;
            if (normal)
            {
                float u1 = 1f - ElementwiseKernels.Unit(seed, 2u * j);
                float u2 = ElementwiseKernels.Unit(seed, 2u * j + 1u);
                float z = XMath.Sqrt(-2f * XMath.Log(u1)) * XMath.Cos(6.283185307179586f * u2);
                py[i] = low + high * z;
            }
            else
            {
                py[i] = low + (high - low) * ElementwiseKernels.Unit(seed, j);
            }
        }
    }
}
