using System.Runtime.CompilerServices;
using ILGPU;

namespace Engine.Kernels.Simd;

/// <summary>
/// Integer tensors and indexing, the math of <see cref="IndexingKernels"/> (whose scalar helpers these loops call, so
/// comparisons, sort order and error records are the same): plain loops over host memory, with the rows of an
/// index_select (an embedding lookup) and of its scatter-add backward moved as whole vector rows. The scatter-add splits
/// the row's columns over the pool, so each element's additions keep the index order: deterministic with repeated
/// indices.
/// </summary>
public sealed unsafe partial class SimdKernels
{
    public bool CompletesOnReturn => true;

    public void ToFloat(ArrayView<int> x, ArrayView<float> y)
    {
        int* px = Ptr(x);
        float* py = Ptr(y);
        for (int i = 0, n = x.IntLength; i < n; i++) py[i] = px[i];
    }

    public void ToInt(ArrayView<float> x, ArrayView<int> y, bool toBool)
    {
        float* px = Ptr(x);
        int* py = Ptr(y);
        for (int i = 0, n = x.IntLength; i < n; i++) py[i] = toBool ? (px[i] != 0f ? 1 : 0) : (int)px[i];
    }

    public void IntToBool(ArrayView<int> x, ArrayView<int> y)
    {
        int* px = Ptr(x), py = Ptr(y);
        for (int i = 0, n = x.IntLength; i < n; i++) py[i] = px[i] != 0 ? 1 : 0;
    }

    public void Sequence(ArrayView<float> y, float start, float step)
    {
        float* py = Ptr(y);
        for (int i = 0, n = y.IntLength; i < n; i++) py[i] = start + i * step;
    }

    public void IntSequence(ArrayView<int> y, int start, int step)
    {
        int* py = Ptr(y);
        for (int i = 0, n = y.IntLength; i < n; i++) py[i] = start + i * step;
    }

    public void Compare(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb, ArrayView<int> y, int op)
    {
        float* pa = Ptr(a), pb = Ptr(b);
        int* py = Ptr(y);
        for (int i = 0, n = y.IntLength; i < n; i++) py[i] = IndexingKernels.Holds(pa[ma.Map(i)], pb[mb.Map(i)], op) ? 1 : 0;
    }

    public void IntCompare(ArrayView<int> a, BroadcastMap ma, ArrayView<int> b, BroadcastMap mb, ArrayView<int> y, int op)
    {
        int* pa = Ptr(a), pb = Ptr(b), py = Ptr(y);
        for (int i = 0, n = y.IntLength; i < n; i++) py[i] = IndexingKernels.Holds(pa[ma.Map(i)], pb[mb.Map(i)], op) ? 1 : 0;
    }

    public void Where(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> a, BroadcastMap ma, ArrayView<float> b,
        BroadcastMap mb, ArrayView<float> y)
    {
        int* pc = Ptr(cond);
        float* pa = Ptr(a), pb = Ptr(b), py = Ptr(y);
        for (int i = 0, n = y.IntLength; i < n; i++) py[i] = pc[mc.Map(i)] != 0 ? pa[ma.Map(i)] : pb[mb.Map(i)];
    }

    public void WhereGrad(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> dy, ArrayView<float> d, int side)
    {
        int* pc = Ptr(cond);
        float* pdy = Ptr(dy), pd = Ptr(d);
        for (int i = 0, n = d.IntLength; i < n; i++)
            if ((pc[mc.Map(i)] != 0) == (side == 0)) pd[i] += pdy[i];
    }

    public void Triangle(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int diagonal, bool upper,
        bool accumulate)
    {
        float* px = Ptr(x), py = Ptr(y);
        for (int i = 0, n = x.IntLength; i < n; i++)
        {
            int r = i / cols % rows, c = i % cols;
            bool keep = upper ? c - r >= diagonal : c - r <= diagonal;
            if (accumulate)
            {
                if (keep) py[i] += px[i];
            }
            else
            {
                py[i] = keep ? px[i] : 0f;
            }
        }
    }

    public void AxisArgMax(ArrayView<float> x, ArrayView<int> y, AxisView v, bool min)
    {
        float* px = Ptr(x);
        int* py = Ptr(y);
        for (int line = 0; line < v.Lines; line++)
        {
            int best = 0;
            float value = px[v.Index(line, 0)];
            for (int l = 1; l < v.Len && !float.IsNaN(value); l++)
            {
                float u = px[v.Index(line, l)];
                if (float.IsNaN(u) || (min ? u < value : u > value))
                {
                    best = l;
                    value = u;
                }
            }
            py[line] = best;
        }
    }

