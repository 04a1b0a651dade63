using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Kernels.Simd;

/// <summary>
/// A SIMD register of float lanes, so an operator's vector form is written once and runs at the widest width the
/// machine accelerates: <see cref="F512"/> (16 lanes, AVX-512) or <see cref="F256"/> (8 lanes, AVX2/NEON-width).
/// Generic code over a struct that implements this is specialised by the JIT, so the abstraction costs nothing.
/// Comparisons return lane masks (all bits set where true) for <see cref="Select"/>.
/// </summary>
public unsafe interface IFloatVector<TSelf> where TSelf : struct, IFloatVector<TSelf>
{
    /// <summary>Lanes per register.</summary>
    static abstract int Count { get; }

    static abstract TSelf Broadcast(float value);
    static abstract TSelf Load(float* source);
    static abstract void Store(TSelf value, float* target);

    /// <summary>A store that bypasses the caches (<c>vmovntps</c>) to a register-aligned address; see
    /// <see cref="Lanes.StreamingElements"/> for when that pays.</summary>
    static abstract void StoreNonTemporal(TSelf value, float* alignedTarget);

    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a);

    /// <summary>a·b + c with one rounding.</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);
    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract TSelf Abs(TSelf a);
    static abstract TSelf Sqrt(TSelf a);
    static abstract TSelf Exp(TSelf a);
    static abstract TSelf Log(TSelf a);
    static abstract TSelf Floor(TSelf a);
    static abstract TSelf Sin(TSelf a);
    static abstract TSelf Cos(TSelf a);

    static abstract TSelf GreaterThan(TSelf a, TSelf b);
    static abstract TSelf GreaterThanOrEqual(TSelf a, TSelf b);
    static abstract TSelf LessThan(TSelf a, TSelf b);
    static abstract TSelf LessThanOrEqual(TSelf a, TSelf b);
    static abstract TSelf Equal(TSelf a, TSelf b);

    /// <summary>Lanes that are NaN or ±∞ (a mask).</summary>
    static abstract TSelf IsNonFinite(TSelf a);
    static abstract TSelf And(TSelf a, TSelf b);

    /// <summary>mask ? a : b, lane by lane.</summary>
    static abstract TSelf Select(TSelf mask, TSelf a, TSelf b);

    /// <summary>Whether any lane of a mask is set.</summary>
    static abstract bool AnyTrue(TSelf mask);

    /// <summary>Σ of the lanes (a fixed pairwise order, so repeatable).</summary>
    static abstract float Sum(TSelf a);

    /// <summary>max of the lanes.</summary>
    static abstract float MaxAcross(TSelf a);
}

