using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product with <c>torch.matmul</c>'s rules: 1-D · 1-D is a dot product, a 1-D operand is a row (left) or a
    /// column (right) that is removed again, 2-D · 2-D the matrix product, and anything of higher rank a batch of
    /// products over the leading axes, broadcast against each other ([B, 1, m, k] · [H, k, n] → [B, H, m, n]). An operand
    /// that is <see cref="MT"/> of another is read transposed in place. Backward: dA += dC·Bᵀ and dB += Aᵀ·dC per batch
    /// item, summed over broadcast batch axes, by the same kernels reading operands transposed in place.
    /// </summary>
    public Tensor MatMul(Tensor other)
    {
        CheckOperands("matmul", this, other);
        if (Rank == 0 || other.Rank == 0)
            throw new ArgumentException(
                $"matmul: both operands need at least one axis, got {Shapes.Format(shape)} and {Shapes.Format(other.shape)}.");
        if (Rank == 1 && other.Rank == 1)
        {
            if (shape[0] != other.shape[0])
                throw new ArgumentException(
                    $"matmul: vectors {Shapes.Format(shape)} and {Shapes.Format(other.shape)} differ in length.");
            return Unsqueeze(0).MatMul(other.Unsqueeze(1)).Reshape();
        }
        if (Rank == 1) return Unsqueeze(0).MatMul(other).Squeeze(-2);
        if (other.Rank == 1) return MatMul(other.Unsqueeze(1)).Squeeze(-1);
        return BatchedProduct("matmul", this, other);
    }

    /// <summary>Batched matrix product of [B, m, k] and [B, k, n] → [B, m, n] (PyTorch <c>bmm</c>: no broadcasting).</summary>
    public Tensor Bmm(Tensor other)
    {
        CheckOperands("bmm", this, other);
        if (Rank != 3 || other.Rank != 3 || shape[0] != other.shape[0])
            throw new ArgumentException(
                $"bmm: shapes {Shapes.Format(shape)} and {Shapes.Format(other.shape)} are not [B, m, k] and [B, k, n].");
        return BatchedProduct("bmm", this, other);
    }

    /// <summary>[*a, m, k] · [*b, k, n] → [broadcast(a, b), m, n], both of rank ≥ 2.</summary>
    private static Tensor BatchedProduct(string op, Tensor a, Tensor b)
    {
        int m = a.shape[^2], k = a.shape[^1], n = b.shape[^1];
        if (b.shape[^2] != k)
            throw new ArgumentException(
                $"{op}: shapes {Shapes.Format(a.shape)} and {Shapes.Format(b.shape)} cannot be multiplied " +
                $"({m}×{k} by {b.shape[^2]}×{n}).");
        var batchA = a.shape[..^2];
        var batchB = b.shape[..^2];
        var batch = Shapes.BroadcastShape(op, batchA, batchB);
        var result = batch.Append(m).Append(n).ToArray();
        Shapes.Validate(op, result);
        var (da, ta) = a.MatMulOperand;
        var (db, tb) = b.MatMulOperand;
        var kernels = a.Kernels;
        // A batch of row-major matrices times one matrix is one product of the stacked rows.
        if (batchB.Length == 0 && !ta && batchA.Length > 0)
            return StackedRowsProduct(op, a, b, result);
        if (batch.Length == 0 && !ta && !tb) return MatrixProduct(op, a, b);
        int items = Shapes.Numel(batch);
        var itemsA = BatchLayout(batchA, batch, m * k);
        var itemsB = BatchLayout(batchB, batch, k * n);
        var itemsC = BatchLayout(batch, batch, m * n);
        var c = Uninitialized(a.Device, result);
        BatchedProductCall(kernels, ta, tb, da.Elements, itemsA, db.Elements, itemsB, c.Elements, m, n, k, accumulate: false);
        // A gradient whose operand repeats across the batch (a broadcast batch axis) gathers several items into one
        // matrix: those go one item at a time, in order; the others in one batched call.
        bool repeatsA = Shapes.Numel(batchA) != items, repeatsB = Shapes.Numel(batchB) != items;
        return Record(c, op, new[] { da, db }, dc =>
        {
            if (da.requiresGrad)
            {
                // dA = dC·Bᵀ; stored transposed, its source gets dAᵀ = B·dCᵀ.
                var g = da.GradTarget();
                if (!repeatsA)
                {
                    if (!ta) BatchedProductCall(kernels, false, !tb, dc, itemsC, db.Elements, itemsB, g, m, k, n, true);
                    else BatchedProductCall(kernels, tb, true, db.Elements, itemsB, dc, itemsC, g, k, m, n, true);
                }
                else
                {
                    for (int i = 0; i < items; i++)
                    {
                        var dci = dc.SubView((long)i * m * n, m * n);
                        var bi = db.Elements.SubView(itemsB.Map(i), k * n);
                        var gi = g.SubView(itemsA.Map(i), m * k);
                        if (!ta) Product(kernels, false, !tb, dci, bi, gi, m, k, n, accumulate: true);
                        else Product(kernels, tb, true, bi, dci, gi, k, m, n, accumulate: true);
                    }
                }
            }
            if (db.requiresGrad)
            {
                // dB = Aᵀ·dC; stored transposed, its source gets dBᵀ = dCᵀ·A.
                var g = db.GradTarget();
                if (!repeatsB)
                {
                    if (!tb) BatchedProductCall(kernels, !ta, false, da.Elements, itemsA, dc, itemsC, g, k, n, m, true);
                    else BatchedProductCall(kernels, true, ta, dc, itemsC, da.Elements, itemsA, g, n, k, m, true);
                }
                else
                {
                    for (int i = 0; i < items; i++)
                    {
                        var dci = dc.SubView((long)i * m * n, m * n);
                        var ai = da.Elements.SubView(itemsA.Map(i), m * k);
                        var gi = g.SubView(itemsB.Map(i), k * n);
                        if (!tb) Product(kernels, !ta, false, ai, dci, gi, k, n, m, accumulate: true);
                        else Product(kernels, true, ta, dci, ai, gi, n, k, m, accumulate: true);
                    }
                }
            }
        });
    }

    /// <summary>The batched C_i (+)= op(A_i)·op(B_i), with op chosen at run time.</summary>
    private static void BatchedProductCall(IKernels k, bool transposeA, bool transposeB, ILGPU.ArrayView<float> a,
        StridedLayout itemsA, ILGPU.ArrayView<float> b, StridedLayout itemsB, ILGPU.ArrayView<float> c, int m, int n,
        int kk, bool accumulate)
    {
        switch (transposeA, transposeB)
        {
            case (false, false): k.BatchedMatMul<AsStored, AsStored>(a, itemsA, b, itemsB, c, m, n, kk, accumulate); break;
            case (false, true): k.BatchedMatMul<AsStored, AsTransposed>(a, itemsA, b, itemsB, c, m, n, kk, accumulate); break;
            case (true, false): k.BatchedMatMul<AsTransposed, AsStored>(a, itemsA, b, itemsB, c, m, n, kk, accumulate); break;
            default: k.BatchedMatMul<AsTransposed, AsTransposed>(a, itemsA, b, itemsB, c, m, n, kk, accumulate); break;
        }
    }

    /// <summary>
    /// Where batch item i of an operand with batch axes <paramref name="own"/> starts when the batch is
    /// <paramref name="batch"/>: axes the operand lacks or has as 1 repeat its matrices (stride 0).
    /// </summary>
    private static StridedLayout BatchLayout(int[] own, int[] batch, int matrix)
    {
        var padded = Shapes.Pad(own, batch.Length);
        var strides = StridedLayout.ContiguousStrides(padded);
        for (int d = 0; d < batch.Length; d++)
            strides[d] = padded[d] == 1 ? 0 : strides[d] * matrix;
        return StridedLayout.Create(batch, strides, 0);
    }

    /// <summary>C (+)= op(A)·op(B) with op chosen at run time (transposed in place or not).</summary>
    private static void Product(IKernels k, bool transposeA, bool transposeB, ILGPU.ArrayView<float> a,
        ILGPU.ArrayView<float> b, ILGPU.ArrayView<float> c, int m, int n, int kk, bool accumulate)
    {
        switch (transposeA, transposeB)
        {
            case (false, false): k.MatMul<AsStored, AsStored>(a, b, c, m, n, kk, accumulate); break;
            case (false, true): k.MatMul<AsStored, AsTransposed>(a, b, c, m, n, kk, accumulate); break;
            case (true, false): k.MatMul<AsTransposed, AsStored>(a, b, c, m, n, kk, accumulate); break;
            default: k.MatMul<AsTransposed, AsTransposed>(a, b, c, m, n, kk, accumulate); break;
        }
    }

    /// <summary>
    /// [*, m, k] (row-major, not a lazy transpose) · [k, n]: the batch's rows stacked into one [(*·m), k] product, as
    /// PyTorch folds them; the operand B may be read transposed in place.
    /// </summary>
    private static Tensor StackedRowsProduct(string op, Tensor a, Tensor b, int[] result)
    {
        int k = a.shape[^1], n = b.shape[^1], rows = a.Numel / k;
        var flat = a.Reshape(rows, k);
        return MatrixProduct(op, flat, b).Reshape(result);
    }

    /// <summary>[m, k] · [k, n] → [m, n], either operand possibly read transposed in place (a lazy <see cref="MT"/>).</summary>
    private static Tensor MatrixProduct(string op, Tensor a, Tensor b)
    {
        int m = a.shape[0], k = a.shape[1], n = b.shape[1];
        var (da, ta) = a.MatMulOperand;
        var (db, tb) = b.MatMulOperand;
        var c = Uninitialized(a.Device, new[] { m, n });
        var kernels = a.Kernels;
        Product(kernels, ta, tb, da.Elements, db.Elements, c.Elements, m, n, k, accumulate: false);
        if (!ta && !tb)
        {
            return Record(c, op, new[] { a, b }, dc =>
            {
                if (a.requiresGrad) a.AccumulateProduct<AsStored, AsTransposed>(dc, b.Elements, m, k, n);
                if (b.requiresGrad) b.AccumulateProduct<AsTransposed, AsStored>(a.Elements, dc, k, n, m);
            });
        }
        return Record(c, op, new[] { da, db }, dc =>
        {
            if (da.requiresGrad)
            {
                if (!ta) Product(kernels, false, !tb, dc, db.Elements, da.GradTarget(), m, k, n, accumulate: true);
                else Product(kernels, tb, true, db.Elements, dc, da.GradTarget(), k, m, n, accumulate: true);
            }
            if (db.requiresGrad)
            {
                if (!tb) Product(kernels, !ta, false, da.Elements, dc, db.GradTarget(), k, n, m, accumulate: true);
                else Product(kernels, true, ta, dc, da.Elements, db.GradTarget(), n, k, m, accumulate: true);
            }
        });
    }

    /// <summary>
    /// x·Wᵀ (+ b), PyTorch's <c>F.linear</c>: x [m, in], weight [out, in] (PyTorch's layout), bias [out] or null.
    /// Forward reads W transposed in place; backward: dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        CheckOperands("linear", bias == null ? new[] { x, weight } : new[] { x, weight, bias });
        if (x.Rank != 2 && x.Rank >= 1 && weight.Rank == 2 && x.shape[^1] == weight.shape[1])
        {
            // [*, in] → [*, out]: the leading axes folded into rows (a view), as PyTorch's F.linear does.
            var rows = Linear(x.Reshape(-1, x.shape[^1]), weight, bias);
            return rows.Reshape(x.shape[..^1].Append(weight.shape[0]).ToArray());
        }
        if (x.Rank != 2 || weight.Rank != 2 || x.shape[1] != weight.shape[1])
            throw new ArgumentException(
                $"linear: input {Shapes.Format(x.shape)} and weight {Shapes.Format(weight.shape)} are not " +
                "[*, in] and [out, in].");
        if (bias != null && (bias.Rank != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException(
                $"linear: bias {Shapes.Format(bias.shape)} does not match weight {Shapes.Format(weight.shape)} ([out]).");
        int m = x.shape[0], inputs = x.shape[1], outputs = weight.shape[0];
        var y = Uninitialized(x.Device, new[] { m, outputs });
        var k = x.Kernels;
        k.MatMul<AsStored, AsTransposed>(x.Elements, weight.Elements, y.Elements, m, outputs, inputs, accumulate: false);
        var product = Record(y, "linear", new[] { x, weight }, dy =>
        {
            if (x.requiresGrad) x.AccumulateProduct<AsStored, AsStored>(dy, weight.Elements, m, inputs, outputs);
            if (weight.requiresGrad && !weight.GradByHooks)
                weight.AccumulateProduct<AsTransposed, AsStored>(dy, x.Elements, outputs, inputs, m);
        });
        if (bias == null) return product;
        var withBias = product + bias;
        if (withBias.GradFn == null) product.Dispose(); // nothing will read it again (inference)
        return withBias;
    }

    /// <summary>The transpose of a 2-D tensor (lazy, as <see cref="MT"/>: a matrix product reads it in place).</summary>
    public Tensor Transpose()
    {
        CheckOperandsAnyType("transpose", this);
        if (Rank != 2)
            throw new ArgumentException($"transpose: needs a 2-D tensor, got shape {Shapes.Format(shape)}; " +
                "use Transpose(dim0, dim1) or Permute for other ranks.");
        return Transpose(0, 1);
    }

    /// <summary>
    /// The same elements with another shape (one dimension may be −1 and is inferred). Shares this tensor's
    /// memory, as PyTorch's <c>view</c>/<c>reshape</c> of a contiguous tensor.
    /// </summary>
    public Tensor Reshape(params int[] newShape)
    {
        CheckOperandsAnyType("reshape", this);
        ArgumentNullException.ThrowIfNull(newShape);
        var resolved = Shapes.ResolveInferred("reshape", newShape, Numel, $"shape {Shapes.Format(shape)}");
        Shapes.Validate("reshape", resolved);
        var x = this;
        var y = ShareStorage(resolved);
        return Record(y, "reshape", new[] { x }, dy => Kernels.Accumulate(dy, x.GradTarget()));
    }

    /// <summary>A tensor sharing this one's memory that is cut off from the graph (requires no grad).</summary>
    public Tensor Detach() => ShareStorage(shape);
}