    /// <summary>
    /// Each line sorted as one array of 64-bit keys (the value's order-preserving bits above, its position below), so
    /// ties keep position order and no comparer or per-call array is needed: the same order as the ILGPU insertion
    /// sort (NaN largest, −0 equal to +0).
    /// </summary>
    public void SortLines(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices, AxisView v, int k,
        bool descending)
    {
        float* px = Ptr(x), pv = Ptr(values);
        int* pi = Ptr(indices);
        var outView = new AxisView(v.Outer, k, v.Inner);
        var keys = System.Buffers.ArrayPool<long>.Shared.Rent(v.Len);
        try
        {
            for (int line = 0; line < v.Lines; line++)
            {
                for (int l = 0; l < v.Len; l++)
                {
                    int order = SortableBits(px[v.Index(line, l)]);
                    keys[l] = ((long)(descending ? ~order : order) << 32) | (uint)l;
                }
                Array.Sort(keys, 0, v.Len);
                for (int j = 0; j < k; j++)
                {
                    int l = (int)(keys[j] & 0xFFFFFFFF);
                    pv[outView.Index(line, j)] = px[v.Index(line, l)];
                    pi[outView.Index(line, j)] = l;
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<long>.Shared.Return(keys);
        }
    }

    /// <summary>An int whose signed order is the float's (−0 as +0, every NaN above +∞).</summary>
    private static int SortableBits(float value)
    {
        if (float.IsNaN(value)) return int.MaxValue;
        if (value == 0f) return 0;
        int bits = BitConverter.SingleToInt32Bits(value);
        return bits < 0 ? bits ^ 0x7FFFFFFF : bits;
    }

    public void Gather(ArrayView<float> x, ArrayView<int> index, ArrayView<float> y, IndexPlan plan, ArrayView<int> errors)
    {
        float* px = Ptr(x), py = Ptr(y);
        int* pi = Ptr(index), pe = Ptr(errors);
        if (plan.PerPosition == 0)
        {
            // index_select: whole rows of Inner elements, contiguous on both sides.
            int rows = plan.Count / plan.Inner;
            var job = new GatherRows(px, pi, py, plan, pe);
            if ((long)plan.Count < ParallelMovement || Pool.Threads <= 1) job.Execute(0, 1);
            else Pool.Run(job, Math.Min(Pool.Threads, rows));
            return;
        }
        for (int p = 0; p < plan.Count; p++)
        {
            int slot = plan.IndexSlot(p), idx = pi[slot];
            if (idx < 0 || idx >= plan.DimSize)
            {
                Report(pe, slot, idx, plan.OpId);
                py[p] = 0f;
            }
            else
            {
                py[p] = px[plan.Positions.Map(p) + idx * plan.DimStride];
            }
        }
    }

    private sealed class GatherRows(float* x, int* index, float* y, IndexPlan plan, int* errors) : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            int rows = plan.Count / plan.Inner, inner = plan.Inner;
            int from = (int)((long)rows * part / parts), to = (int)((long)rows * (part + 1) / parts);
            int outer = -1, baseOffset = 0;
            for (int row = from; row < to; row++)
            {
                int p = row * inner, slot = plan.IndexSlot(p), idx = index[slot];
                // The row's base depends only on its outer block: one Map per block, not per row.
                if (row / plan.Len != outer)
                {
                    outer = row / plan.Len;
                    baseOffset = plan.Positions.Map(p);
                }
                float* target = y + (long)p;
                if (idx < 0 || idx >= plan.DimSize)
                {
                    Report(errors, slot, idx, plan.OpId);
                    new Span<float>(target, inner).Clear();
                    continue;
                }
                Buffer.MemoryCopy(x + baseOffset + (long)idx * plan.DimStride, target,
                    (long)inner * sizeof(float), (long)inner * sizeof(float));
            }
        }
    }

