using System.Runtime.CompilerServices;
using Engine.Kernels.Simd;
using ILGPU.Algorithms;

namespace Engine.Kernels;

/// <summary>
/// A float→float function with up to two scalar parameters and its derivative. <c>Backward</c> returns
/// dy/dx given the input x and the forward output y (whichever is cheaper to use).
/// </summary>
/// <remarks>
/// Each operator carries its math twice, side by side: the scalar form the ILGPU kernels run (one thread per element)
/// and the vector form the SIMD backend runs over whole registers (<see cref="IFloatVector{TSelf}"/>, any width).
/// The two must compute the same function; the tests hold both to the same double-precision reference.
/// </remarks>
public interface IUnaryOp
{
    float Forward(float x, float p, float q);
    float Backward(float x, float y, float p, float q);

    TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV>;
    TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV>;
}

/// <summary>y = p·x + q (scalar add/sub/mul, negation).</summary>
public struct AffineOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => p * x + q;
    public float Backward(float x, float y, float p, float q) => p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => p * x + q;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => p;
}

/// <summary>y = p / x (a scalar divided by a tensor).</summary>
public struct ScaledReciprocalOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => p / x;
    public float Backward(float x, float y, float p, float q) => -y / x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => p / x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => -y / x;
}

/// <summary>y = eˣ.</summary>
public struct ExpOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Exp(x);
    public float Backward(float x, float y, float p, float q) => y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Exp(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => y;
}

/// <summary>y = ln x.</summary>
public struct LogOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Log(x);
    public float Backward(float x, float y, float p, float q) => 1f / x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Log(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Broadcast(1f) / x;
}

/// <summary>y = √x.</summary>
public struct SqrtOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Sqrt(x);
    public float Backward(float x, float y, float p, float q) => 0.5f / y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Sqrt(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Broadcast(0.5f) / y;
}

/// <summary>y = xᵖ; dy/dx = p·xᵖ⁻¹ (0 when p = 0).</summary>
public struct PowOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Pow(x, p);
    public float Backward(float x, float y, float p, float q) => p == 0f ? 0f : p * XMath.Pow(x, p - 1f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => VectorMath.Pow(x, p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Select(TV.Equal(p, TV.Broadcast(0f)), TV.Broadcast(0f), p * VectorMath.Pow(x, p - TV.Broadcast(1f)));
}

/// <summary>y = |x|; dy/dx = sign(x), 0 at 0 (as PyTorch).</summary>
public struct AbsOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Abs(x);
    public float Backward(float x, float y, float p, float q) => x > 0f ? 1f : x < 0f ? -1f : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Abs(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => VectorMath.Sign(x);
}

/// <summary>y = min(max(x, p), q), NaN stays NaN (as PyTorch); dy/dx = 1 where p ≤ x ≤ q, else 0 (as PyTorch).</summary>
/// <remarks>NOTE: a GPU's max/min return the number of a (NaN, number) pair, so NaN is passed through explicitly.</remarks>
public struct ClampOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => float.IsNaN(x) ? x : XMath.Min(XMath.Max(x, p), q);
    public float Backward(float x, float y, float p, float q) => x >= p && x <= q ? 1f : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.Equal(x, x), TV.Min(TV.Max(x, p), q), x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Select(TV.And(TV.GreaterThanOrEqual(x, p), TV.LessThanOrEqual(x, q)), TV.Broadcast(1f), TV.Broadcast(0f));
}

/// <summary>
/// y = max(x, 0), NaN stays NaN; dy/dx = 0 where x ≤ 0, else 1 (PyTorch's threshold backward: a NaN input passes the
/// gradient on).
/// </summary>
/// <remarks>NOTE: written as x &lt; 0 ? 0 : x so that NaN, which compares false, comes out as NaN: a NaN feature must
/// make the loss NaN, where the trainers' divergence checks see it, not vanish into a zero activation.</remarks>
public struct ReluOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => x < 0f ? 0f : x;
    public float Backward(float x, float y, float p, float q) => x <= 0f ? 0f : 1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.LessThan(x, TV.Broadcast(0f)), TV.Broadcast(0f), x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.LessThanOrEqual(x, TV.Broadcast(0f)), TV.Broadcast(0f), TV.Broadcast(1f));
}

/// <summary>y = x for x &gt; 0, p·x otherwise (p = negative slope).</summary>
public struct LeakyReluOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => x > 0f ? x : p * x;
    public float Backward(float x, float y, float p, float q) => x > 0f ? 1f : p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Select(TV.GreaterThan(x, TV.Broadcast(0f)), x, p * x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Select(TV.GreaterThan(x, TV.Broadcast(0f)), TV.Broadcast(1f), p);
}

