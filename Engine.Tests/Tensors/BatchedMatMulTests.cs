using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>
/// <c>MatMul</c> with torch.matmul's rules (1-D, 2-D, batched with broadcast batch axes), <c>Bmm</c>, operands read
/// transposed in place through <c>MT</c>, and <c>Linear</c> on [*, in], against a per-item reference.
/// </summary>
[Properties(MaxTest = 20)]
public class BatchedMatMulTests
{
    private static Device Dev => TestDevice.Instance;

    /// <summary>[*ba, m, k] · [*bb, k, n] by definition, batch axes broadcast.</summary>
    private static double[] Reference(double[] a, int[] sa, double[] b, int[] sb, out int[] result)
    {
        int m = sa[^2], k = sa[^1], n = sb[^1];
        var ba = sa[..^2];
        var bb = sb[..^2];
        int rank = Math.Max(ba.Length, bb.Length);
        var pa = Enumerable.Repeat(1, rank - ba.Length).Concat(ba).ToArray();
        var pb = Enumerable.Repeat(1, rank - bb.Length).Concat(bb).ToArray();
        var batch = pa.Zip(pb, Math.Max).ToArray();
        result = batch.Append(m).Append(n).ToArray();
        var c = new double[NdReference.Numel(result)];
        for (int i = 0; i < NdReference.Numel(batch); i++)
        {
            var idx = NdReference.Unravel(i, batch);
            int ia = NdReference.Ravel(idx.Select((v, d) => pa[d] == 1 ? 0 : v).ToArray(), pa);
            int ib = NdReference.Ravel(idx.Select((v, d) => pb[d] == 1 ? 0 : v).ToArray(), pb);
            for (int r = 0; r < m; r++)
            for (int col = 0; col < n; col++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += a[ia * m * k + r * k + p] * b[ib * k * n + p * n + col];
                c[(i * m + r) * n + col] = s;
            }
        }
        return c;
    }

    private static int[] Transposed(int[] s) => s[..^2].Append(s[^1]).Append(s[^2]).ToArray();

