using System.Runtime.CompilerServices;
using Engine.Kernels.Simd;
using ILGPU.Algorithms;

namespace Engine.Kernels;

// More element-wise operators (the N-d wave): trigonometry, erf, sign, reciprocal square root, the smooth and
// piecewise activations of sequence and convolutional models, and the element-wise minimum and maximum. As in
// ElementwiseOps.cs, each carries its scalar form (ILGPU) and its vector form (SIMD) side by side.

/// <summary>y = sin x; dy/dx = cos x.</summary>
public struct SinOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Sin(x);
    public float Backward(float x, float y, float p, float q) => XMath.Cos(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Sin(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Cos(x);
}

/// <summary>y = cos x; dy/dx = −sin x.</summary>
public struct CosOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => XMath.Cos(x);
    public float Backward(float x, float y, float p, float q) => -XMath.Sin(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Cos(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => -TV.Sin(x);
}

/// <summary>
/// y = erf x = sign(x)·(1 − erfc|x|) through <see cref="GeluOp.ErfcNonNegative(float)"/>; dy/dx = 2/√π·e^(−x²).
/// </summary>
public struct ErfOp : IUnaryOp
{
    private const float TwoOverSqrtPi = 1.12837916709551257f;

    public float Forward(float x, float p, float q)
    {
        float e = 1f - GeluOp.ErfcNonNegative(XMath.Abs(x));
        return x < 0f ? -e : e;
    }

    public float Backward(float x, float y, float p, float q) => TwoOverSqrtPi * XMath.Exp(-x * x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV>
    {
        var e = TV.Broadcast(1f) - GeluOp.ErfcNonNegative(TV.Abs(x));
        return TV.Select(TV.LessThan(x, TV.Broadcast(0f)), -e, e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Broadcast(TwoOverSqrtPi) * TV.Exp(-(x * x));
}

/// <summary>y = sign x (1, −1, 0 at 0); dy/dx = 0.</summary>
public struct SignOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => x > 0f ? 1f : x < 0f ? -1f : 0f;
    public float Backward(float x, float y, float p, float q) => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => VectorMath.Sign(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Broadcast(0f);
}

/// <summary>y = 1/√x; dy/dx = −½·y³.</summary>
public struct RsqrtOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => 1f / XMath.Sqrt(x);
    public float Backward(float x, float y, float p, float q) => -0.5f * y * y * y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Broadcast(1f) / TV.Sqrt(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> => TV.Broadcast(-0.5f) * y * y * y;
}

/// <summary>SiLU (swish): y = x·σ(x); dy/dx = σ(x)·(1 + x·(1 − σ(x))).</summary>
public struct SiluOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => x * default(SigmoidOp).Forward(x, 0f, 0f);

    public float Backward(float x, float y, float p, float q)
    {
        float s = default(SigmoidOp).Forward(x, 0f, 0f);
        return s * (1f + x * (1f - s));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => x * VectorMath.Sigmoid(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV>
    {
        var s = VectorMath.Sigmoid(x);
        var one = TV.Broadcast(1f);
        return s * (one + x * (one - s));
    }
}

/// <summary>
/// Mish: y = x·tanh(softplus x); dy/dx = tanh(sp) + x·(1 − tanh²(sp))·σ(x), sp = ln(1 + eˣ) evaluated stably
/// (<see cref="SoftplusOp.LogOnePlusExpNegAbs(float)"/>).
/// </summary>
public struct MishOp : IUnaryOp
{
    private static float SoftplusOf(float x) => XMath.Max(x, 0f) + SoftplusOp.LogOnePlusExpNegAbs(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV SoftplusOf<TV>(TV x) where TV : struct, IFloatVector<TV> =>
        TV.Max(x, TV.Broadcast(0f)) + SoftplusOp.LogOnePlusExpNegAbs(x);

    public float Forward(float x, float p, float q) => x * XMath.Tanh(SoftplusOf(x));

    public float Backward(float x, float y, float p, float q)
    {
        float t = XMath.Tanh(SoftplusOf(x));
        return t + x * (1f - t * t) * default(SigmoidOp).Forward(x, 0f, 0f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => x * VectorMath.Tanh(SoftplusOf(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV>
    {
        var t = VectorMath.Tanh(SoftplusOf(x));
        return t + x * (TV.Broadcast(1f) - t * t) * VectorMath.Sigmoid(x);
    }
}

/// <summary>ELU: y = x for x &gt; 0, p·(eˣ − 1) otherwise (p = α); dy/dx = 1, or y + α.</summary>
public struct EluOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => x > 0f ? x : p * (XMath.Exp(x) - 1f);
    public float Backward(float x, float y, float p, float q) => x > 0f ? 1f : y + p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.GreaterThan(x, TV.Broadcast(0f)), x, p * (TV.Exp(TV.Min(x, TV.Broadcast(0f))) - TV.Broadcast(1f)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.GreaterThan(x, TV.Broadcast(0f)), TV.Broadcast(1f), y + p);
}

/// <summary>
/// Hardtanh: y = min(max(x, p), q), NaN stays NaN; dy/dx = 1 strictly inside (p, q), 0 elsewhere (PyTorch's
/// hardtanh_backward, unlike clamp's closed interval).
/// </summary>
public struct HardtanhOp : IUnaryOp
{
    public float Forward(float x, float p, float q) => default(ClampOp).Forward(x, p, q);
    public float Backward(float x, float y, float p, float q) => x > p && x < q ? 1f : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV x, TV p, TV q) where TV : struct, IFloatVector<TV> => default(ClampOp).Forward(x, p, q);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Backward<TV>(TV x, TV y, TV p, TV q) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.And(TV.GreaterThan(x, p), TV.LessThan(x, q)), TV.Broadcast(1f), TV.Broadcast(0f));
}

/// <summary>
/// c = max(a, b), NaN if either is NaN (PyTorch <c>maximum</c>); the gradient goes to the larger operand, split in
/// half on a tie (as PyTorch).
/// </summary>
public struct MaximumOp : IBinaryOp
{
    public float Forward(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : a > b ? a : b;
    public float GradA(float a, float b, float c) => a > b ? 1f : a == b ? 0.5f : 0f;
    public float GradB(float a, float b, float c) => b > a ? 1f : a == b ? 0.5f : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV a, TV b) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.And(TV.Equal(a, a), TV.Equal(b, b)), TV.Select(TV.GreaterThan(a, b), a, b), a + b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.GreaterThan(a, b), TV.Broadcast(1f), TV.Select(TV.Equal(a, b), TV.Broadcast(0.5f), TV.Broadcast(0f)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.GreaterThan(b, a), TV.Broadcast(1f), TV.Select(TV.Equal(a, b), TV.Broadcast(0.5f), TV.Broadcast(0f)));
}

/// <summary>c = min(a, b), NaN if either is NaN (PyTorch <c>minimum</c>); gradient to the smaller, halved on a tie.</summary>
public struct MinimumOp : IBinaryOp
{
    public float Forward(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : a < b ? a : b;
    public float GradA(float a, float b, float c) => a < b ? 1f : a == b ? 0.5f : 0f;
    public float GradB(float a, float b, float c) => b < a ? 1f : a == b ? 0.5f : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Forward<TV>(TV a, TV b) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.And(TV.Equal(a, a), TV.Equal(b, b)), TV.Select(TV.LessThan(a, b), a, b), a + b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.LessThan(a, b), TV.Broadcast(1f), TV.Select(TV.Equal(a, b), TV.Broadcast(0.5f), TV.Broadcast(0f)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b, TV c) where TV : struct, IFloatVector<TV> =>
        TV.Select(TV.LessThan(b, a), TV.Broadcast(1f), TV.Select(TV.Equal(a, b), TV.Broadcast(0.5f), TV.Broadcast(0f)));
}
