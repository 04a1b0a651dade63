using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>
/// Integer and bool tensors and the indexing ops against plain references: dtypes and conversion, comparisons, where,
/// triangles, arg-max, sort/topk, gather/scatter (and their adjointness), index_select and embedding with repeated
/// indices, one-hot, any/all/prod, and out-of-range indices reported naming the op.
/// </summary>
[Properties(MaxTest = 20)]
public class IndexingTests
{
    private static Device Dev => TestDevice.Instance;

    [Fact]
    public void Integer_and_bool_tensors_round_trip_and_convert()
    {
        using var scope = new DisposeScope();
        var l = Tensor.FromArray(Dev, new long[] { 3, -1, 7, 0, 2, 5 }, new[] { 2, 3 });
        Assert.Equal(DType.Int64, l.DType);
        Assert.Equal(new long[] { 3, -1, 7, 0, 2, 5 }, l.ToArray<long>());
        Assert.Equal(new long[] { 3, 0, -1, 2, 7, 5 }, l.T.ToArray<long>());        // movement ops take any dtype
        Assert.Equal(new long[] { 7, 0 }, Tensor.Cat(new[] { l[0, 2..], l[1, ..1] }).ToArray<long>());
        Assert.Equal(new[] { 3f, -1f, 7f, 0f, 2f, 5f }, l.Float().ToArray());
        Assert.Equal(new[] { true, true, true, false, true, true }, l.Bool().ToArray<bool>());
        var f = Tensor.FromArray(Dev, new[] { 1.7f, -1.7f, 0f, 2.5f }, new[] { 4 });
        Assert.Equal(new[] { 1, -1, 0, 2 }, f.Int().ToArray<int>());
        Assert.Equal(new long[] { 1, -1, 0, 2 }, f.Long().ToArray<long>());
        Assert.Equal(new[] { true, true, false, true }, f.Bool().ToArray<bool>());
        Assert.Equal(new long[] { 0, 1, 2, 3 }, Tensor.Arange(Dev, 4).ToArray<long>());
        Assert.Equal(new long[] { 5, 3, 1 }, Tensor.Arange(Dev, 5, 0, -2).ToArray<long>());
        Assert.Equal(new[] { 0f, 0.5f, 1f, 1.5f }, Tensor.Arange(Dev, 0f, 2f, 0.5f).ToArray());
        Assert.Equal(new[] { 1f, 0f, 0f, 0f, 1f, 0f }, Tensor.Eye(Dev, 2, 3).ToArray());
        Assert.Equal(new long[] { 4, 4 }, Tensor.Full(Dev, new[] { 2 }, 4f, dtype: DType.Int64).ToArray<long>());
        Assert.Contains("int64", l.ToString());
        Assert.Contains("ToArray<long>", Assert.Throws<InvalidOperationException>(() => l.ToArray()).Message);
        Assert.Contains("expects float32", Assert.Throws<ArgumentException>(() => l + l).Message);
        Assert.Contains("only float32", Assert.Throws<InvalidOperationException>(() => l.RequiresGrad = true).Message);
        Assert.Contains("position 1", Assert.Throws<ArgumentOutOfRangeException>(
            () => Tensor.FromArray(Dev, new long[] { 0, 1L << 40 }, new[] { 2 })).Message);
    }

