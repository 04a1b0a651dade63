using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Integer tensors and indexing: dtype conversion, sequences, comparisons, where, triangles, arg-max, sorting, gather
/// and scatter along an axis, one-hot, products along an axis. Indices are checked in the kernel: an index out of range
/// writes the error record (<see cref="IndexErrors"/>) and a zero result, and the engine raises it naming the op.
/// </summary>
public static class IndexingKernels
{
    /// <summary>y[i] = (float)x[i].</summary>
    public static void ToFloat(ArrayView<int> x, ArrayView<float> y)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step) y[i] = x[i];
    }

    /// <summary>y[i] = x[i] truncated toward zero, or x[i] ≠ 0 (1/0) when <paramref name="toBool"/> ≠ 0.</summary>
    public static void ToInt(ArrayView<float> x, ArrayView<int> y, int toBool)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
            y[i] = toBool != 0 ? (x[i] != 0f ? 1 : 0) : (int)x[i];
    }

    /// <summary>y[i] = x[i] ≠ 0 (1/0).</summary>
    public static void IntToBool(ArrayView<int> x, ArrayView<int> y)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step) y[i] = x[i] != 0 ? 1 : 0;
    }

    /// <summary>y[i] = start + i·step (float).</summary>
    public static void Sequence(ArrayView<float> y, float start, float step)
    {
        for (int i = GridStride.Start, s = GridStride.Step, end = y.IntLength; i < end; i += s) y[i] = start + i * step;
    }

    /// <summary>y[i] = start + i·step (integer).</summary>
    public static void IntSequence(ArrayView<int> y, int start, int step)
    {
        for (int i = GridStride.Start, s = GridStride.Step, end = y.IntLength; i < end; i += s) y[i] = start + i * step;
    }

    /// <summary>
    /// y[i] = a[ma(i)] ∘ b[mb(i)] as 1/0 for ∘ = op: 0 ==, 1 ≠, 2 &lt;, 3 ≤, 4 &gt;, 5 ≥ (IEEE: NaN compares unequal to
    /// everything).
    /// </summary>
    public static void Compare(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb,
        ArrayView<int> y, int op)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = y.IntLength; i < end; i += step)
            y[i] = Holds(a[ma.Map(i)], b[mb.Map(i)], op) ? 1 : 0;
    }

    /// <summary>The integer form of <see cref="Compare"/>.</summary>
    public static void IntCompare(ArrayView<int> a, BroadcastMap ma, ArrayView<int> b, BroadcastMap mb,
        ArrayView<int> y, int op)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = y.IntLength; i < end; i += step)
        {
            int u = a[ma.Map(i)], v = b[mb.Map(i)];
            y[i] = Holds(u, v, op) ? 1 : 0;
        }
    }

    public static bool Holds(float u, float v, int op) => op switch
    {
        0 => u == v,
        1 => u != v,
        2 => u < v,
        3 => u <= v,
        4 => u > v,
        _ => u >= v,
    };

    public static bool Holds(int u, int v, int op) => op switch
    {
        0 => u == v,
        1 => u != v,
        2 => u < v,
        3 => u <= v,
        4 => u > v,
        _ => u >= v,
    };

    /// <summary>
    /// y[i] = cond[mc(i)] ≠ 0 ? a[ma(i)] : b[mb(i)], each operand through its broadcast map (a causal mask [T, T] over
    /// scores [B, H, T, T], a scalar fill value: no operand is expanded). Moves 32-bit values, so any dtype.
    /// </summary>
    public static void Where(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> a, BroadcastMap ma,
        ArrayView<float> b, BroadcastMap mb, ArrayView<float> y)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = y.IntLength; i < end; i += step)
            y[i] = cond[mc.Map(i)] != 0 ? a[ma.Map(i)] : b[mb.Map(i)];
    }

    /// <summary>d[i] += dy[i] where cond[mc(i)] ≠ 0 (side 0, the "a" operand) or where it is 0 (side 1); d and dy full size.</summary>
    public static void WhereGrad(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> dy, ArrayView<float> d, int side)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = d.IntLength; i < end; i += step)
            if ((cond[mc.Map(i)] != 0) == (side == 0)) d[i] += dy[i];
    }

    /// <summary>
    /// y (+)= x masked to a triangle of each [rows, cols] matrix: kept where col − row ≤ diagonal (lower, tril) or
    /// col − row ≥ diagonal (upper, triu), else 0. Moves 32-bit values unchanged, so it serves every dtype.
    /// </summary>
    public static void Triangle(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int diagonal, int upper,
        int accumulate)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
        {
            int r = i / cols % rows, c = i % cols;
            bool keep = upper != 0 ? c - r >= diagonal : c - r <= diagonal;
            if (accumulate != 0)
            {
                if (keep) y[i] += x[i];
            }
            else
            {
                y[i] = keep ? x[i] : 0f;
            }
        }
    }

    /// <summary>
    /// y[line] = the first position of the largest (or, with <paramref name="min"/> ≠ 0, smallest) element of each line
    /// of x viewed as [Outer, Len, Inner]; a NaN counts as larger (smaller) than everything, as PyTorch's argmax.
    /// </summary>
    public static void AxisArgMax(ArrayView<float> x, ArrayView<int> y, AxisView v, int min)
    {
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            int best = 0;
            float value = x[v.Index(line, 0)];
            for (int l = 1; l < v.Len && !float.IsNaN(value); l++)
            {
                float u = x[v.Index(line, l)];
                if (float.IsNaN(u) || (min != 0 ? u < value : u > value))
                {
                    best = l;
                    value = u;
                }
            }
            y[line] = best;
        }
    }

    /// <summary>
    /// Sorts each line of x ([Outer, Len, Inner]) and writes its first <paramref name="k"/> values and their positions
    /// into values/indices ([Outer, k, Inner]): ascending, or descending when <paramref name="descending"/> ≠ 0, ties in
    /// position order (stable), NaN after every number (before, descending), as PyTorch. One thread per line, an
    /// insertion sort into the output (O(Len·k)).
    /// </summary>
    public static void SortLines(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices, AxisView v, int k,
        int descending)
    {
        var outView = new AxisView(v.Outer, k, v.Inner);
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            int filled = 0;
            for (int l = 0; l < v.Len; l++)
            {
                float u = x[v.Index(line, l)];
                // Find where u goes among the kept ones: after every element that comes before it or ties with it.
                int at = filled;
                while (at > 0 && Before(u, values[outView.Index(line, at - 1)], descending)) at--;
                if (at >= k) continue;
                for (int j = Math.Min(filled, k - 1); j > at; j--)
                {
                    values[outView.Index(line, j)] = values[outView.Index(line, j - 1)];
                    indices[outView.Index(line, j)] = indices[outView.Index(line, j - 1)];
                }
                values[outView.Index(line, at)] = u;
                indices[outView.Index(line, at)] = l;
                if (filled < k) filled++;
            }
        }
    }

    /// <summary>Whether u sorts strictly before w (NaN is the largest value).</summary>
    public static bool Before(float u, float w, int descending)
    {
        bool uNaN = float.IsNaN(u), wNaN = float.IsNaN(w);
        if (descending != 0) return uNaN ? !wNaN : !wNaN && u > w;
        return wNaN ? !uNaN : !uNaN && u < w;
    }

    /// <summary>
    /// y[p] = x[plan.Positions.Map(p) + index·plan.DimStride] with index = index[plan.IndexSlot(p)] for every position p
    /// (gather, index_select, embedding lookup). An index outside [0, DimSize) records an error and gives 0.
    /// </summary>
    public static void Gather(ArrayView<float> x, ArrayView<int> index, ArrayView<float> y, IndexPlan plan,
        ArrayView<int> errors)
    {
        for (int p = GridStride.Start, step = GridStride.Step, end = plan.Count; p < end; p += step)
        {
            int slot = plan.IndexSlot(p), idx = index[slot];
            if (idx < 0 || idx >= plan.DimSize)
            {
                Report(errors, slot, idx, plan.OpId);
                y[p] = 0f;
            }
            else
            {
                y[p] = x[plan.Positions.Map(p) + idx * plan.DimStride];
            }
        }
    }

    /// <summary>
    /// y[plan.Positions.Map(p) + index·plan.DimStride] += src[p] (or = src[p] when <paramref name="accumulate"/> is 0)
    /// for every position p: the adjoint of <see cref="Gather"/> (scatter_add, the backward of gather, index_select and
    /// embedding) and scatter. One thread per line of positions along dim, walking the line in order, so repeated
    /// indices add (or overwrite) in a fixed order on every backend: deterministic, with no atomics.
    /// </summary>
    public static void Scatter(ArrayView<float> src, ArrayView<int> index, ArrayView<float> y, IndexPlan plan,
        ArrayView<int> errors, int accumulate)
    {
        int lines = plan.Count / plan.Len;
        for (int line = GridStride.Start, step = GridStride.Step; line < lines; line += step)
        {
            for (int j = 0; j < plan.Len; j++)
            {
                int p = plan.PositionOf(line, j), slot = plan.IndexSlot(p), idx = index[slot];
                if (idx < 0 || idx >= plan.DimSize)
                {
                    Report(errors, slot, idx, plan.OpId);
                    continue;
                }
                int t = plan.Positions.Map(p) + idx * plan.DimStride;
                y[t] = accumulate != 0 ? y[t] + src[p] : src[p];
            }
        }
    }

    /// <summary>y[p·classes + c] = (index[p] = c); an index outside [0, classes) records an error.</summary>
    public static void OneHot(ArrayView<int> index, ArrayView<int> y, int classes, ArrayView<int> errors, int opId)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = y.IntLength; i < end; i += step)
        {
            int p = i / classes, c = i % classes, idx = index[p];
            if (c == 0 && (idx < 0 || idx >= classes)) Report(errors, p, idx, opId);
            y[i] = idx == c ? 1 : 0;
        }
    }

    /// <summary>y[line] = Π_l x[line, l] over each line of x viewed as [Outer, Len, Inner].</summary>
    public static void LineProduct(ArrayView<float> x, ArrayView<float> y, AxisView v)
    {
        for (int line = GridStride.Start, step = GridStride.Step, end = v.Lines; line < end; line += step)
        {
            float product = 1f;
            for (int l = 0; l < v.Len; l++) product *= x[v.Index(line, l)];
            y[line] = product;
        }
    }

    /// <summary>
    /// dx[line, l] += dy[line]·Π_{j≠l} x[line, j]: the product of the others, computed directly (no division, so zeros
    /// are exact). One thread per element, O(Len) each.
    /// </summary>
    public static void LineProductGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, AxisView v)
    {
        for (int i = GridStride.Start, step = GridStride.Step, end = x.IntLength; i < end; i += step)
        {
            int line = v.LineOf(i), l = i / v.Inner % v.Len;
            float others = 1f;
            for (int j = 0; j < v.Len; j++)
                if (j != l) others *= x[v.Index(line, j)];
            dx[i] += dy[line] * others;
        }
    }

    /// <summary>Writes [1, position, value, op] into the error record unless an earlier error holds it.</summary>
    private static void Report(ArrayView<int> errors, int position, int value, int opId)
    {
        if (Atomic.CompareExchange(ref errors[0], 0, 1) == 0)
        {
            errors[1] = position;
            errors[2] = value;
            errors[3] = opId;
        }
    }

    // ---- launchers ----

    public static void ToFloat(this KernelContext k, ArrayView<int> x, ArrayView<float> y) =>
        k.Load<ArrayView<int>, ArrayView<float>>(ToFloat)(k.ForItems(x.Length), x, y);

    public static void ToInt(this KernelContext k, ArrayView<float> x, ArrayView<int> y, bool toBool) =>
        k.Load<ArrayView<float>, ArrayView<int>, int>(ToInt)(k.ForItems(x.Length), x, y, toBool ? 1 : 0);

    public static void IntToBool(this KernelContext k, ArrayView<int> x, ArrayView<int> y) =>
        k.Load<ArrayView<int>, ArrayView<int>>(IntToBool)(k.ForItems(x.Length), x, y);

    public static void Sequence(this KernelContext k, ArrayView<float> y, float start, float step) =>
        k.Load<ArrayView<float>, float, float>(Sequence)(k.ForItems(y.Length), y, start, step);

    public static void IntSequence(this KernelContext k, ArrayView<int> y, int start, int step) =>
        k.Load<ArrayView<int>, int, int>(IntSequence)(k.ForItems(y.Length), y, start, step);

    public static void Compare(this KernelContext k, ArrayView<float> a, BroadcastMap ma, ArrayView<float> b,
        BroadcastMap mb, ArrayView<int> y, int op) =>
        k.Load<ArrayView<float>, BroadcastMap, ArrayView<float>, BroadcastMap, ArrayView<int>, int>(Compare)(
            k.ForItems(y.Length), a, ma, b, mb, y, op);

    public static void IntCompare(this KernelContext k, ArrayView<int> a, BroadcastMap ma, ArrayView<int> b,
        BroadcastMap mb, ArrayView<int> y, int op) =>
        k.Load<ArrayView<int>, BroadcastMap, ArrayView<int>, BroadcastMap, ArrayView<int>, int>(IntCompare)(
            k.ForItems(y.Length), a, ma, b, mb, y, op);

    public static void Where(this KernelContext k, ArrayView<int> cond, BroadcastMap mc, ArrayView<float> a,
        BroadcastMap ma, ArrayView<float> b, BroadcastMap mb, ArrayView<float> y) =>
        k.Load<ArrayView<int>, BroadcastMap, ArrayView<float>, BroadcastMap, ArrayView<float>, BroadcastMap, ArrayView<float>>(
            Where)(k.ForItems(y.Length), cond, mc, a, ma, b, mb, y);

    public static void WhereGrad(this KernelContext k, ArrayView<int> cond, BroadcastMap mc, ArrayView<float> dy,
        ArrayView<float> d, int side) =>
        k.Load<ArrayView<int>, BroadcastMap, ArrayView<float>, ArrayView<float>, int>(WhereGrad)(
            k.ForItems(d.Length), cond, mc, dy, d, side);

    public static void Triangle(this KernelContext k, ArrayView<float> x, ArrayView<float> y, int rows, int cols,
        int diagonal, bool upper, bool accumulate) =>
        k.Load<ArrayView<float>, ArrayView<float>, int, int, int, int, int>(Triangle)(
            k.ForItems(x.Length), x, y, rows, cols, diagonal, upper ? 1 : 0, accumulate ? 1 : 0);

    public static void AxisArgMax(this KernelContext k, ArrayView<float> x, ArrayView<int> y, AxisView v, bool min) =>
        k.Load<ArrayView<float>, ArrayView<int>, AxisView, int>(AxisArgMax)(k.ForItems(v.Lines), x, y, v, min ? 1 : 0);

    public static void SortLines(this KernelContext k, ArrayView<float> x, ArrayView<float> values,
        ArrayView<int> indices, AxisView v, int count, bool descending) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<int>, AxisView, int, int>(SortLines)(
            k.ForItems(v.Lines), x, values, indices, v, count, descending ? 1 : 0);

    public static void Gather(this KernelContext k, ArrayView<float> x, ArrayView<int> index, ArrayView<float> y,
        IndexPlan plan, ArrayView<int> errors) =>
        k.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, IndexPlan, ArrayView<int>>(Gather)(
            k.ForItems(plan.Count), x, index, y, plan, errors);

    public static void Scatter(this KernelContext k, ArrayView<float> src, ArrayView<int> index, ArrayView<float> y,
        IndexPlan plan, ArrayView<int> errors, bool accumulate) =>
        k.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, IndexPlan, ArrayView<int>, int>(Scatter)(
            k.ForItems(plan.Count / plan.Len), src, index, y, plan, errors, accumulate ? 1 : 0);

    public static void OneHot(this KernelContext k, ArrayView<int> index, ArrayView<int> y, int classes,
        ArrayView<int> errors, int opId) =>
        k.Load<ArrayView<int>, ArrayView<int>, int, ArrayView<int>, int>(OneHot)(k.ForItems(y.Length), index, y, classes, errors, opId);

    public static void LineProduct(this KernelContext k, ArrayView<float> x, ArrayView<float> y, AxisView v) =>
        k.Load<ArrayView<float>, ArrayView<float>, AxisView>(LineProduct)(k.ForItems(v.Lines), x, y, v);

    public static void LineProductGrad(this KernelContext k, ArrayView<float> x, ArrayView<float> dy,
        ArrayView<float> dx, AxisView v) =>
        k.Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, AxisView>(LineProductGrad)(k.ForItems(x.Length), x, dy, dx, v);
}