/// <summary>y = 1 / (1 + e⁻ˣ); dy/dx = y(1 − y).</summary>
/// <remarks>NOTE: evaluated through e^(−|x|) so neither branch overflows.</remarks>
public struct SigmoidOp : IUnaryOp
{
    public float Forward(float x, float p, float q)
    {
        float e = XMath.Exp(-XMath.Abs(x));
        return x >= 0f ? 1f / (1f + e) : e / (1f + e);
    }

    public float Backward(float x, float y, float p, float q) => y * (1f - y);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => VectorMath.Sigmoid(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => y * (TV.Broadcast(1f) - y);
}

/// <summary>y = tanh x; dy/dx = 1 − y².</summary>
public struct TanhOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Tanh(x);
    public float Backward(float x, float y, float p, float q) => 1f - y * y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => VectorMath.Tanh(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Broadcast(1f) - y * y;
}

/// <summary>
/// GELU, exact form (PyTorch's default <c>approximate="none"</c>): y = x·Φ(x) = ½x·erfc(−x/√2);
/// dy/dx = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
/// </summary>
/// <remarks>
/// NOTE: erfc(z) = t·e^(−z² + P(t)), t = 1/(1 + z/2), the Chebyshev fit of Numerical Recipes (fractional error below
/// 1.2·10⁻⁷ for every z ≥ 0), and erfc(−z) = 2 − erfc(z). Through erfc rather than 1 + erf the negative tail keeps its
/// relative precision (GELU(−5) = −1.43·10⁻⁶).
/// </remarks>
public struct GeluOp : IUnaryOp
{
    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;