    [Property]
    public void Comparisons_broadcast_and_give_bool(int seed)
    {
        var rng = new Random(seed);
        var shapeA = NdReference.RandomShape(rng, rng.Next(1, 4), 3);
        var shapeB = shapeA.Select(d => rng.Next(2) == 0 ? 1 : d).Skip(rng.Next(shapeA.Length)).ToArray();
        var a = Reference.RandomValues(seed, NdReference.Numel(shapeA)).Select(v => MathF.Round(v)).ToArray();
        var b = Reference.RandomValues(seed + 1, NdReference.Numel(shapeB)).Select(v => MathF.Round(v)).ToArray();
        var bc = new BroadcastCase(shapeA, shapeB, shapeA);
        using var scope = new DisposeScope();
        var ta = Tensor.FromArray(Dev, a, shapeA);
        var tb = Tensor.FromArray(Dev, b, shapeB);
        var ops = new (Func<Tensor, Tensor, Tensor> Op, Func<double, double, bool> Ref)[]
        {
            ((x, y) => x.Eq(y), (x, y) => x == y), ((x, y) => x.Ne(y), (x, y) => x != y),
            ((x, y) => x.Lt(y), (x, y) => x < y), ((x, y) => x.Le(y), (x, y) => x <= y),
            ((x, y) => x.Gt(y), (x, y) => x > y), ((x, y) => x.Ge(y), (x, y) => x >= y),
        };
        foreach (var (op, reference) in ops)
        {
            var expected = bc.Apply((x, y) => reference(x, y) ? 1 : 0, Reference.ToDouble(a), Reference.ToDouble(b))
                .Select(v => v == 1).ToArray();
            var viaFloat = op(ta, tb);
            Assert.Equal(DType.Bool, viaFloat.DType);
            Assert.Equal(expected, viaFloat.ToArray<bool>());
            Assert.Equal(expected, op(ta.Long(), tb.Long()).ToArray<bool>());   // the integer kernel
        }
        Assert.Equal(a.Select(v => v > 0).ToArray(), ta.Gt(0f).ToArray<bool>());
    }

    [Fact]
    public void Where_and_masked_fill_broadcast_and_route_gradients()
    {
        var x = Reference.RandomValues(1, 12);
        var y = Reference.RandomValues(2, 4);
        var mask = new[] { true, false, false, true };
        GradCheck.Run(t =>
            {
                var m = Tensor.FromArray(Dev, mask, new[] { 1, 4 });
                return Tensor.Where(m, t[0], t[1]);
            },
            r => Enumerable.Range(0, 12).Select(i => mask[i % 4] ? r[0][i] : r[1][i % 4]).ToArray(),
            new[] { x, y }, new[] { new[] { 3, 4 }, new[] { 4 } });
        using var scope = new DisposeScope();
        var scores = Tensor.FromArray(Dev, x, new[] { 3, 4 });
        var causal = Tensor.Ones(Dev, new[] { 3, 4 }, dtype: DType.Bool).Triu(1);
        var filled = scores.MaskedFill(causal, float.NegativeInfinity).ToArray();
        for (int i = 0; i < 12; i++)
            Assert.Equal(i % 4 > i / 4 ? float.NegativeInfinity : x[i], filled[i]);
        Assert.Contains("condition must be a bool", Assert.Throws<ArgumentException>(() => Tensor.Where(scores, scores, scores)).Message);
    }

    [Property]
    public void Tril_and_triu_keep_their_triangle_on_every_matrix(int seed)
    {
        var rng = new Random(seed);
        var shape = NdReference.RandomShape(rng, rng.Next(2, 5), 5);
        int diagonal = rng.Next(-3, 4);
        var x = Reference.RandomValues(seed, NdReference.Numel(shape));
        int rows = shape[^2], cols = shape[^1];
        double[] Ref(double[] v, bool upper) => v.Select((e, i) =>
        {
            int r = i / cols % rows, c = i % cols;
            return (upper ? c - r >= diagonal : c - r <= diagonal) ? e : 0;
        }).ToArray();
        GradCheck.Run(t => t[0].Tril(diagonal), r => Ref(r[0], false), new[] { x }, new[] { shape });
        GradCheck.Run(t => t[0].Triu(diagonal), r => Ref(r[0], true), new[] { x }, new[] { shape });
    }

