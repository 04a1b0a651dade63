using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>
/// Movement ops against <see cref="NdReference"/> on random shapes of rank 0–6 (sizes 1 and odd included), their
/// gradients against finite differences, and the laws they obey (a permutation and its inverse, cat of a split).
/// </summary>
[Properties(MaxTest = 25)]
public class MovementTests
{
    private static Device Dev => TestDevice.Instance;

    private static (float[] Values, int[] Shape) RandomTensor(Random rng, int minRank, int maxRank, int maxDim = 4)
    {
        var shape = NdReference.RandomShape(rng, rng.Next(minRank, maxRank + 1), maxDim);
        return (Reference.RandomValues(rng.Next(), NdReference.Numel(shape)), shape);
    }

    private static int[] RandomPermutation(Random rng, int rank) =>
        Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();

    [Property]
    public void Permute_matches_the_reference_and_its_inverse_restores_the_tensor(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 1, 6);
        var perm = RandomPermutation(rng, shape.Length);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape);
        var y = t.Permute(perm);
        Assert.Equal(perm.Select(p => shape[p]).ToArray(), y.Shape);
        Expect.Close(NdReference.Permute(Reference.ToDouble(x), shape, perm), y.ToArray(), 0, 0, "permute");
        var inverse = new int[perm.Length];
        for (int d = 0; d < perm.Length; d++) inverse[perm[d]] = d;
        Assert.Equal(x, y.Permute(inverse).ToArray());
    }

    public static TheoryData<int[], int[]> LargePermutes => new()
    {
        { new[] { 3, 37, 19 }, new[] { 0, 2, 1 } },
        { new[] { 33, 17 }, new[] { 1, 0 } },
        { new[] { 2, 9, 5, 24 }, new[] { 3, 1, 0, 2 } },
        { new[] { 8, 8, 8 }, new[] { 2, 1, 0 } },
    };

    /// <summary>Shapes past the SIMD backend's 8 × 8 register transpose and its 32 × 32 tiles, with ragged edges.</summary>
    [Theory]
    [MemberData(nameof(LargePermutes))]
    public void Permutes_that_move_the_unit_stride_axis_forward_and_back(int[] shape, int[] perm)
    {
        var x = Reference.RandomValues(5, NdReference.Numel(shape));
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape, requiresGrad: true);
        var y = t.Permute(perm);
        Expect.Close(NdReference.Permute(Reference.ToDouble(x), shape, perm), y.ToArray(), 0, 0, "permute");
        var w = Reference.RandomValues(6, y.Numel);
        (y * Tensor.FromArray(Dev, w, y.Shape)).Sum().Backward();
        var inverse = new int[perm.Length];
        for (int d = 0; d < perm.Length; d++) inverse[perm[d]] = d;
        Expect.Close(NdReference.Permute(Reference.ToDouble(w), y.Shape, inverse), t.Grad!.ToArray(), 0, 0, "permute's gradient");
    }

    [Property(MaxTest = 10)]
    public void Permute_gradient_matches_finite_differences(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 2, 4, 3);
        var perm = RandomPermutation(rng, shape.Length);
        GradCheck.Run(t => t[0].Permute(perm), r => NdReference.Permute(r[0], shape, perm), new[] { x }, new[] { shape });
    }

    [Property]
    public void Transpose_of_any_two_axes_and_the_lazy_mT_match_the_reference(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 2, 6);
        int a = rng.Next(shape.Length), b = rng.Next(shape.Length);
        var perm = Enumerable.Range(0, shape.Length).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape);
        Expect.Close(NdReference.Permute(Reference.ToDouble(x), shape, perm), t.Transpose(a, b).ToArray(), 0, 0, "transpose");
        var last = Enumerable.Range(0, shape.Length).ToArray();
        (last[^1], last[^2]) = (last[^2], last[^1]);
        var mt = t.MT;
        Assert.Equal(last.Select(p => shape[p]).ToArray(), mt.Shape);
        Expect.Close(NdReference.Permute(Reference.ToDouble(x), shape, last), mt.ToArray(), 0, 0, "mT");
    }

    [Fact]
    public void Gradient_flows_through_a_lazy_transpose_whether_a_product_or_another_op_reads_it()
    {
        var x = Reference.RandomValues(3, 12);
        // Read by an element-wise op: materialised, then its gradient transposed back.
        GradCheck.Run(t => t[0].MT * 2f, r => NdReference.Permute(r[0], new[] { 3, 4 }, new[] { 1, 0 }).Select(v => 2 * v).ToArray(),
            new[] { x }, new[] { new[] { 3, 4 } });
    }

    [Property]
    public void Narrow_slice_select_and_the_indexer_match_python_slicing(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 1, 5, 6);
        int d = rng.Next(shape.Length), n = shape[d];
        int start = rng.Next(n), step = rng.Next(1, 4);
        int length = rng.Next(1, n - start + 1);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape);
        var xd = Reference.ToDouble(x);

        var narrowed = t.Narrow(d, start, length);
        var narrowShape = (int[])shape.Clone();
        narrowShape[d] = length;
        Expect.Close(NdReference.Map(xd, shape, narrowShape, idx => { var s = (int[])idx.Clone(); s[d] += start; return s; }),
            narrowed.ToArray(), 0, 0, "narrow");

        var sliced = t.Slice(d, start, null, step);
        var sliceShape = (int[])shape.Clone();
        sliceShape[d] = (n - start + step - 1) / step;
        Assert.Equal(sliceShape, sliced.Shape);
        Expect.Close(NdReference.Map(xd, shape, sliceShape, idx => { var s = (int[])idx.Clone(); s[d] = start + s[d] * step; return s; }),
            sliced.ToArray(), 0, 0, "slice");

        var selected = t.Select(d, -1);
        Assert.Equal(shape.Where((_, i) => i != d).ToArray(), selected.Shape);
        Expect.Close(NdReference.Map(xd, shape, narrowShape.Select((v, i) => i == d ? 1 : v).ToArray(),
            idx => { var s = (int[])idx.Clone(); s[d] = n - 1; return s; }), selected.ToArray(), 0, 0, "select");

        // x[.., start..(start + length)] on the second axis, x[0] and x[^1] on the first.
        if (shape.Length >= 2 && d == 1) Assert.Equal(narrowed.ToArray(), t[.., start..(start + length)].ToArray());
        Assert.Equal(t.Select(0, 0).ToArray(), t[0].ToArray());
        Assert.Equal(t.Select(0, shape[0] - 1).ToArray(), t[^1].ToArray());
    }

    [Property(MaxTest = 10)]
    public void Slice_with_a_step_back_propagates_into_the_selected_elements(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 1, 3, 5);
        int d = rng.Next(shape.Length), step = rng.Next(1, 3), start = rng.Next(shape[d]);
        var result = (int[])shape.Clone();
        result[d] = (shape[d] - start + step - 1) / step;
        GradCheck.Run(t => t[0].Slice(d, start, null, step),
            r => NdReference.Map(r[0], shape, result, idx => { var s = (int[])idx.Clone(); s[d] = start + s[d] * step; return s; }),
            new[] { x }, new[] { shape });
    }

    [Property]
    public void Flip_and_roll_match_the_reference(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 1, 5);
        var dims = Enumerable.Range(0, shape.Length).Where(_ => rng.Next(2) == 0).ToArray();
        int d = rng.Next(shape.Length), shift = rng.Next(-7, 8);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape);
        var xd = Reference.ToDouble(x);
        Expect.Close(NdReference.Map(xd, shape, shape, idx => idx.Select((v, i) => dims.Contains(i) ? shape[i] - 1 - v : v).ToArray()),
            t.Flip(dims).ToArray(), 0, 0, "flip");
        Expect.Close(NdReference.Map(xd, shape, shape,
                idx => idx.Select((v, i) => i == d ? ((v - shift) % shape[i] + shape[i]) % shape[i] : v).ToArray()),
            t.Roll(shift, d).ToArray(), 0, 0, "roll");
    }

    [Property(MaxTest = 10)]
    public void Flip_and_roll_gradients_match_finite_differences(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 1, 3, 4);
        int d = rng.Next(shape.Length), shift = rng.Next(1, 5);
        GradCheck.Run(t => t[0].Flip(d).Roll(shift, d),
            r => NdReference.Map(r[0], shape, shape, idx => idx.Select((v, i) =>
                i == d ? shape[i] - 1 - ((v - shift) % shape[i] + shape[i]) % shape[i] : v).ToArray()),
            new[] { x }, new[] { shape });
    }

    [Property]
    public void Expand_and_repeat_match_the_reference_and_sum_their_gradients(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 1, 4, 3);
        // Set some axes to 1 so they can stretch, and add a leading axis.
        var small = shape.Select(v => rng.Next(2) == 0 ? 1 : v).ToArray();
        var target = new[] { 2 }.Concat(shape.Select((v, i) => small[i] == 1 ? rng.Next(1, 4) : v)).ToArray();
        var xs = Reference.RandomValues(seed, NdReference.Numel(small));
        GradCheck.Run(t => t[0].Expand(target),
            r => NdReference.Map(r[0], small, target, idx => idx.Skip(1).Select((v, i) => small[i] == 1 ? 0 : v).ToArray()),
            new[] { xs }, new[] { small });
        var reps = shape.Select(_ => rng.Next(1, 3)).Prepend(2).ToArray();
        var repeated = reps.Select((r, i) => r * (i == 0 ? 1 : shape[i - 1])).ToArray();
        GradCheck.Run(t => t[0].Repeat(reps),
            r => NdReference.Map(r[0], shape, repeated, idx => idx.Skip(1).Select((v, i) => v % shape[i]).ToArray()),
            new[] { x }, new[] { shape });
    }

    [Property]
    public void Cat_of_a_split_is_the_tensor_and_stack_adds_an_axis(int seed)
    {
        var rng = new Random(seed);
        var (x, shape) = RandomTensor(rng, 1, 5, 7);
        int d = rng.Next(shape.Length);
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, x, shape);
        var pieces = t.Split(rng.Next(1, shape[d] + 1), d);
        Assert.Equal(shape[d], pieces.Sum(p => p.Shape[d]));
        Assert.Equal(x, Tensor.Cat(pieces, d).ToArray());
        var chunks = t.Chunk(rng.Next(1, 4), d);
        Assert.Equal(x, Tensor.Cat(chunks, d - shape.Length).ToArray());
        var stacked = Tensor.Stack(new[] { t, t * 2f }, d);
        Assert.Equal(shape.Take(d).Append(2).Concat(shape.Skip(d)).ToArray(), stacked.Shape);
        Assert.Equal(x.Select(v => v * 2f).ToArray(), stacked.Select(d, 1).ToArray());
    }

    [Property(MaxTest = 10)]
    public void Cat_gradients_go_back_to_each_input(int seed)
    {
        var rng = new Random(seed);
        var shapeA = NdReference.RandomShape(rng, rng.Next(1, 4), 3);
        int d = rng.Next(shapeA.Length);
        var shapeB = (int[])shapeA.Clone();
        shapeB[d] = rng.Next(1, 4);
        var result = (int[])shapeA.Clone();
        result[d] += shapeB[d];
        GradCheck.Run(t => Tensor.Cat(new[] { t[0], t[1] }, d),
            r => Enumerable.Range(0, NdReference.Numel(result)).Select(i =>
            {
                var idx = NdReference.Unravel(i, result);
                if (idx[d] < shapeA[d]) return r[0][NdReference.Ravel(idx, shapeA)];
                idx[d] -= shapeA[d];
                return r[1][NdReference.Ravel(idx, shapeB)];
            }).ToArray(),
            new[] { Reference.RandomValues(seed, NdReference.Numel(shapeA)), Reference.RandomValues(seed + 1, NdReference.Numel(shapeB)) },
            new[] { shapeA, shapeB });
    }

    public static TheoryData<string> PadModes => new() { "constant", "reflect", "replicate" };

    [Theory]
    [MemberData(nameof(PadModes))]
    public void Pad_matches_torch_semantics_and_its_gradient(string mode)
    {
        var shape = new[] { 2, 3, 4 };
        var pad = new[] { 2, 1, 1, 2 }; // last axis (2, 1), middle axis (1, 2)
        var result = new[] { 2, 6, 7 };
        int Source(int v, int n, int before, out bool inside)
        {
            int p = v - before;
            inside = p >= 0 && p < n;
            return mode switch
            {
                "reflect" => p < 0 ? -p : p >= n ? 2 * (n - 1) - p : p,
                "replicate" => Math.Clamp(p, 0, n - 1),
                _ => Math.Clamp(p, 0, n - 1),
            };
        }
        double[] Ref(double[] x) => Enumerable.Range(0, NdReference.Numel(result)).Select(i =>
        {
            var idx = NdReference.Unravel(i, result);
            int r = Source(idx[1], 3, 1, out bool inR), c = Source(idx[2], 4, 2, out bool inC);
            if (mode == "constant" && !(inR && inC)) return 0.5;
            return x[NdReference.Ravel(new[] { idx[0], r, c }, shape)];
        }).ToArray();
        var x = Reference.RandomValues(11, 24);
        using (var scope = new DisposeScope())
        {
            var y = Tensor.FromArray(Dev, x, shape).Pad(pad, mode, 0.5f);
            Assert.Equal(result, y.Shape);
            Expect.Close(Ref(Reference.ToDouble(x)), y.ToArray(), 0, 0, mode);
        }
        GradCheck.Run(t => t[0].Pad(pad, mode, 0.5f), r => Ref(r[0]), new[] { x }, new[] { shape });
    }

    [Fact]
    public void Reshapes_share_memory_and_infer_one_axis()
    {
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(Dev, Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), new[] { 2, 3, 4 });
        Assert.Equal(new[] { 6, 4 }, t.View(-1, 4).Shape);
        Assert.Equal(new[] { 2, 12 }, t.Flatten(1).Shape);
        Assert.Equal(new[] { 24 }, t.Flatten().Shape);
        Assert.Equal(new[] { 2, 3, 2, 2 }, t.Unflatten(-1, 2, -1).Shape);
        Assert.Equal(new[] { 2, 1, 3, 4 }, t.Unsqueeze(1).Shape);
        Assert.Equal(new[] { 2, 3, 4, 1 }, t.Unsqueeze(-1).Shape);
        Assert.Equal(new[] { 2, 3, 4 }, t.Unsqueeze(0).Squeeze().Shape);
        Assert.Equal(new[] { 2, 3, 4 }, t.Squeeze(1).Shape);
        Assert.Equal(new[] { 4, 3, 2 }, t.T.Shape);
        Assert.Same(t, t.Contiguous());
        // Sizes as long, as PyTorch gives them.
        Assert.Equal(new long[] { 2, 3, 4 }, t.Size());
        Assert.Equal(4L, t.Size(-1));
        Assert.Equal(new[] { 4, 6 }, t.Reshape(new long[] { 4, -1 }).Shape);
        Assert.Equal(new[] { 2, 3 }, Tensor.Zeros(Dev, new long[] { 2, 3 }).Shape);
        Assert.Contains("exceeds", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Zeros(Dev, new long[] { 1L << 33 })).Message);
        var eight = Tensor.Zeros(Dev, new[] { 1, 2, 1, 2, 1, 2, 1, 2 });
        Assert.Equal(8, eight.Permute(7, 6, 5, 4, 3, 2, 1, 0).Rank);
    }

    [Fact]
    public void Scalars_reshape_expand_and_stack()
    {
        using var scope = new DisposeScope();
        var s = Tensor.Scalar(Dev, 2.5f, requiresGrad: true);
        Assert.Equal(new[] { 1 }, s.Unsqueeze(0).Shape);
        Assert.Equal(new[] { 1, 1 }, s.Reshape(1, 1).Shape);
        Assert.Empty(s.Reshape(1, 1).Squeeze().Shape);
        var e = s.Expand(2, 3);
        Assert.Equal(Enumerable.Repeat(2.5f, 6), e.ToArray());
        Assert.Equal(new[] { 3 }, Tensor.Stack(new[] { s, s, s }).Shape);
        (e * 2f).Sum().Backward();
        Assert.Equal(12f, s.Grad!.Item());
        Assert.Equal(new[] { 4 }, s.Flatten().Repeat(4).Shape);
    }

    [Fact]
    public void Bad_arguments_name_the_op_the_shape_and_the_offending_value()
    {
        using var scope = new DisposeScope();
        var t = Tensor.Zeros(Dev, new[] { 2, 3, 4 });
        Assert.Contains("repeat an axis", Assert.Throws<ArgumentException>(() => t.Permute(0, 0, 1)).Message);
        Assert.Contains("axis 5 is out of range", Assert.Throws<ArgumentOutOfRangeException>(() => t.Permute(0, 1, 5)).Message);
        var narrow = Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(2, 3, 2)).Message;
        Assert.Contains("narrow", narrow);
        Assert.Contains("[2, 3, 4]", narrow);
        Assert.Contains("index 3 is out of range for axis 1", Assert.Throws<IndexOutOfRangeException>(() => t.Select(1, 3)).Message);
        var cat = Assert.Throws<ArgumentException>(() => Tensor.Cat(new[] { t, Tensor.Zeros(Dev, new[] { 2, 4, 4 }) }, 2)).Message;
        Assert.Contains("tensor 1 has shape [2, 4, 4]", cat);
        Assert.Contains("cannot be expanded", Assert.Throws<ArgumentException>(() => t.Expand(2, 5, 4)).Message);
        Assert.Contains("do not add up", Assert.Throws<ArgumentException>(() => t.Split(new[] { 1, 1 }, 1)).Message);
        Assert.Contains("reflect padding", Assert.Throws<ArgumentException>(() => t.Pad(new[] { 4, 0 }, "reflect")).Message);
        Assert.Contains("selects nothing", Assert.Throws<ArgumentException>(() => t.Slice(0, 5)).Message);
    }
}
