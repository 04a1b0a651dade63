using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    // ---- binary: tensor ∘ tensor, with broadcasting -------------------------------------------------------

    public static Tensor operator +(Tensor a, Tensor b) => Binary<AddOp>("add", a, b);

    public static Tensor operator -(Tensor a, Tensor b) => Binary<SubtractOp>("sub", a, b);

    public static Tensor operator *(Tensor a, Tensor b) => Binary<MultiplyOp>("mul", a, b);

    public static Tensor operator /(Tensor a, Tensor b) => Binary<DivideOp>("div", a, b);

    /// <summary>Element-wise maximum with broadcasting (PyTorch <c>maximum</c>; NaN wins, a tie splits the gradient).</summary>
    public static Tensor Maximum(Tensor a, Tensor b) => Binary<Kernels.MaximumOp>("maximum", a, b);

    /// <summary>Element-wise minimum with broadcasting (PyTorch <c>minimum</c>).</summary>
    public static Tensor Minimum(Tensor a, Tensor b) => Binary<Kernels.MinimumOp>("minimum", a, b);

    public Tensor Maximum(Tensor other) => Maximum(this, other);

    public Tensor Minimum(Tensor other) => Minimum(this, other);

    // ---- binary with a scalar: affine maps, so each is one unary kernel -----------------------------------

    public static Tensor operator +(Tensor a, float s) => a.Unary<AffineOp>("add", 1f, s);

    public static Tensor operator +(float s, Tensor a) => a.Unary<AffineOp>("add", 1f, s);

    public static Tensor operator -(Tensor a, float s) => a.Unary<AffineOp>("sub", 1f, -s);

    public static Tensor operator -(float s, Tensor a) => a.Unary<AffineOp>("rsub", -1f, s);

    public static Tensor operator *(Tensor a, float s) => a.Unary<AffineOp>("mul", s, 0f);

    public static Tensor operator *(float s, Tensor a) => a.Unary<AffineOp>("mul", s, 0f);

    public static Tensor operator /(Tensor a, float s) => a.Unary<AffineOp>("div", 1f / s, 0f);

    public static Tensor operator /(float s, Tensor a) => a.Unary<ScaledReciprocalOp>("rdiv", s, 0f);

    public static Tensor operator -(Tensor a) => a.Unary<AffineOp>("neg", -1f, 0f);

    // ---- unary math ----------------------------------------------------------------------------------------

    public Tensor Exp() => Unary<Kernels.ExpOp>("exp");

    public Tensor Log() => Unary<Kernels.LogOp>("log");

    public Tensor Sqrt() => Unary<Kernels.SqrtOp>("sqrt");

    public Tensor Pow(float exponent) => Unary<Kernels.PowOp>("pow", exponent);

    public Tensor Abs() => Unary<Kernels.AbsOp>("abs");

    public Tensor Neg() => -this;

    /// <summary>1 / x.</summary>
    public Tensor Reciprocal() => Unary<ScaledReciprocalOp>("reciprocal", 1f);

    /// <summary>1 / √x.</summary>
    public Tensor Rsqrt() => Unary<Kernels.RsqrtOp>("rsqrt");

    /// <summary>x².</summary>
    public Tensor Square() => Unary<Kernels.PowOp>("square", 2f);

    public Tensor Sin() => Unary<Kernels.SinOp>("sin");

    public Tensor Cos() => Unary<Kernels.CosOp>("cos");

    /// <summary>The error function, 2/√π ∫₀ˣ e^(−t²) dt.</summary>
    public Tensor Erf() => Unary<Kernels.ErfOp>("erf");

    /// <summary>1, −1, or 0 at 0; the gradient is zero.</summary>
    public Tensor Sign() => Unary<Kernels.SignOp>("sign");

    /// <summary>Limits every element to [min, max]; the gradient passes where min ≤ x ≤ max.</summary>
    public Tensor Clamp(float min, float max)
    {
        if (!(min <= max))
            throw new ArgumentException($"clamp: min {min} must be ≤ max {max}.");
        return Unary<Kernels.ClampOp>("clamp", min, max);
    }

    // ---- activations ---------------------------------------------------------------------------------------

    public Tensor Relu() => Unary<Kernels.ReluOp>("relu");

    /// <summary>x for x &gt; 0, negativeSlope·x otherwise (PyTorch default slope 0.01).</summary>
    public Tensor LeakyRelu(float negativeSlope = 0.01f) => Unary<Kernels.LeakyReluOp>("leaky_relu", negativeSlope);

    public Tensor Sigmoid() => Unary<Kernels.SigmoidOp>("sigmoid");

    public Tensor Tanh() => Unary<Kernels.TanhOp>("tanh");

    /// <summary>SiLU (swish), x·σ(x).</summary>
    public Tensor Silu() => Unary<Kernels.SiluOp>("silu");

    /// <summary>Mish, x·tanh(softplus(x)).</summary>
    public Tensor Mish() => Unary<Kernels.MishOp>("mish");

    /// <summary>ELU: x for x &gt; 0, α(eˣ − 1) otherwise.</summary>
    public Tensor Elu(float alpha = 1f) => Unary<Kernels.EluOp>("elu", alpha);

    /// <summary>x limited to [minVal, maxVal]; the gradient passes strictly inside.</summary>
    public Tensor Hardtanh(float minVal = -1f, float maxVal = 1f)
    {
        if (!(minVal <= maxVal))
            throw new ArgumentException($"hardtanh: minVal {minVal} must be ≤ maxVal {maxVal}.");
        return Unary<Kernels.HardtanhOp>("hardtanh", minVal, maxVal);
    }

    /// <summary>
    /// GELU as PyTorch's <c>gelu(x, approximate)</c>: <c>"none"</c> (the default) is the exact x·Φ(x), <c>"tanh"</c> the
    /// tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    /// </summary>
    public Tensor Gelu(string approximate = "none") => approximate switch
    {
        "none" => Unary<Kernels.GeluOp>("gelu"),
        "tanh" => Unary<GeluTanhOp>("gelu"),
        _ => throw new ArgumentException(
            $"gelu: approximate must be \"none\" or \"tanh\", got \"{approximate}\".", nameof(approximate)),
    };

    /// <summary>
    /// PyTorch's <c>softplus(x, beta, threshold)</c>: (1/β)·ln(1 + e^(βx)), and x itself where βx &gt; threshold.
    /// </summary>
    public Tensor Softplus(float beta = 1f, float threshold = 20f)
    {
        if (beta == 0f || !float.IsFinite(beta))
            throw new ArgumentOutOfRangeException(nameof(beta), $"softplus: beta must be a finite non-zero number, got {beta}.");
        return Unary<Kernels.SoftplusOp>("softplus", beta, threshold);
    }

    // ---- in place (not recorded) ---------------------------------------------------------------------------

    /// <summary>this += alpha · other, in place (PyTorch <c>add_(other, alpha=alpha)</c>), same shape.</summary>
    /// <remarks>In-place ops are not recorded; on a tensor that requires grad, use them inside
    /// <see cref="Autograd.NoGrad"/> (as PyTorch requires), e.g. for a hand-written update.</remarks>
    public void AddInPlace(Tensor other, float alpha = 1f)
    {
        CheckOperands("add_", this, other);
        CheckInPlace("add_");
        if (!other.shape.SequenceEqual(shape))
            throw new ArgumentException(
                $"add_: shapes {Shapes.Format(shape)} and {Shapes.Format(other.shape)} must be equal.");
        Kernels.Accumulate(other.Elements, Elements, alpha);
        MarkWritten();
    }

    /// <summary>Sets every element to <paramref name="value"/>, in place (PyTorch <c>fill_</c>).</summary>
    public void FillInPlace(float value)
    {
        CheckInPlace("fill_");
        Kernels.Fill(Elements, value);
        MarkWritten();
    }

    private void CheckInPlace(string op)
    {
        ThrowIfDisposed(op);
        if (requiresGrad && Autograd.IsEnabled)
            throw new InvalidOperationException(
                $"{op}: a tensor that requires grad is being modified in place while grad is enabled; " +
                "wrap the update in Autograd.NoGrad().");
    }

    internal Tensor Unary<TOp>(string op, float p = 0f, float q = 0f) where TOp : struct, IUnaryOp
    {
        CheckOperands(op, this);
        var x = this;
        var y = Uninitialized(Device, shape);
        Kernels.Unary<TOp>(x.Elements, y.Elements, p, q);
        return Record(y, op, new[] { x }, dy => Kernels.UnaryGrad<TOp>(x.Elements, y.Elements, dy, x.GradTarget(), p, q));
    }

    private static Tensor Binary<TOp>(string op, Tensor a, Tensor b) where TOp : struct, IBinaryOp
    {
        CheckOperands(op, a, b);
        var (shape, mapA, mapB) = Shapes.Broadcast(op, a.shape, b.shape);
        if (mapA is not { } ma || mapB is not { } mb)
        {
            // An operand that stretches on both sides of an axis it varies along ([2, 1, 4] over [2, 3, 4]) is expanded
            // first; Expand's backward sums the gradient back over the stretched axes.
            return Binary<TOp>(op, mapA is null ? a.Expand(shape) : a, mapB is null ? b.Expand(shape) : b);
        }
        var c = Uninitialized(a.Device, shape);
        var k = a.Kernels;
        k.Binary<TOp>(a.Elements, ma, b.Elements, mb, c.Elements);
        return Record(c, op, new[] { a, b }, dc =>
        {
            if (a.requiresGrad) k.BinaryGrad<TOp>(a.Elements, ma, b.Elements, mb, c.Elements, dc, a.GradTarget(), 0);
            if (b.requiresGrad) k.BinaryGrad<TOp>(a.Elements, ma, b.Elements, mb, c.Elements, dc, b.GradTarget(), 1);
        });
    }
}