    /// <summary>erfc(z) for z ≥ 0.</summary>
    public static float ErfcNonNegative(float z)
    {
        float t = 1f / (1f + 0.5f * z);
        float p = -0.82215223f + t * 0.17087277f;
        p = 1.48851587f + t * p;
        p = -1.13520398f + t * p;
        p = 0.27886807f + t * p;
        p = -0.18628806f + t * p;
        p = 0.09678418f + t * p;
        p = 0.37409196f + t * p;
        p = 1.00002368f + t * p;
        p = -1.26551223f + t * p;
        return t * XMath.Exp(-z * z + p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ErfcNonNegative<TV>(TV z) where TV : struct, IFloatVector<TV>
    {
        var t = TV.Broadcast(1f) / (TV.Broadcast(1f) + TV.Broadcast(0.5f) * z);
        var p = TV.MultiplyAdd(t, TV.Broadcast(0.17087277f), TV.Broadcast(-0.82215223f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(1.48851587f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(-1.13520398f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(0.27886807f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(-0.18628806f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(0.09678418f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(0.37409196f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(1.00002368f));
        p = TV.MultiplyAdd(t, p, TV.Broadcast(-1.26551223f));
        return t * TV.Exp(p - z * z);
    }

    /// <summary>Φ(x) = ½·erfc(−x/√2).</summary>
    private static float Phi(float x)
    {
        float e = ErfcNonNegative(XMath.Abs(x) * InvSqrt2);
        return x >= 0f ? 1f - 0.5f * e : 0.5f * e;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Phi<TV>(TV x) where TV : struct, IFloatVector<TV>
    {
        var half = TV.Broadcast(0.5f) * ErfcNonNegative(TV.Abs(x) * TV.Broadcast(InvSqrt2));
        return TV.Select(TV.GreaterThanOrEqual(x, TV.Broadcast(0f)), TV.Broadcast(1f) - half, half);
    }

    public float Forward(float x, float p, float q) => x * Phi(x);

    public float Backward(float x, float y, float p, float q) => Phi(x) + x * InvSqrt2Pi * XMath.Exp(-0.5f * x * x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => x * Phi(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        Phi(x) + x * TV.Broadcast(InvSqrt2Pi) * TV.Exp(TV.Broadcast(-0.5f) * x * x);
}

/// <summary>
/// GELU, tanh form (PyTorch <c>approximate="tanh"</c>): y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³);
/// dy/dx = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
/// </summary>
public struct GeluTanhOp : IUnaryOp
{
    private const float C = 0.7978845608028654f; // √(2/π)
    private const float K = 0.044715f;

    public float Forward(float x, float p, float q) => 0.5f * x * (1f + XMath.Tanh(C * (x + K * x * x * x)));

    public float Backward(float x, float y, float p, float q)
    {
        float t = XMath.Tanh(C * (x + K * x * x * x));
        return 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * C * (1f + 3f * K * x * x);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Broadcast(0.5f) * x * (TV.Broadcast(1f) + VectorMath.Tanh(TV.Broadcast(C) * (x + TV.Broadcast(K) * x * x * x)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV>
    {
        var half = TV.Broadcast(0.5f);
        var one = TV.Broadcast(1f);
        var t = VectorMath.Tanh(TV.Broadcast(C) * (x + TV.Broadcast(K) * x * x * x));
        return half * (one + t) + half * x * (one - t * t) * TV.Broadcast(C) * (one + TV.Broadcast(3f * K) * x * x);
    }
}

/// <summary>
/// Softplus as PyTorch's (β = p, threshold = q): y = (1/β)·ln(1 + e^(βx)), and y = x where βx &gt; threshold;
/// dy/dx = sigmoid(βx), 1 above the threshold.
/// </summary>
/// <remarks>
/// NOTE: computed as (max(z, 0) + log1p(e^(−|z|)))/β with z = βx, so e^z never overflows; log1p(u) is
/// u·ln(1 + u)/((1 + u) − 1), which keeps full relative precision where 1 + u rounds (ln(1 + e^(−|z|)) alone is 17 %
/// off at x = −15 and exactly 0 from −17 on, where the answer is 4.1e−8).
/// </remarks>
public struct SoftplusOp : IUnaryOp
{
    /// <summary>ln(1 + e^(−|z|)), accurate for every z.</summary>
    public static float LogOnePlusExpNegAbs(float z)
    {
        float u = XMath.Exp(-XMath.Abs(z));
        float w = 1f + u;
        return w == 1f ? u : XMath.Log(w) * u / (w - 1f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LogOnePlusExpNegAbs<TV>(TV z) where TV : struct, IFloatVector<TV>
    {
        var u = TV.Exp(-TV.Abs(z));
        var w = TV.Broadcast(1f) + u;
        return TV.Select(TV.Equal(w, TV.Broadcast(1f)), u, TV.Log(w) * u / (w - TV.Broadcast(1f)));
    }

    public float Forward(float x, float p, float q)
    {
        float z = p * x;
        return z > q ? x : (XMath.Max(z, 0f) + LogOnePlusExpNegAbs(z)) / p;
    }

    public float Backward(float x, float y, float p, float q)
    {
        float z = p * x;
        return z > q ? 1f : default(SigmoidOp).Forward(z, 0f, 0f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV>
    {
        var z = p * x;
        return TV.Select(TV.GreaterThan(z, q), x, (TV.Max(z, TV.Broadcast(0f)) + LogOnePlusExpNegAbs(z)) / p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV>
    {
        var z = p * x;
        return TV.Select(TV.GreaterThan(z, q), TV.Broadcast(1f), VectorMath.Sigmoid(z));
    }
}

/// <summary>A binary float function c = f(a, b) and its partial derivatives given a, b and c (scalar and vector forms).</summary>
public interface IBinaryOp
{
    float Forward(float a, float b);
    float GradA(float a, float b, float c);
    float GradB(float a, float b, float c);

    TV Forward<TV>(TV a, TV b) where TV : struct, IFloatVector<TV>;
    TV GradA<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV>;
    TV GradB<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV>;
}

/// <summary>c = a + b.</summary>
public struct AddOp : IBinaryOp
{
    public float Forward(float a, float b) => a + b;
    public float GradA(float a, float b, float c) => 1f;
    public float GradB(float a, float b, float c) => 1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV a, TV b) where TV : struct, IFloatVector<TV> => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => TV.Broadcast(1f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => TV.Broadcast(1f);
}

/// <summary>c = a − b.</summary>
public struct SubtractOp : IBinaryOp
{
    public float Forward(float a, float b) => a - b;
    public float GradA(float a, float b, float c) => 1f;
    public float GradB(float a, float b, float c) => -1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV a, TV b) where TV : struct, IFloatVector<TV> => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => TV.Broadcast(1f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => TV.Broadcast(-1f);
}

/// <summary>c = a · b.</summary>
public struct MultiplyOp : IBinaryOp
{
    public float Forward(float a, float b) => a * b;
    public float GradA(float a, float b, float c) => b;
    public float GradB(float a, float b, float c) => a;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV a, TV b) where TV : struct, IFloatVector<TV> => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => a;
}

/// <summary>c = a / b; ∂c/∂a = 1/b, ∂c/∂b = −a/b².</summary>
public struct DivideOp : IBinaryOp
{
    public float Forward(float a, float b) => a / b;
    public float GradA(float a, float b, float c) => 1f / b;
    public float GradB(float a, float b, float c) => -c / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV a, TV b) where TV : struct, IFloatVector<TV> => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => TV.Broadcast(1f) / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> => -c / b;
}