    [Property]
    public void Argmax_sort_and_topk_match_a_stable_reference(int seed)
    {
        var rng = new Random(seed);
        var shape = NdReference.RandomShape(rng, rng.Next(1, 4), 6);
        int d = rng.Next(shape.Length);
        // Few distinct values, so ties are common and stability is tested.
        var x = Enumerable.Range(0, NdReference.Numel(shape)).Select(_ => (float)rng.Next(-3, 4)).ToArray();
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape);
        var lineShape = shape.Select((v, i) => i == d ? 1 : v).ToArray();
        var lines = Enumerable.Range(0, NdReference.Numel(lineShape)).Select(l =>
        {
            var idx = NdReference.Unravel(l, lineShape);
            return Enumerable.Range(0, shape[d]).Select(j =>
            {
                var full = (int[])idx.Clone();
                full[d] = j;
                return x[NdReference.Ravel(full, shape)];
            }).ToArray();
        }).ToArray();
        Assert.Equal(lines.Select(line => (long)Array.IndexOf(line, line.Max())).ToArray(), t.ArgMax(d).ToArray<long>());
        Assert.Equal(lines.Select(line => (long)Array.IndexOf(line, line.Min())).ToArray(), t.ArgMin(d, keepDim: true).ToArray<long>());
        var (values, indices) = t.Sort(d, descending: true);
        int k = rng.Next(1, shape[d] + 1);
        var (topValues, topIndices) = t.TopK(k, d, largest: false);
        var sortedValues = values.ToArray();
        var sortedIndices = indices.ToArray<long>();
        var topV = topValues.ToArray();
        var topI = topIndices.ToArray<long>();
        var outShape = (int[])shape.Clone();
        outShape[d] = k;
        for (int l = 0; l < lines.Length; l++)
        {
            var order = Enumerable.Range(0, shape[d]).OrderByDescending(j => lines[l][j]).ThenBy(j => j).ToArray();
            var ascending = Enumerable.Range(0, shape[d]).OrderBy(j => lines[l][j]).ThenBy(j => j).ToArray();
            var lineIdx = NdReference.Unravel(l, lineShape);
            for (int j = 0; j < shape[d]; j++)
            {
                var at = (int[])lineIdx.Clone();
                at[d] = j;
                int flat = NdReference.Ravel(at, shape);
                Assert.Equal(order[j], sortedIndices[flat]);
                Assert.Equal(lines[l][order[j]], sortedValues[flat]);
                if (j < k)
                {
                    int topFlat = NdReference.Ravel(at, outShape);
                    Assert.Equal(ascending[j], topI[topFlat]);
                    Assert.Equal(lines[l][ascending[j]], topV[topFlat]);
                }
            }
        }
    }

    [Fact]
    public void Sort_puts_nan_last_and_its_gradient_follows_the_indices()
    {
        using (var scope = new DisposeScope())
        {
            var t = Tensor.FromArray(Dev, new[] { 2f, float.NaN, -1f, 2f }, new[] { 4 });
            var (v, i) = t.Sort();
            Assert.Equal(new[] { -1f, 2f, 2f, float.NaN }, v.ToArray());
            Assert.Equal(new long[] { 2, 0, 3, 1 }, i.ToArray<long>());
            Assert.Equal(1L, t.ArgMax().Item<long>());
        }
        var x = new[] { 0.3f, -1.2f, 2.5f, 0.9f, -0.4f, 1.1f };
        GradCheck.Run(t => t[0].TopK(2, -1).Values, r => new[] { 0, 1 }.SelectMany(row =>
                r[0].Skip(row * 3).Take(3).OrderByDescending(v => v).Take(2)).ToArray(),
            new[] { x }, new[] { new[] { 2, 3 } });
    }

    [Property]
    public void Gather_and_scatter_add_are_adjoint_and_match_the_reference(int seed)
    {
        var rng = new Random(seed);
        var shape = NdReference.RandomShape(rng, rng.Next(1, 4), 4);
        int d = rng.Next(shape.Length);
        var indexShape = shape.Select((v, i) => i == d ? rng.Next(1, 6) : rng.Next(1, v + 1)).ToArray();
        var index = Enumerable.Range(0, NdReference.Numel(indexShape)).Select(_ => (long)rng.Next(shape[d])).ToArray();
        var x = Reference.RandomValues(seed, NdReference.Numel(shape));
        var g = Reference.RandomValues(seed + 1, index.Length);
        double[] GatherRef(double[] v) => Enumerable.Range(0, index.Length).Select(p =>
        {
            var at = NdReference.Unravel(p, indexShape);
            at[d] = (int)index[p];
            return v[NdReference.Ravel(at, shape)];
        }).ToArray();
        using (var scope = new DisposeScope())
        {
            var t = Tensor.FromArray(Dev, x, shape);
            var idx = Tensor.FromArray(Dev, index, indexShape);
            var gathered = t.Gather(d, idx);
            Expect.Close(GatherRef(Reference.ToDouble(x)), gathered.ToArray(), 0, 0, "gather");
            // ⟨gather(x), g⟩ = ⟨x, scatter_add(0, g)⟩
            var scattered = Tensor.Zeros(Dev, shape).ScatterAdd(d, idx, Tensor.FromArray(Dev, g, indexShape)).ToArray();
            double left = gathered.ToArray().Zip(g, (u, v) => (double)u * v).Sum();
            double right = x.Zip(scattered, (u, v) => (double)u * v).Sum();
            Assert.True(Math.Abs(left - right) <= 1e-4 * (1 + Math.Abs(left)), $"adjoint: {left} vs {right}");
        }
        GradCheck.Run(t => t[0].Gather(d, Tensor.FromArray(Dev, index, indexShape)), r => GatherRef(r[0]), new[] { x }, new[] { shape });
    }

    [Fact]
    public void Scatter_writes_and_routes_gradients_like_pytorch()
    {
        var self = Reference.RandomValues(3, 6);
        var src = Reference.RandomValues(4, 4);
        var index = new long[] { 2, 0, 1, 2 }; // [2, 2] into dim 1 of [2, 3]
        GradCheck.Run(t => t[0].Scatter(1, Tensor.FromArray(Dev, index, new[] { 2, 2 }), t[1]),
            r =>
            {
                var y = (double[])r[0].Clone();
                for (int p = 0; p < 4; p++) y[p / 2 * 3 + (int)index[p]] = r[1][p];
                return y;
            },
            new[] { self, src }, new[] { new[] { 2, 3 }, new[] { 2, 2 } });
    }

    [Fact]
    public void Index_select_and_embedding_add_repeated_rows_deterministically()
    {
        var weight = Reference.RandomValues(5, 5 * 3);
        var ids = new long[] { 4, 1, 1, 0, 4, 4 };
        GradCheck.Run(t => Tensor.Embedding(Tensor.FromArray(Dev, ids, new[] { 2, 3 }), t[0]),
            r => ids.SelectMany(i => r[0].Skip((int)i * 3).Take(3)).ToArray(), new[] { weight }, new[] { new[] { 5, 3 } });
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(Dev, weight, new[] { 5, 3 });
        var cols = x.IndexSelect(1, Tensor.FromArray(Dev, new[] { 2, 2, 0 }, new[] { 3 }));
        Assert.Equal(Enumerable.Range(0, 5).SelectMany(r => new[] { weight[r * 3 + 2], weight[r * 3 + 2], weight[r * 3] }), cols.ToArray());
        // The same sum however often it runs: repeated indices add in index order.
        var big = Tensor.RandN(Dev, new[] { 8, 300 }, seed: 3, requiresGrad: true);
        var many = Tensor.FromArray(Dev, Enumerable.Range(0, 2000).Select(i => (long)(i * 7 % 8)).ToArray(), new[] { 2000 });
        var w = Reference.RandomValues(9, 2000 * 300);
        var weights = Tensor.FromArray(Dev, w, new[] { 2000, 300 });
        // Each row's gradient is its upstream rows added in index order, in float: exactly, on every backend.
        var expected = new float[8 * 300];
        for (int j = 0; j < 2000; j++)
            for (int c = 0; c < 300; c++) expected[j * 7 % 8 * 300 + c] += w[j * 300 + c];
        for (int run = 0; run < 3; run++)
        {
            big.ZeroGrad();
            (big.IndexSelect(0, many) * weights).Sum().Backward();
            Assert.Equal(expected, big.Grad!.ToArray());
        }
        var module = new Engine.Nn.Embedding(Dev, 10, 4, seed: 1);
        Assert.Equal(new[] { 2, 7, 4 }, module.Forward(Tensor.Zeros(Dev, new[] { 2, 7 }, dtype: DType.Int64)).Shape);
    }

    [Fact]
    public void One_hot_any_all_and_prod()
    {
        using (var scope = new DisposeScope())
        {
            var hot = Tensor.OneHot(Tensor.FromArray(Dev, new long[] { 2, 0, 1 }, new[] { 3 }), 4);
            Assert.Equal(new[] { 3, 4 }, hot.Shape);
            Assert.Equal(new long[] { 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0 }, hot.ToArray<long>());
            Assert.Equal(new[] { 3, 3 }, Tensor.OneHot(Tensor.FromArray(Dev, new long[] { 2, 0, 1 }, new[] { 3 })).Shape);
            var m = Tensor.FromArray(Dev, new[] { true, false, true, true }, new[] { 2, 2 });
            Assert.True(m.Any().Item<bool>());
            Assert.False(m.All().Item<bool>());
            Assert.Equal(new[] { false, true }, m.All(new[] { 1 }).ToArray<bool>());
            Assert.Equal(new[] { true, true }, Tensor.FromArray(Dev, new[] { 0f, 2f, -1f, 0f }, new[] { 2, 2 }).Any(new[] { 1 }).ToArray<bool>());
        }
        var x = new[] { 1.5f, 0f, -2f, 0.5f, 3f, -1f };
        GradCheck.Run(t => t[0].Prod(1), r => new[] { r[0][0] * r[0][1] * r[0][2], r[0][3] * r[0][4] * r[0][5] },
            new[] { x }, new[] { new[] { 2, 3 } });
    }

    [Fact]
    public void Out_of_range_indices_are_reported_with_the_op_the_position_and_the_value()
    {
        using var scope = new DisposeScope();
        var x = Tensor.RandN(Dev, new[] { 4, 5 }, seed: 1);
        var bad = Tensor.FromArray(Dev, new long[] { 0, 3, 7 }, new[] { 3 });
        IndexOutOfRangeException Raised(Func<Tensor> op) => Assert.Throws<IndexOutOfRangeException>(() =>
        {
            var y = op();
            y.Device.Synchronize(); // the ILGPU backends report at the next synchronisation
        });
        var e = Raised(() => x.IndexSelect(1, bad));
        Assert.Contains("index_select", e.Message);
        Assert.Contains("index 7 at position 2", e.Message);
        Assert.Contains("size 5", e.Message);
        e = Raised(() => x.Gather(0, Tensor.FromArray(Dev, new long[] { 0, -1 }, new[] { 1, 2 })));
        Assert.Contains("gather", e.Message);
        Assert.Contains("index -1 at position 1", e.Message);
        e = Raised(() => Tensor.OneHot(bad, 5));
        Assert.Contains("one_hot", e.Message);
        e = Raised(() => Tensor.Embedding(Tensor.FromArray(Dev, new long[] { 9 }, new[] { 1 }), x));
        Assert.Contains("index 9 at position 0", e.Message);
        // After a report the device is usable again.
        Assert.Equal(4, x.IndexSelect(1, Tensor.FromArray(Dev, new long[] { 4 }, new[] { 1 })).ToArray().Length);
        Assert.Contains("indices must be an int64", Assert.Throws<ArgumentException>(() => x.Gather(0, x)).Message);
    }
}