    [Property]
    public void Batched_products_with_broadcast_batch_axes_match_the_reference(int seed)
    {
        var rng = new Random(seed);
        int m = rng.Next(1, 9), k = rng.Next(1, 9), n = rng.Next(1, 9);
        var batch = NdReference.RandomShape(rng, rng.Next(0, 4), 3);
        var ba = batch.Select(d => rng.Next(3) == 0 ? 1 : d).Skip(rng.Next(0, batch.Length + 1)).ToArray();
        var bb = batch.Select(d => rng.Next(3) == 0 ? 1 : d).Skip(rng.Next(0, batch.Length + 1)).ToArray();
        var sa = ba.Append(m).Append(k).ToArray();
        var sb = bb.Append(k).Append(n).ToArray();
        var a = global::Engine.Tests.Reference.RandomValues(seed, NdReference.Numel(sa));
        var b = global::Engine.Tests.Reference.RandomValues(seed + 1, NdReference.Numel(sb));
        var expected = Reference(global::Engine.Tests.Reference.ToDouble(a), sa, global::Engine.Tests.Reference.ToDouble(b), sb, out var result);
        using var scope = new DisposeScope();
        var c = Tensor.FromArray(Dev, a, sa).MatMul(Tensor.FromArray(Dev, b, sb));
        Assert.Equal(result, c.Shape);
        Expect.Close(expected, c.ToArray(), 1e-4, 1e-4, "matmul");
        // The same product with either operand handed over as the lazy transpose of its transpose.
        var aT = Tensor.FromArray(Dev, a, sa).MT.Contiguous().ToArray();
        var bT = Tensor.FromArray(Dev, b, sb).MT.Contiguous().ToArray();
        var viaMt = Tensor.FromArray(Dev, aT, Transposed(sa)).MT.MatMul(Tensor.FromArray(Dev, bT, Transposed(sb)).MT);
        Expect.Close(expected, viaMt.ToArray(), 1e-4, 1e-4, "matmul of mT operands");
    }

    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { false, true }, { true, false }, { true, true } };

    [Theory]
    [MemberData(nameof(Transposes))]
    public void Gradients_of_batched_products_with_in_place_transposes_match_finite_differences(bool ta, bool tb)
    {
        // [2, 1, m, k] · [3, k, n]: broadcast on both sides, so the gradients also sum over batch items.
        var sa = new[] { 2, 1, 3, 4 };
        var sb = new[] { 3, 4, 5 };
        var a = global::Engine.Tests.Reference.RandomValues(1, NdReference.Numel(sa));
        var b = global::Engine.Tests.Reference.RandomValues(2, NdReference.Numel(sb));
        var storedA = ta ? Transposed(sa) : sa;
        var storedB = tb ? Transposed(sb) : sb;
        double[] Stored(double[] x, int[] s, bool t) => t ? NdReference.Permute(x, s, Enumerable.Range(0, s.Length - 2).Append(s.Length - 1).Append(s.Length - 2).ToArray()) : x;
        var inputA = ta ? Stored(global::Engine.Tests.Reference.ToDouble(a), sa, true).Select(v => (float)v).ToArray() : a;
        var inputB = tb ? Stored(global::Engine.Tests.Reference.ToDouble(b), sb, true).Select(v => (float)v).ToArray() : b;
        GradCheck.Run(t => (ta ? t[0].MT : t[0]).MatMul(tb ? t[1].MT : t[1]),
            r => Reference(Stored(r[0], storedA, ta), sa, Stored(r[1], storedB, tb), sb, out _),
            new[] { inputA, inputB }, new[] { storedA, storedB });
    }

    [Fact]
    public void Attention_scores_q_times_k_transposed_over_batch_and_heads()
    {
        int batch = 2, heads = 3, t = 5, d = 4;
        var q = global::Engine.Tests.Reference.RandomValues(3, batch * heads * t * d);
        var k = global::Engine.Tests.Reference.RandomValues(4, batch * heads * t * d);
        var shape = new[] { batch, heads, t, d };
        using var scope = new DisposeScope();
        var kt = Tensor.FromArray(Dev, k, shape).MT;
        var scores = Tensor.FromArray(Dev, q, shape).MatMul(kt);
        Assert.Equal(new[] { batch, heads, t, t }, scores.Shape);
        var expected = Reference(global::Engine.Tests.Reference.ToDouble(q), shape,
            NdReference.Permute(global::Engine.Tests.Reference.ToDouble(k), shape, new[] { 0, 1, 3, 2 }), new[] { batch, heads, d, t }, out _);
        Expect.Close(expected, scores.ToArray(), 1e-4, 1e-4, "q·kᵀ");
    }

    [Fact]
    public void One_dimensional_operands_follow_torch_matmul()
    {
        using var scope = new DisposeScope();
        var v = Tensor.FromArray(Dev, new[] { 1f, 2f, 3f }, new[] { 3 });
        var w = Tensor.FromArray(Dev, new[] { 4f, 5f, 6f }, new[] { 3 });
        var m = Tensor.FromArray(Dev, Enumerable.Range(1, 6).Select(i => (float)i).ToArray(), new[] { 3, 2 });
        var dot = v.MatMul(w);
        Assert.Empty(dot.Shape);
        Assert.Equal(32f, dot.Item());
        var row = v.MatMul(m);                      // [3] · [3, 2] → [2]
        Assert.Equal(new[] { 2 }, row.Shape);
        Assert.Equal(new[] { 22f, 28f }, row.ToArray());
        var col = m.T.MatMul(v);                    // [2, 3] · [3] → [2]
        Assert.Equal(new[] { 22f, 28f }, col.ToArray());
        var batched = Tensor.Stack(new[] { m.T, m.T * 2f }).MatMul(v); // [2, 2, 3] · [3] → [2, 2]
        Assert.Equal(new[] { 22f, 28f, 44f, 56f }, batched.ToArray());
    }

    [Fact]
    public void Bmm_and_linear_on_leading_axes()
    {
        using var scope = new DisposeScope();
        var a = Tensor.RandN(Dev, new[] { 4, 3, 5 }, seed: 1);
        var b = Tensor.RandN(Dev, new[] { 4, 5, 2 }, seed: 2);
        Expect.Close(a.MatMul(b).ToArray(), a.Bmm(b).ToArray(), 0, 0, "bmm");
        var x = Tensor.RandN(Dev, new[] { 2, 3, 5 }, seed: 3, requiresGrad: true);
        var weight = Tensor.RandN(Dev, new[] { 7, 5 }, seed: 4, requiresGrad: true);
        var bias = Tensor.RandN(Dev, new[] { 7 }, seed: 5);
        var y = Tensor.Linear(x, weight, bias);
        Assert.Equal(new[] { 2, 3, 7 }, y.Shape);
        Expect.Close(Tensor.Linear(x.Reshape(6, 5), weight, bias).ToArray(), y.ToArray(), 0, 0, "linear [*, in]");
        y.Sum().Backward();
        Assert.Equal(new[] { 2, 3, 5 }, x.Grad!.Shape);
        Assert.Contains("bmm", Assert.Throws<ArgumentException>(() => a.Bmm(b.Narrow(0, 0, 2))).Message);
        var e = Assert.Throws<ArgumentException>(() => a.MatMul(a)).Message;
        Assert.Contains("[4, 3, 5]", e);
        Assert.Contains("3×5 by 3×5", e);
        Assert.Contains("cannot be broadcast", Assert.Throws<ArgumentException>(
            () => Tensor.Zeros(Dev, new[] { 2, 3, 4 }).MatMul(Tensor.Zeros(Dev, new[] { 3, 4, 2 }))).Message);
    }
}