    public void Scatter(ArrayView<float> src, ArrayView<int> index, ArrayView<float> y, IndexPlan plan,
        ArrayView<int> errors, bool accumulate)
    {
        float* ps = Ptr(src), py = Ptr(y);
        int* pi = Ptr(index), pe = Ptr(errors);
        if (plan.PerPosition == 0 && accumulate && plan.Inner >= 16)
        {
            ScatterAddRowsBySegment(ps, pi, py, plan, pe);
            return;
        }
        if (plan.PerPosition == 0)
        {
            var job = new ScatterRows(ps, pi, py, plan, pe, accumulate);
            if ((long)plan.Count < ParallelMovement || Pool.Threads <= 1) job.Execute(0, 1);
            else Pool.Run(job, Pool.Threads);
            return;
        }
        int lines = plan.Count / plan.Len;
        for (int line = 0; line < lines; line++)
        {
            for (int j = 0; j < plan.Len; j++)
            {
                int p = plan.PositionOf(line, j), slot = plan.IndexSlot(p), idx = pi[slot];
                if (idx < 0 || idx >= plan.DimSize)
                {
                    Report(pe, slot, idx, plan.OpId);
                    continue;
                }
                int t = plan.Positions.Map(p) + idx * plan.DimStride;
                py[t] = accumulate ? py[t] + ps[p] : ps[p];
            }
        }
    }

