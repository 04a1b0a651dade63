using ILGPU.Algorithms;

namespace Engine.Kernels;

/// <summary>
/// A reduction over a set of axes computed in one kernel per output element j, over the n elements x_r it reduces:
/// a first pass a = fold(First, x_r), an optional second pass b = Σ Second(x_r, a), then y = Finish(a, b); its gradient
/// dx_r = dy·Grad(x_r, y, a). p is the op's parameter (a correction, a norm's order).
/// </summary>
public interface IAxisReduction
{
    float FirstInit { get; }
    float First(float a, float x, float p);
    bool TwoPass { get; }
    float Second(float x, float a, int n, float p);
    float Finish(float a, float b, int n, float p);

    /// <summary>∂y/∂x for an element x of the group, given y and the first pass's a.</summary>
    float Grad(float x, float y, float a, int n, float p);

    /// <summary>Whether <see cref="Grad"/> needs a (backward then recomputes the first pass).</summary>
    bool GradNeedsFirst { get; }
}

/// <summary>
/// ln Σ eˣ = m + ln Σ e^(x − m), m the maximum (so nothing overflows); ±∞ when m is; ∂/∂x = e^(x − y).
/// </summary>
public struct LogSumExpReduction : IAxisReduction
{
    public float FirstInit => float.NegativeInfinity;
    public float First(float a, float x, float p) => x > a || float.IsNaN(x) ? x : a;
    public bool TwoPass => true;
    public float Second(float x, float a, int n, float p) => XMath.Exp(x - a);
    public float Finish(float a, float b, int n, float p) => float.IsInfinity(a) ? a : a + XMath.Log(b);
    public float Grad(float x, float y, float a, int n, float p) => XMath.Exp(x - y);
    public bool GradNeedsFirst => false;
}

/// <summary>
/// Variance with correction p: Σ(x − x̄)² / (n − p), x̄ = a/n from the first pass (two passes, as the normalisation
/// kernels compute it); ∂/∂x = 2(x − x̄)/(n − p).
/// </summary>
public struct VarianceReduction : IAxisReduction
{
    public float FirstInit => 0f;
    public float First(float a, float x, float p) => a + x;
    public bool TwoPass => true;

    public float Second(float x, float a, int n, float p)
    {
        float d = x - a / n;
        return d * d;
    }

    public float Finish(float a, float b, int n, float p) => b / XMath.Max(0f, n - p);
    public float Grad(float x, float y, float a, int n, float p) => 2f * (x - a / n) / XMath.Max(0f, n - p);
    public bool GradNeedsFirst => true;
}

/// <summary>Standard deviation: √(Σ(x − x̄)² / (n − p)); ∂/∂x = (x − x̄)/((n − p)·y).</summary>
public struct StandardDeviationReduction : IAxisReduction
{
    public float FirstInit => 0f;
    public float First(float a, float x, float p) => a + x;
    public bool TwoPass => true;
    public float Second(float x, float a, int n, float p) => default(VarianceReduction).Second(x, a, n, p);
    public float Finish(float a, float b, int n, float p) => XMath.Sqrt(b / XMath.Max(0f, n - p));
    public float Grad(float x, float y, float a, int n, float p) => (x - a / n) / (XMath.Max(0f, n - p) * y);
    public bool GradNeedsFirst => true;
}

/// <summary>
/// The p-norm (Σ|x|ᵖ)^(1/p) (p = 2: √Σx²); ∂/∂x = sign(x)·|x|^(p−1) / y^(p−1), 0 where y = 0 (PyTorch's subgradient).
/// </summary>
public struct PNormReduction : IAxisReduction
{
    public float FirstInit => 0f;
    public float First(float a, float x, float p) => a + (p == 2f ? x * x : p == 1f ? XMath.Abs(x) : XMath.Pow(XMath.Abs(x), p));
    public bool TwoPass => false;
    public float Second(float x, float a, int n, float p) => 0f;
    public float Finish(float a, float b, int n, float p) => p == 2f ? XMath.Sqrt(a) : p == 1f ? a : XMath.Pow(a, 1f / p);

    public float Grad(float x, float y, float a, int n, float p)
    {
        if (y == 0f) return 0f;
        float sign = x > 0f ? 1f : x < 0f ? -1f : 0f;
        if (p == 1f) return sign;
        if (p == 2f) return x / y;
        return sign * XMath.Pow(XMath.Abs(x) / y, p - 1f);
    }

    public bool GradNeedsFirst => false;
}