/// <summary>16 float lanes in one AVX-512 register.</summary>
public readonly unsafe struct F512 : IFloatVector<F512>
{
    private readonly Vector512<float> v;

    private F512(Vector512<float> v) => this.v = v;

    public static int Count => Vector512<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Broadcast(float value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Load(float* source) => new(Vector512.Load(source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(F512 value, float* target) => value.v.Store(target);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreNonTemporal(F512 value, float* alignedTarget) => value.v.StoreAlignedNonTemporal(alignedTarget);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 operator +(F512 a, F512 b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 operator -(F512 a, F512 b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 operator *(F512 a, F512 b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 operator /(F512 a, F512 b) => new(a.v / b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 operator -(F512 a) => new(-a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 MultiplyAdd(F512 a, F512 b, F512 c) => new(Vector512.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Min(F512 a, F512 b) => new(Vector512.Min(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Max(F512 a, F512 b) => new(Vector512.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Abs(F512 a) => new(Vector512.Abs(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Sqrt(F512 a) => new(Vector512.Sqrt(a.v));

    /// <summary>
    /// e^x in float arithmetic: n = round(x·log₂e), r = x − n·ln 2 (ln 2 in two parts, so r is exact to a few ulp),
    /// e^r by its degree-6 Taylor–minimax polynomial (Cephes' expf), then ·2ⁿ by <c>vscalefps</c>; within 2.5e-7 relative
    /// of e^x, e^±∞ = ∞ and 0, NaN stays NaN. About ten times faster than <c>Vector512.Exp</c>, which evaluates in
    /// double precision: softmax, attention and every sigmoid-family map spend most of their time here.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F512 Exp(F512 a)
    {
        if (!Avx512F.IsSupported) return new(Vector512.Exp(a.v));
        // Clamped so n stays finite (e^−104 rounds to 0 and e^89 to ∞ after the scaling); NaN passes through Max/Min.
        var x = Vector512.Min(Vector512.Max(a.v, Vector512.Create(-104f)), Vector512.Create(89f));
        var n = Avx512F.RoundScale(x * Vector512.Create(1.44269504f), 0);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693145751953125f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-1.428606765330187e-06f), r);
        var p = Vector512.Create(1.3981999507e-3f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        return new(Avx512F.Scale(p, n));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Log(F512 a) => new(Vector512.Log(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Floor(F512 a) => new(Vector512.Floor(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Sin(F512 a) => new(Vector512.Sin(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Cos(F512 a) => new(Vector512.Cos(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 GreaterThan(F512 a, F512 b) => new(Vector512.GreaterThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 GreaterThanOrEqual(F512 a, F512 b) => new(Vector512.GreaterThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 LessThan(F512 a, F512 b) => new(Vector512.LessThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 LessThanOrEqual(F512 a, F512 b) => new(Vector512.LessThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Equal(F512 a, F512 b) => new(Vector512.Equals(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 IsNonFinite(F512 a) => new(~Vector512.LessThan(Vector512.Abs(a.v), Vector512.Create(float.PositiveInfinity)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 And(F512 a, F512 b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Select(F512 mask, F512 a, F512 b) => new(Vector512.ConditionalSelect(mask.v, a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AnyTrue(F512 mask) => mask.v.AsUInt32() != Vector512<uint>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(F512 a) => F256.Sum(F256.From(a.v.GetLower() + a.v.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(F512 a) => F256.MaxAcross(F256.From(Vector256.Max(a.v.GetLower(), a.v.GetUpper())));
}

/// <summary>8 float lanes in one 256-bit register (the width used where AVX-512 is not accelerated).</summary>
public readonly unsafe struct F256 : IFloatVector<F256>
{
    private readonly Vector256<float> v;

    private F256(Vector256<float> v) => this.v = v;

    internal static F256 From(Vector256<float> v) => new(v);

    public static int Count => Vector256<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Broadcast(float value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Load(float* source) => new(Vector256.Load(source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(F256 value, float* target) => value.v.Store(target);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreNonTemporal(F256 value, float* alignedTarget) => value.v.StoreAlignedNonTemporal(alignedTarget);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 operator +(F256 a, F256 b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 operator -(F256 a, F256 b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 operator *(F256 a, F256 b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 operator /(F256 a, F256 b) => new(a.v / b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 operator -(F256 a) => new(-a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 MultiplyAdd(F256 a, F256 b, F256 c) => new(Vector256.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Min(F256 a, F256 b) => new(Vector256.Min(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Max(F256 a, F256 b) => new(Vector256.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Abs(F256 a) => new(Vector256.Abs(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Sqrt(F256 a) => new(Vector256.Sqrt(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Exp(F256 a) => new(Vector256.Exp(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Log(F256 a) => new(Vector256.Log(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Floor(F256 a) => new(Vector256.Floor(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Sin(F256 a) => new(Vector256.Sin(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Cos(F256 a) => new(Vector256.Cos(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 GreaterThan(F256 a, F256 b) => new(Vector256.GreaterThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 GreaterThanOrEqual(F256 a, F256 b) => new(Vector256.GreaterThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 LessThan(F256 a, F256 b) => new(Vector256.LessThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 LessThanOrEqual(F256 a, F256 b) => new(Vector256.LessThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Equal(F256 a, F256 b) => new(Vector256.Equals(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 IsNonFinite(F256 a) => new(~Vector256.LessThan(Vector256.Abs(a.v), Vector256.Create(float.PositiveInfinity)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 And(F256 a, F256 b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Select(F256 mask, F256 a, F256 b) => new(Vector256.ConditionalSelect(mask.v, a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool AnyTrue(F256 mask) => mask.v.AsUInt32() != Vector256<uint>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(F256 a)
    {
        var h = a.v.GetLower() + a.v.GetUpper();
        h += Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1));
        h += Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2));
        return h.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(F256 a)
    {
        var h = Vector128.Max(a.v.GetLower(), a.v.GetUpper());
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
        return h.ToScalar();
    }
}