    /// <summary>
    /// The scatter of whole rows (index_select's and embedding's backward): each part owns the target rows whose index
    /// is its number modulo the parts and walks every source row in index order, so each target row receives its
    /// additions in the same order on any number of threads (deterministic), and every move is a whole row.
    /// </summary>
    private sealed class ScatterRows(float* src, int* index, float* y, IndexPlan plan, int* errors, bool accumulate)
        : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            int inner = plan.Inner, rows = plan.Count / inner;
            int outer = 0, inBlock = 0, baseOffset = plan.Positions.Map(0);
            for (int row = 0; row < rows; row++, inBlock++)
            {
                if (inBlock == plan.Len)
                {
                    inBlock = 0;
                    outer++;
                    baseOffset = plan.Positions.Map(row * inner);
                }
                int p = row * inner, slot = plan.IndexSlot(p), idx = index[slot];
                if (idx < 0 || idx >= plan.DimSize)
                {
                    if (part == 0) Report(errors, slot, idx, plan.OpId);
                    continue;
                }
                if (parts > 1 && idx % parts != part) continue;
                float* target = y + baseOffset + (long)idx * plan.DimStride;
                float* source = src + (long)p;
                if (!accumulate) Buffer.MemoryCopy(source, target, (long)inner * sizeof(float), (long)inner * sizeof(float));
                else if (Lanes.Wide) new AxpyBody<F512>(source, target, 1f).Run(0, inner);
                else new AxpyBody<F256>(source, target, 1f).Run(0, inner);
            }
        }
    }

    /// <summary>
    /// The scatter-add of whole rows as a segmented sum: the source rows are bucketed by target row (a counting sort that
    /// keeps index order), then each target row is read once, has its source rows added in index order, and is written
    /// once; target rows split over the pool. Deterministic, and the source rows are read as a gather reads them.
    /// </summary>
    private void ScatterAddRowsBySegment(float* src, int* index, float* y, IndexPlan plan, int* errors)
    {
        int inner = plan.Inner, len = plan.Len, targets = plan.DimSize, blocks = plan.Count / (inner * len);
        var pool = System.Buffers.ArrayPool<int>.Shared;
        var start = pool.Rent(targets + 1);
        var fill = pool.Rent(targets + 1);
        var order = pool.Rent(len);
        try
        {
            for (int block = 0; block < blocks; block++)
            {
                Array.Clear(start, 0, targets + 1);
                int firstRow = block * len;
                // index_select reads index[j] for the j-th row of every block.
                for (int j = 0; j < len; j++)
                {
                    int idx = index[j];
                    if (idx < 0 || idx >= targets)
                    {
                        Report(errors, j, idx, plan.OpId);
                        continue;
                    }
                    start[idx + 1]++;
                }
                for (int t = 0; t < targets; t++) start[t + 1] += start[t];
                Array.Copy(start, fill, targets + 1);
                for (int j = 0; j < len; j++)
                {
                    int idx = index[j];
                    if (idx >= 0 && idx < targets) order[fill[idx]++] = j;
                }
                var job = new SegmentSums(src + (long)firstRow * inner, y + plan.Positions.Map(firstRow * inner), start, order,
                    inner, plan.DimStride, targets);
                if ((long)len * inner < ParallelMovement || Pool.Threads <= 1) job.Execute(0, 1);
                else Pool.Run(job, Pool.Threads);
            }
        }
        finally
        {
            pool.Return(start);
            pool.Return(fill);
            pool.Return(order);
        }
    }

    private sealed class SegmentSums(float* src, float* y, int[] start, int[] order, int inner, int stride, int targets)
        : IParallelWork
    {
        public void Execute(int part, int parts)
        {
            int from = (int)((long)targets * part / parts), to = (int)((long)targets * (part + 1) / parts);
            for (int t = from; t < to; t++)
            {
                int begin = start[t], end = start[t + 1];
                if (begin == end) continue;
                if (Lanes.Wide) Add<F512>(t, begin, end);
                else Add<F256>(t, begin, end);
            }
        }

        /// <summary>
        /// y[t] += Σ src[order[begin..end]] in order, eight registers of columns at a time.
        /// </summary>
        [MethodImpl(Lanes.Hot)]
        private void Add<TV>(int t, int begin, int end) where TV : struct, IFloatVector<TV>
        {
            float* target = y + (long)t * stride;
            int w = TV.Count, c = 0;
            for (; c + 8 * w <= inner; c += 8 * w)
            {
                TV a0 = TV.Load(target + c), a1 = TV.Load(target + c + w), a2 = TV.Load(target + c + 2 * w),
                    a3 = TV.Load(target + c + 3 * w), a4 = TV.Load(target + c + 4 * w), a5 = TV.Load(target + c + 5 * w),
                    a6 = TV.Load(target + c + 6 * w), a7 = TV.Load(target + c + 7 * w);
                for (int k = begin; k < end; k++)
                {
                    float* row = src + (long)order[k] * inner + c;
                    a0 += TV.Load(row);
                    a1 += TV.Load(row + w);
                    a2 += TV.Load(row + 2 * w);
                    a3 += TV.Load(row + 3 * w);
                    a4 += TV.Load(row + 4 * w);
                    a5 += TV.Load(row + 5 * w);
                    a6 += TV.Load(row + 6 * w);
                    a7 += TV.Load(row + 7 * w);
                }
                TV.Store(a0, target + c);
                TV.Store(a1, target + c + w);
                TV.Store(a2, target + c + 2 * w);
                TV.Store(a3, target + c + 3 * w);
                TV.Store(a4, target + c + 4 * w);
                TV.Store(a5, target + c + 5 * w);
                TV.Store(a6, target + c + 6 * w);
                TV.Store(a7, target + c + 7 * w);
            }
            for (; c + w <= inner; c += w)
            {
                var a = TV.Load(target + c);
                for (int k = begin; k < end; k++) a += TV.Load(src + (long)order[k] * inner + c);
                TV.Store(a, target + c);
            }
            for (; c < inner; c++)
            {
                float a = target[c];
                for (int k = begin; k < end; k++) a += src[(long)order[k] * inner + c];
                target[c] = a;
            }
        }
    }

    public void OneHot(ArrayView<int> index, ArrayView<int> y, int classes, ArrayView<int> errors, int opId)
    {
        int* pi = Ptr(index), py = Ptr(y), pe = Ptr(errors);
        for (int p = 0, n = index.IntLength; p < n; p++)
        {
            int idx = pi[p];
            if (idx < 0 || idx >= classes) Report(pe, p, idx, opId);
            for (int c = 0; c < classes; c++) py[(long)p * classes + c] = idx == c ? 1 : 0;
        }
    }

    public void LineProduct(ArrayView<float> x, ArrayView<float> y, AxisView v)
    {
        float* px = Ptr(x), py = Ptr(y);
        for (int line = 0; line < v.Lines; line++)
        {
            float product = 1f;
            for (int l = 0; l < v.Len; l++) product *= px[v.Index(line, l)];
            py[line] = product;
        }
    }

    public void LineProductGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, AxisView v)
    {
        float* px = Ptr(x), pdy = Ptr(dy), pdx = Ptr(dx);
        for (int i = 0, n = x.IntLength; i < n; i++)
        {
            int line = v.LineOf(i), l = i / v.Inner % v.Len;
            float others = 1f;
            for (int j = 0; j < v.Len; j++)
                if (j != l) others *= px[v.Index(line, j)];
            pdx[i] += pdy[line] * others;
        }
    }

    /// <summary>The error record of <see cref="IndexingKernels"/>: the first error wins.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Report(int* errors, int position, int value, int opId)
    {
        if (Interlocked.CompareExchange(ref errors[0], 1, 0) != 0) return;
        errors[1] = position;
        errors[2] = value;
        errors[3] = opId;
    }
}
