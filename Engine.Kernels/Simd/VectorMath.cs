using System.Runtime.CompilerServices;

namespace Engine.Kernels.Simd;

/// <summary>Vector forms of the functions the operators share (any <see cref="IFloatVector{TSelf}"/> width).</summary>
public static class VectorMath
{
    /// <summary>sign(x): 1, −1, or 0 at 0 (and NaN stays 0, as the scalar form's comparisons give).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sign<TV>(TV x) where TV : struct, IFloatVector<TV>
    {
        var zero = TV.Broadcast(0f);
        return TV.Select(TV.GreaterThan(x, zero), TV.Broadcast(1f),
            TV.Select(TV.LessThan(x, zero), TV.Broadcast(-1f), zero));
    }

    /// <summary>1 / (1 + e⁻ˣ) through e^(−|x|), so neither branch overflows (the scalar <see cref="Kernels.SigmoidOp"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sigmoid<TV>(TV x) where TV : struct, IFloatVector<TV>
    {
        var one = TV.Broadcast(1f);
        var e = TV.Exp(-TV.Abs(x));
        var r = one / (one + e);
        return TV.Select(TV.GreaterThanOrEqual(x, TV.Broadcast(0f)), r, e * r);
    }

    /// <summary>
    /// tanh x. For |x| &lt; 0.625 the odd minimax polynomial x + x³·P(x²) (Cephes <c>tanhf</c>), where
    /// 1 − 2/(e^(2|x|) + 1) would cancel; above it that form with x's sign. Saturates to ±1, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<TV>(TV x) where TV : struct, IFloatVector<TV>
    {
        var one = TV.Broadcast(1f);
        var a = TV.Abs(x);
        var s = x * x;
        var poly = TV.MultiplyAdd(TV.Broadcast(-5.70498872745e-3f), s, TV.Broadcast(2.06390887954e-2f));
        poly = TV.MultiplyAdd(poly, s, TV.Broadcast(-5.37397155531e-2f));
        poly = TV.MultiplyAdd(poly, s, TV.Broadcast(1.33314422036e-1f));
        poly = TV.MultiplyAdd(poly, s, TV.Broadcast(-3.33332819422e-1f));
        var small = TV.MultiplyAdd(poly * s, x, x);
        var large = one - TV.Broadcast(2f) / (TV.Exp(TV.Min(a + a, TV.Broadcast(88f))) + one);
        large = TV.Select(TV.LessThan(x, TV.Broadcast(0f)), -large, large);
        return TV.Select(TV.LessThan(a, TV.Broadcast(0.625f)), small, TV.Select(TV.IsNonFinite(x), x / a, large));
    }

    /// <summary>
    /// xᵖ (the scalar <see cref="Kernels.PowOp"/>): e^(p·ln|x|), negated for x &lt; 0 and odd whole p, NaN for x &lt; 0 and
    /// fractional p, 1 for p = 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Pow<TV>(TV x, TV p) where TV : struct, IFloatVector<TV>
    {
        var zero = TV.Broadcast(0f);
        var magnitude = TV.Exp(p * TV.Log(TV.Abs(x)));
        var whole = TV.Equal(TV.Floor(p), p);
        var half = p * TV.Broadcast(0.5f);
        var odd = TV.And(whole, TV.LessThan(TV.Floor(half), half));
        var negative = TV.Select(whole, TV.Select(odd, -magnitude, magnitude), TV.Broadcast(float.NaN));
        var r = TV.Select(TV.LessThan(x, zero), negative, magnitude);
        return TV.Select(TV.Equal(p, zero), TV.Broadcast(1f), r);
    }
}
