using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product [m, k] · [k, n] → [m, n]. Backward: dA += dC·Bᵀ and dB += Aᵀ·dC, computed by the tiled
    /// kernel reading B and A transposed in place (no transposed copy is made).
    /// </summary>
    public Tensor MatMul(Tensor other)
    {
        CheckOperands("matmul", this, other);
        var a = this;
        var b = other;
        if (a.Rank != 2 || b.Rank != 2 || a.shape[1] != b.shape[0])
            throw new ArgumentException(
                $"matmul: shapes {Shapes.Format(a.shape)} and {Shapes.Format(b.shape)} are not [m, k] and [k, n].");
        int m = a.shape[0], k = a.shape[1], n = b.shape[1];
        var c = Uninitialized(Device, new[] { m, n });
        var kernels = Kernels;
        kernels.MatMul<AsStored, AsStored>(a.View, b.View, c.View, m, n, k, accumulate: false);
        return Record(c, "matmul", new[] { a, b }, dc =>
        {
            if (a.requiresGrad) a.AccumulateProduct<AsStored, AsTransposed>(dc, b.View, m, k, n);
            if (b.requiresGrad) b.AccumulateProduct<AsTransposed, AsStored>(a.View, dc, k, n, m);
        });
    }

    /// <summary>
    /// x·Wᵀ (+ b), PyTorch's <c>F.linear</c>: x [m, in], weight [out, in] (PyTorch's layout), bias [out] or null.
    /// Forward reads W transposed in place; backward: dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        CheckOperands("linear", bias == null ? new[] { x, weight } : new[] { x, weight, bias });
        if (x.Rank != 2 || weight.Rank != 2 || x.shape[1] != weight.shape[1])
            throw new ArgumentException(
                $"linear: input {Shapes.Format(x.shape)} and weight {Shapes.Format(weight.shape)} are not " +
                "[m, in] and [out, in].");
        if (bias != null && (bias.Rank != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException(
                $"linear: bias {Shapes.Format(bias.shape)} does not match weight {Shapes.Format(weight.shape)} ([out]).");
        int m = x.shape[0], inputs = x.shape[1], outputs = weight.shape[0];
        var y = Uninitialized(x.Device, new[] { m, outputs });
        var k = x.Kernels;
        k.MatMul<AsStored, AsTransposed>(x.View, weight.View, y.View, m, outputs, inputs, accumulate: false);
        var product = Record(y, "linear", new[] { x, weight }, dy =>
        {
            if (x.requiresGrad) x.AccumulateProduct<AsStored, AsStored>(dy, weight.View, m, inputs, outputs);
            if (weight.requiresGrad) weight.AccumulateProduct<AsTransposed, AsStored>(dy, x.View, outputs, inputs, m);
        });
        if (bias == null) return product;
        var withBias = product + bias;
        if (withBias.GradFn == null) product.Dispose(); // nothing will read it again (inference)
        return withBias;
    }

    /// <summary>The transpose of a 2-D tensor (a new tensor).</summary>
    public Tensor Transpose()
    {
        CheckOperands("transpose", this);
        if (Rank != 2)
            throw new ArgumentException($"transpose: needs a 2-D tensor, got shape {Shapes.Format(shape)}.");
        int rows = shape[0], cols = shape[1];
        var x = this;
        var y = Uninitialized(Device, new[] { cols, rows });
        Kernels.Transpose(x.View, y.View, rows, cols, accumulate: false);
        return Record(y, "transpose", new[] { x },
            dy => Kernels.Transpose(dy, x.GradTarget(), cols, rows, accumulate: true));
    }

    /// <summary>
    /// The same elements with another shape (one dimension may be −1 and is inferred). Shares this tensor's
    /// memory, as PyTorch's <c>view</c>/<c>reshape</c> of a contiguous tensor.
    /// </summary>
    public Tensor Reshape(params int[] newShape)
    {
        CheckOperands("reshape", this);
        ArgumentNullException.ThrowIfNull(newShape);
        var resolved = (int[])newShape.Clone();
        int inferred = Array.IndexOf(resolved, -1);
        if (inferred >= 0 && Array.LastIndexOf(resolved, -1) == inferred)
        {
            int known = resolved.Where((d, i) => i != inferred).Aggregate(1, (p, d) => p * d);
            if (known > 0 && Numel % known == 0) resolved[inferred] = Numel / known;
        }
        if (resolved.Any(d => d < 1) || Shapes.Numel(resolved) != Numel)
            throw new ArgumentException(
                $"reshape: shape {Shapes.Format(newShape)} does not fit {Shapes.Format(shape)} ({Numel} elements).");
        Shapes.Validate("reshape", resolved);
        var x = this;
        var y = ShareStorage(resolved);
        return Record(y, "reshape", new[] { x }, dy => Kernels.Accumulate(dy, x.GradTarget()));
    }

    /// <summary>A tensor sharing this one's memory that is cut off from the graph (requires no grad).</summary>
    public Tensor Detach() => ShareStorage(shape);
}
