using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace Engine.Kernels;

/// <summary>
/// One row of a tiled attention kernel against the 8 columns of a staged tile (<see cref="AttentionTiledKernels"/>):
/// scores s_j, then probabilities p_j, then score gradients ds_j, j = 0 … 7. Eight fields updated through inlined
/// methods, which ILGPU keeps in registers (an array would live in local memory). The tile's 8 values at one
/// dimension arrive as two <see cref="Float4"/> (two 16-byte shared loads).
/// </summary>
public struct Scores8
{
    public float S0, S1, S2, S3, S4, S5, S6, S7;

    /// <summary>s_j += a·b_j: one dimension of the 8 dot products.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(float a, Float4 b0, Float4 b1)
    {
        S0 += a * b0.X; S1 += a * b0.Y; S2 += a * b0.Z; S3 += a * b0.W;
        S4 += a * b1.X; S5 += a * b1.Y; S6 += a * b1.Z; S7 += a * b1.W;
    }

    /// <summary>Σ_j s_j·b_j, as two chains of four so the FMAs do not wait on one another.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float Dot(Float4 b0, Float4 b1) =>
        (S0 * b0.X + S1 * b0.Y + S2 * b0.Z + S3 * b0.W) + (S4 * b1.X + S5 * b1.Y + S6 * b1.Z + S7 * b1.W);

    /// <summary>
    /// s_j ← scale·s_j where lo ≤ first + j &lt; hi, −∞ elsewhere (a key or query outside the mask or the tensor).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Keep(int first, int lo, int hi, float scale)
    {
        S0 = Kept(S0, first + 0, lo, hi, scale); S1 = Kept(S1, first + 1, lo, hi, scale);
        S2 = Kept(S2, first + 2, lo, hi, scale); S3 = Kept(S3, first + 3, lo, hi, scale);
        S4 = Kept(S4, first + 4, lo, hi, scale); S5 = Kept(S5, first + 5, lo, hi, scale);
        S6 = Kept(S6, first + 6, lo, hi, scale); S7 = Kept(S7, first + 7, lo, hi, scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Kept(float s, int at, int lo, int hi, float scale) =>
        at >= lo && at < hi ? s * scale : float.NegativeInfinity;

    /// <summary>max_j s_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float Max() =>
        XMath.Max(XMath.Max(XMath.Max(S0, S1), XMath.Max(S2, S3)), XMath.Max(XMath.Max(S4, S5), XMath.Max(S6, S7)));

    /// <summary>Σ_j s_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float Sum() => (S0 + S1 + S2 + S3) + (S4 + S5 + S6 + S7);

    /// <summary>s_j ← e^(s_j − m): probabilities of one row (−∞ gives 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exp(float m)
    {
        S0 = XMath.Exp(S0 - m); S1 = XMath.Exp(S1 - m); S2 = XMath.Exp(S2 - m); S3 = XMath.Exp(S3 - m);
        S4 = XMath.Exp(S4 - m); S5 = XMath.Exp(S5 - m); S6 = XMath.Exp(S6 - m); S7 = XMath.Exp(S7 - m);
    }

    /// <summary>s_j ← e^(s_j − m_j): probabilities against 8 rows, each with its own log-sum-exp m_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exp(Float4 m0, Float4 m1)
    {
        S0 = XMath.Exp(S0 - m0.X); S1 = XMath.Exp(S1 - m0.Y); S2 = XMath.Exp(S2 - m0.Z); S3 = XMath.Exp(S3 - m0.W);
        S4 = XMath.Exp(S4 - m1.X); S5 = XMath.Exp(S5 - m1.Y); S6 = XMath.Exp(S6 - m1.Z); S7 = XMath.Exp(S7 - m1.W);
    }

    /// <summary>p_j ← scale·p_j·(dp_j − d): score gradients of one row with row dot d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ToGrad(Scores8 dp, float d, float scale)
    {
        S0 *= (dp.S0 - d) * scale; S1 *= (dp.S1 - d) * scale; S2 *= (dp.S2 - d) * scale; S3 *= (dp.S3 - d) * scale;
        S4 *= (dp.S4 - d) * scale; S5 *= (dp.S5 - d) * scale; S6 *= (dp.S6 - d) * scale; S7 *= (dp.S7 - d) * scale;
    }

    /// <summary>p_j ← scale·p_j·(dp_j − d_j): score gradients against 8 rows, each with its own row dot d_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ToGrad(Scores8 dp, Float4 d0, Float4 d1, float scale)
    {
        S0 *= (dp.S0 - d0.X) * scale; S1 *= (dp.S1 - d0.Y) * scale;
        S2 *= (dp.S2 - d0.Z) * scale; S3 *= (dp.S3 - d0.W) * scale;
        S4 *= (dp.S4 - d1.X) * scale; S5 *= (dp.S5 - d1.Y) * scale;
        S6 *= (dp.S6 - d1.Z) * scale; S7 *= (dp.S7 - d1.W) * scale;
    }
}
