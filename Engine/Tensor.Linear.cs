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
            if (a.requiresGrad) kernels.MatMul<AsStored, AsTransposed>(dc, b.View, a.GradTarget(), m, k, n, true);
            if (b.requiresGrad) kernels.MatMul<AsTransposed, AsStored>(a.View, dc, b.GradTarget(), k, n, m, true);
        });
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
