using ILGPU.Algorithms;
using System.Runtime.CompilerServices;
namespace Engine.Kernels;

/// <summary>A per-element term t(a, b) summed by <see cref="ReduceKernels.SumAll{TTerm}"/>, with its partials.</summary>
public interface IPairTerm
{
    float Term(float a, float b);
    float GradA(float a, float b);
    float GradB(float a, float b);

    TV Term<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV>;
    TV GradA<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV>;
    TV GradB<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV>;
}

/// <summary>t = a (b unused): a plain sum.</summary>
public struct Identity : IPairTerm
{
    public float Term(float a, float b) => a;
    public float GradA(float a, float b) => 1f;
    public float GradB(float a, float b) => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Term<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => TV.Broadcast(1f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => TV.Broadcast(0f);
}

/// <summary>t = a² (b unused): a squared L2 norm.</summary>
public struct Square : IPairTerm
{
    public float Term(float a, float b) => a * a;
    public float GradA(float a, float b) => 2f * a;
    public float GradB(float a, float b) => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Term<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => a * a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => TV.Broadcast(2f) * a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => TV.Broadcast(0f);
}

/// <summary>t = (a − b)²: squared error of prediction a against target b.</summary>
public struct SquaredError : IPairTerm
{
    public float Term(float a, float b) => (a - b) * (a - b);
    public float GradA(float a, float b) => 2f * (a - b);
    public float GradB(float a, float b) => 2f * (b - a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Term<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => (a - b) * (a - b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => TV.Broadcast(2f) * (a - b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => TV.Broadcast(2f) * (b - a);
}

/// <summary>
/// Binary cross-entropy of logit a against target b: t = max(a, 0) − a·b + ln(1 + e^(−|a|));
/// ∂t/∂a = sigmoid(a) − b, ∂t/∂b = −a.
/// </summary>
/// <remarks>NOTE: the log-sum-exp form never evaluates log(sigmoid) of a saturated logit.</remarks>
public struct BinaryCrossEntropyWithLogits : IPairTerm
{
    public float Term(float a, float b) => XMath.Max(a, 0f) + SoftplusOp.LogOnePlusExpNegAbs(a) - a * b;
    public float GradA(float a, float b) => default(SigmoidOp).Forward(a, 0f, 0f) - b;
    public float GradB(float a, float b) => -a;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Term<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> =>
        TV.Max(a, TV.Broadcast(0f)) + SoftplusOp.LogOnePlusExpNegAbs(a) - a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradA<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => Simd.VectorMath.Sigmoid(a) - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV GradB<TV>(TV a, TV b) where TV : struct, Simd.IFloatVector<TV> => -a;
}
