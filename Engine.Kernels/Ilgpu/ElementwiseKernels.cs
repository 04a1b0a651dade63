using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Element-wise kernels: unary maps, broadcast binary maps, fills, accumulation, RNG (transposes are StridedCopy, MovementKernels).</summary>
public static class ElementwiseKernels
{
    /// <summary>y[i] = f(x[i]; p, q) for i in [0, n). Grid-stride, one thread per element.</summary>
    public static void UnaryForward<TOp>(ArrayView<float> x, ArrayView<float> y, float p, float q)
        where TOp : struct, IUnaryOp
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
            y[i] = default(TOp).Forward(x[i], p, q);
    }

    /// <summary>dx[i] += dy[i] · f′(x[i], y[i]; p, q). Grid-stride, one thread per element.</summary>
    public static void UnaryBackward<TOp>(
        ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, float p, float q)
        where TOp : struct, IUnaryOp
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
            dx[i] += dy[i] * default(TOp).Backward(x[i], y[i], p, q);
    }

    /// <summary>
    /// c[i] = f(a[ma(i)], b[mb(i)]) for i in [0, |c|), where ma/mb are the operands' broadcast maps.
    /// </summary>
    public static void BinaryForward<TOp>(
        ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb, ArrayView<float> c)
        where TOp : struct, IBinaryOp
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = c.IntLength; i < end; i += step)
            c[i] = default(TOp).Forward(a[ma.Map(i)], b[mb.Map(i)]);
    }

    /// <summary>
    /// Gradient of one operand of a broadcast binary op: for each operand element j (one thread each),
    /// d[j] += Σ_{i: m(i)=j} dc[i] · ∂f/∂operand(a[ma(i)], b[mb(i)], c[i]). <paramref name="side"/> = 0 for a,
    /// 1 for b. The sum runs over i = (o·Len + j)·Div + r for every outer block o and inner offset r.
    /// </summary>
    public static void BinaryBackward<TOp>(
        ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb,
        ArrayView<float> c, ArrayView<float> dc, ArrayView<float> d, int side)
        where TOp : struct, IBinaryOp
    {
        var m = side == 0 ? ma : mb;
        int outer = c.IntLength / (m.Len * m.Div);
        for (int j = GridStride.Start, step = GridStride.Step, end = m.Len; j < end; j += step)
        {
            float sum = 0f;
            for (int o = 0; o < outer; o++)
            {
                for (int r = 0; r < m.Div; r++)
                {
                    int i = (o * m.Len + j) * m.Div + r;
                    float av = a[ma.Map(i)], bv = b[mb.Map(i)];
                    float g = side == 0 ? default(TOp).GradA(av, bv, c[i]) : default(TOp).GradB(av, bv, c[i]);
                    sum += dc[i] * g;
                }
            }
            d[j] += sum;
        }
    }

    /// <summary>y[i] = value.</summary>
    public static void Fill(ArrayView<float> y, float value)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = y.IntLength; i < end; i += step)
            y[i] = value;
    }

    /// <summary>
    /// flag[0] = 1 when some x[i] is NaN or ±∞; otherwise flag is left as it was (the launcher zeroes it first).
    /// Threads that find one all store the same value, so the race is benign.
    /// </summary>
    public static void FlagNonFinite(ArrayView<float> x, ArrayView<int> flag)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
        {
            float v = x[i];
            if (float.IsNaN(v) || float.IsInfinity(v)) flag[0] = 1;
        }
    }

    /// <summary>y[i] += alpha · x[i] (gradient accumulation through reshapes and views).</summary>
    public static void Accumulate(ArrayView<float> x, ArrayView<float> y, float alpha)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
            y[i] += alpha * x[i];
    }

    /// <summary>
    /// y[i] += std·zᵢ (<see cref="IKernels.AddGaussianNoise"/>), one thread per element: <see cref="NoiseAt"/>.
    /// </summary>
    public static void GaussianNoise(ArrayView<float> y, uint seed, float std)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = y.IntLength; i < end; i += step)
            y[i] += std * NoiseAt(seed, i);
    }

    /// <summary>
    /// The standard normal zᵢ of element i: elements come in blocks of 32 holding 16 Box–Muller pairs; element
    /// i = 32b + t takes pair p = 16b + (t mod 16), r = √(−2 ln(1 − u(2p))), φ = 2π(u(2p+1) − ½), and is r·cos φ for
    /// t &lt; 16, r·sin φ otherwise (the blocks let a SIMD register of pairs write two contiguous runs).
    /// </summary>
    public static float NoiseAt(uint seed, int i)
    {
        int t = i & 31;
        uint pair = (uint)((i >> 5) * 16 + (t & 15));
        float r = ILGPU.Algorithms.XMath.Sqrt(-2f * ILGPU.Algorithms.XMath.Log(1f - Unit(seed, 2u * pair)));
        float phi = 6.283185307179586f * (Unit(seed, 2u * pair + 1u) - 0.5f);
        return t < 16 ? r * ILGPU.Algorithms.XMath.Cos(phi) : r * ILGPU.Algorithms.XMath.Sin(phi);
    }

    /// <summary>
    /// Counter-based random numbers: u(k) = (hash(seed, k) >> 8)/2²⁴ ∈ [0, 1), read from counter k = offset + i, so one
    /// seed is one stream and consecutive tensors can take consecutive stretches of it. Uniform:
    /// y[i] = low + (high−low)·u(offset + i). Normal (<paramref name="normal"/> ≠ 0): Box–Muller with j = offset + i,
    /// y[i] = low + high·√(−2 ln(1 − u(2j)))·cos(2π u(2j+1)), i.e. low = mean and high = std. The same seed gives
    /// the same numbers on every backend (up to the last bits of ln and cos).
    /// </summary>
    public static void Random(ArrayView<float> y, uint seed, uint offset, float low, float high, int normal)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = y.IntLength; i < end; i += step)
        {
            uint j = offset + (uint)i;
            if (normal != 0)
            {
                float u1 = 1f - Unit(seed, 2u * j);
                float u2 = Unit(seed, 2u * j + 1u);
                float z = ILGPU.Algorithms.XMath.Sqrt(-2f * ILGPU.Algorithms.XMath.Log(u1))
                          * ILGPU.Algorithms.XMath.Cos(6.283185307179586f * u2);
                y[i] = low + high * z;
            }
            else
            {
                y[i] = low + (high - low) * Unit(seed, j);
            }
        }
    }

    /// <summary>
    /// Inverted dropout: y[i] = x[i]·keep(i)/(1 − p) with keep(i) = [u(seed, i) ≥ p]. Backward calls it again on
    /// dy with the same seed (the mask is recomputed, never stored): dx[i] += dy[i]·keep(i)/(1 − p) when
    /// <paramref name="accumulate"/> ≠ 0.
    /// </summary>
    public static void Dropout(ArrayView<float> x, ArrayView<float> y, uint seed, float p, int accumulate)
    {
        float scale = 1f / (1f - p);
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
        {
            float kept = Unit(seed, (uint)i) >= p ? x[i] * scale : 0f;
            y[i] = accumulate != 0 ? y[i] + kept : kept;
        }
    }

    /// <summary>hash(seed, k) mapped to [0, 1) with 24 bits of precision.</summary>
    public static float Unit(uint seed, uint k)
    {
        uint h = k * 0x9E3779B9u ^ (seed * 0x85EBCA6Bu + 0x68E31DA4u);
        h ^= h >> 16;
        h *= 0x7FEB352Du;
        h ^= h >> 15;
        h *= 0x846CA68Bu;
        h ^= h >> 16;
        return (h >> 8) * (1f / 16777216f);
    }

    public static void Unary<TOp>(this KernelContext k, ArrayView<float> x, ArrayView<float> y, float p = 0f,
        float q = 0f) where TOp : struct, IUnaryOp =>
        k.Load<ArrayView<float>, ArrayView<float>, float, float>(UnaryForward<TOp>)(k.ForItems(x.Length), x, y, p, q);

    public static void UnaryGrad<TOp>(this KernelContext k, ArrayView<float> x, ArrayView<float> y,
        ArrayView<float> dy, ArrayView<float> dx, float p = 0f, float q = 0f) where TOp : struct, IUnaryOp =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float>(
            UnaryBackward<TOp>)(k.ForItems(x.Length), x, y, dy, dx, p, q);

    public static void Binary<TOp>(this KernelContext k, ArrayView<float> a, BroadcastMap ma, ArrayView<float> b,
        BroadcastMap mb, ArrayView<float> c) where TOp : struct, IBinaryOp =>
        k.Load<ArrayView<float>, BroadcastMap, ArrayView<float>, BroadcastMap, ArrayView<float>>(
            BinaryForward<TOp>)(k.ForItems(c.Length), a, ma, b, mb, c);

    /// <summary>Accumulates the gradient of operand a (side 0) or b (side 1) into <paramref name="d"/>.</summary>
    public static void BinaryGrad<TOp>(this KernelContext k, ArrayView<float> a, BroadcastMap ma,
        ArrayView<float> b, BroadcastMap mb, ArrayView<float> c, ArrayView<float> dc, ArrayView<float> d, int side)
        where TOp : struct, IBinaryOp =>
        k.Load<ArrayView<float>, BroadcastMap, ArrayView<float>, BroadcastMap, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(BinaryBackward<TOp>)(
            k.ForItems(side == 0 ? ma.Len : mb.Len), a, ma, b, mb, c, dc, d, side);

    public static void Fill(this KernelContext k, ArrayView<float> y, float value) =>
        k.Load<ArrayView<float>, float>(Fill)(k.ForItems(y.Length), y, value);

    /// <summary>
    /// Zeroes <paramref name="flag"/>[0] (unless <paramref name="reset"/> is false, to check several buffers into one
    /// flag), then sets it to 1 if any element of x is not finite (2 launches, or 1).
    /// </summary>
    public static void FlagNonFinite(this KernelContext k, ArrayView<float> x, ArrayView<int> flag, bool reset = true)
    {
        if (reset) flag.SubView(0, 1).MemSetToZero(k.Accelerator.DefaultStream);
        k.Load<ArrayView<float>, ArrayView<int>>(FlagNonFinite)(k.ForItems(x.Length), x, flag);
    }

    public static void Accumulate(this KernelContext k, ArrayView<float> x, ArrayView<float> y, float alpha = 1f) =>
        k.Load<ArrayView<float>, ArrayView<float>, float>(Accumulate)(k.ForItems(x.Length), x, y, alpha);

    public static void Dropout(this KernelContext k, ArrayView<float> x, ArrayView<float> y, uint seed, float p,
        bool accumulate) =>
        k.Load<ArrayView<float>, ArrayView<float>, uint, float, int>(Dropout)(
            k.ForItems(x.Length), x, y, seed, p, accumulate ? 1 : 0);

    public static void AddGaussianNoise(this KernelContext k, ArrayView<float> y, uint seed, float std) =>
        k.Load<ArrayView<float>, uint, float>(GaussianNoise)(k.ForItems(y.Length), y, seed, std);

    public static void Random(this KernelContext k, ArrayView<float> y, uint seed, float low, float high,
        bool normal, uint offset = 0) =>
        k.Load<ArrayView<float>, uint, uint, float, float, int>(Random)(
            k.ForItems(y.Length), y, seed, offset, low, high, normal ? 1 : 0);
}
