using Engine.Kernels.Simd;
using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>
/// <c>ScaledDotProductAttention</c>: the fused kernels against the unfused composition (matmul, mask, softmax, matmul)
/// and a plain double-precision reference, forward and backward, causal and not, at odd lengths, head widths 8–128 and
/// batch 1; masks, scale and dropout through the composition; finite differences; bad input.
/// </summary>
[Properties(MaxTest = 12)]
public class AttentionTests
{
    private static Device Dev => TestDevice.Instance;

    /// <summary>softmax(scale·Q·Kᵀ (causal: keys j ≤ i))·V per head, in doubles.</summary>
    internal static double[] Reference(double[] q, double[] k, double[] v, int heads, int l, int s, int e, int ev,
        bool causal, double scale)
    {
        var o = new double[heads * l * ev];
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < l; i++)
        {
            int seen = causal ? Math.Min(s, i + 1) : s;
            var w = new double[seen];
            double max = double.NegativeInfinity;
            for (int j = 0; j < seen; j++)
            {
                double dot = 0;
                for (int c = 0; c < e; c++) dot += q[(h * l + i) * e + c] * k[(h * s + j) * e + c];
                w[j] = dot * scale;
                max = Math.Max(max, w[j]);
            }
            double sum = 0;
            for (int j = 0; j < seen; j++) sum += w[j] = Math.Exp(w[j] - max);
            for (int j = 0; j < seen; j++)
            for (int c = 0; c < ev; c++)
                o[(h * l + i) * ev + c] += w[j] / sum * v[(h * s + j) * ev + c];
        }
        return o;
    }

    private static float[] Values(int seed, int n, float range = 1f) =>
        global::Engine.Tests.Reference.RandomValues(seed, n, -range, range);

    /// <summary>Fused and unfused outputs and the gradients of Σ w·out for q, k, v.</summary>
    private static (float[] Out, float[] Dq, float[] Dk, float[] Dv) Run(Device device, bool fused, float[] q,
        float[] k, float[] v, float[] w, int[] sq, int[] sk, int[] sv, bool causal, float scale)
    {
        using var scope = new DisposeScope();
        var tq = Tensor.FromArray(device, q, sq, requiresGrad: true);
        var tk = Tensor.FromArray(device, k, sk, requiresGrad: true);
        var tv = Tensor.FromArray(device, v, sv, requiresGrad: true);
        var o = fused
            ? Tensor.ScaledDotProductAttention(tq, tk, tv, isCausal: causal, scale: scale)
            : Tensor.UnfusedAttention(tq, tk, tv, null, 0f, causal, scale, 0);
        (o * Tensor.FromArray(device, w, o.Shape)).Sum().Backward();
        return (o.ToArray(), tq.Grad!.ToArray(), tk.Grad!.ToArray(), tv.Grad!.ToArray());
    }

    private static void FusedMatchesReference(int seed, int batch, int heads, int l, int s, int e, int ev, bool causal,
        Device? device = null)
    {
        device ??= Dev;
        int[] sq = { batch, heads, l, e }, sk = { batch, heads, s, e }, sv = { batch, heads, s, ev };
        var q = Values(seed, NdReference.Numel(sq), 2f);
        var k = Values(seed + 1, NdReference.Numel(sk), 2f);
        var v = Values(seed + 2, NdReference.Numel(sv));
        var w = Values(seed + 3, batch * heads * l * ev);
        float scale = 1f / MathF.Sqrt(e);
        var fused = Run(device, true, q, k, v, w, sq, sk, sv, causal, scale);
        var unfused = Run(device, false, q, k, v, w, sq, sk, sv, causal, scale);
        var plain = Reference(global::Engine.Tests.Reference.ToDouble(q), global::Engine.Tests.Reference.ToDouble(k),
            global::Engine.Tests.Reference.ToDouble(v), batch * heads, l, s, e, ev, causal, scale);
        string what = $"[{batch},{heads}] L={l} S={s} E={e} Ev={ev} causal={causal}";
        Expect.Close(plain, fused.Out, 1e-5, 1e-4, $"fused output {what}");
        Expect.Close(unfused.Out, fused.Out, 1e-5, 1e-4, $"fused vs unfused output {what}");
        Expect.Close(unfused.Dq, fused.Dq, 2e-5, 1e-3, $"dq {what}");
        Expect.Close(unfused.Dk, fused.Dk, 2e-5, 1e-3, $"dk {what}");
        Expect.Close(unfused.Dv, fused.Dv, 2e-5, 1e-3, $"dv {what}");
    }

    [Property]
    public void Fused_attention_matches_the_composition_and_the_reference_at_random_shapes(int seed)
    {
        var rng = new Random(seed);
        int l = rng.Next(1, 40), s = rng.Next(1, 40);
        bool causal = rng.Next(2) == 0;
        FusedMatchesReference(seed, rng.Next(1, 3), rng.Next(1, 3), l, s, rng.Next(1, 20), rng.Next(1, 20), causal);
    }

    public static TheoryData<int, int, bool> Widths => new()
    {
        { 8, 67, true }, { 16, 33, false }, { 64, 65, true }, { 64, 130, false }, { 128, 17, true }, { 128, 70, false },
    };

    [Theory]
    [MemberData(nameof(Widths))]
    public void Fused_attention_matches_at_head_widths_8_to_128_across_block_edges(int e, int t, bool causal) =>
        FusedMatchesReference(e * 31 + t, 1, 1, t, t, e, e, causal);

    public static TheoryData<int, int, int, int, bool> Lengths => new()
    {
        { 70, 130, 24, 40, true }, { 130, 70, 24, 40, true }, { 129, 65, 40, 8, false }, { 65, 200, 64, 96, true },
    };

    /// <summary>Query and key lengths that differ, each over several blocks, and widths no panel divides.</summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void Fused_attention_matches_when_lengths_and_widths_differ_across_blocks(int l, int s, int e, int ev,
        bool causal) => FusedMatchesReference(l * 7 + s, 1, 2, l, s, e, ev, causal);

    /// <summary>The SIMD kernels with 256-bit registers (16-wide panels), whatever device the suite runs on.</summary>
    [Fact]
    public void Fused_simd_attention_matches_with_256_bit_registers()
    {
        bool saved = Lanes.Wide;
        try
        {
            Lanes.Wide = false;
            foreach (var (l, s, e, ev, causal) in new[] { (70, 130, 24, 40, true), (130, 70, 8, 20, false), (33, 33, 64, 64, true) })
                FusedMatchesReference(l + s, 1, 2, l, s, e, ev, causal, TestDevice.Simd);
        }
        finally
        {
            Lanes.Wide = saved;
        }
    }

    [Fact]
    public void Fused_gradients_match_finite_differences()
    {
        int[] sq = { 2, 3, 4 }, sk = { 2, 5, 4 }, sv = { 2, 5, 3 };
        foreach (bool causal in new[] { false, true })
            GradCheck.Run(x => Tensor.ScaledDotProductAttention(x[0], x[1], x[2], isCausal: causal),
                x => Reference(x[0], x[1], x[2], 2, 3, 5, 4, 3, causal, 0.5),
                new[] { Values(1, 24), Values(2, 40), Values(3, 30) }, new[] { sq, sk, sv });
    }

    [Fact]
    public void Masks_scale_and_broadcast_batch_axes_follow_torch()
    {
        using var scope = new DisposeScope();
        var q = Tensor.FromArray(Dev, Values(1, 2 * 3 * 5 * 4), new[] { 2, 3, 5, 4 });
        var k = Tensor.FromArray(Dev, Values(2, 2 * 1 * 6 * 4), new[] { 2, 1, 6, 4 });
        var v = Tensor.FromArray(Dev, Values(3, 6 * 4), new[] { 6, 4 });
        // Causal equals a bool mask of the lower triangle (true = attend), and a float mask of 0 and −∞.
        var causal = Tensor.ScaledDotProductAttention(q, k, v, isCausal: true);
        var keep = Tensor.Ones(Dev, new[] { 5, 6 }).Tril().Ne(0f);
        var boolMask = Tensor.ScaledDotProductAttention(q, k, v, attnMask: keep);
        var floatMask = Tensor.ScaledDotProductAttention(q, k, v,
            attnMask: Tensor.Where(keep, Tensor.Zeros(Dev, new[] { 5, 6 }), float.NegativeInfinity));
        Assert.Equal(new[] { 2, 3, 5, 4 }, causal.Shape);
        Expect.Close(causal.ToArray(), boolMask.ToArray(), 1e-6, 1e-5, "bool mask");
        Expect.Close(causal.ToArray(), floatMask.ToArray(), 1e-6, 1e-5, "float mask");
        // A mask broadcast over heads ([N, 1, L, S], as a key-padding mask is) gives each batch item its own keys.
        var padding = Tensor.FromArray(Dev, new[] { true, true, true, false, false, false, true, true, true, true, true, false },
            new[] { 2, 1, 1, 6 });
        var padded = Tensor.ScaledDotProductAttention(q, k, v, attnMask: padding);
        var first = Tensor.ScaledDotProductAttention(q.Select(0, 0), k.Select(0, 0).Narrow(-2, 0, 3), v.Narrow(0, 0, 3));
        Expect.Close(first.ToArray(), padded.Select(0, 0).ToArray(), 1e-6, 1e-5, "key padding broadcast over heads");
        // An explicit scale: the reference with that scale, broadcasting k over heads and v over everything.
        var scaled = Tensor.ScaledDotProductAttention(q, k, v, scale: 0.3f);
        var kb = k.Expand(2, 3, 6, 4).ToArray();
        var vb = v.Expand(2, 3, 6, 4).ToArray();
        var expected = Reference(global::Engine.Tests.Reference.ToDouble(q.ToArray()),
            global::Engine.Tests.Reference.ToDouble(kb), global::Engine.Tests.Reference.ToDouble(vb), 6, 5, 6, 4, 4,
            false, 0.3);
        Expect.Close(expected, scaled.ToArray(), 1e-5, 1e-4, "scale 0.3");
    }

    [Fact]
    public void Dropout_on_the_weights_is_inverted_and_differentiable()
    {
        using var scope = new DisposeScope();
        var q = Tensor.FromArray(Dev, Values(1, 8 * 4), new[] { 8, 4 });
        var k = Tensor.FromArray(Dev, Values(2, 8 * 4), new[] { 8, 4 });
        var v = Tensor.Ones(Dev, new[] { 8, 4 }, requiresGrad: true);
        var o = Tensor.ScaledDotProductAttention(q, k, v, dropoutP: 0.5f);
        // With v = 1 each output is Σ kept weights / (1 − p): some rows differ from 1, and their mean is near 1.
        var values = o.ToArray();
        Assert.Contains(values, x => MathF.Abs(x - 1f) > 1e-3f);
        Assert.All(values, x => Assert.True(x >= 0f && x <= 2f + 1e-5f));
        o.Sum().Backward();
        Assert.NotNull(v.Grad);
    }

    [Fact]
    public void Bad_input_names_the_op_and_the_shapes()
    {
        using var scope = new DisposeScope();
        var q = Tensor.Zeros(Dev, new[] { 2, 5, 4 });
        var k = Tensor.Zeros(Dev, new[] { 2, 6, 4 });
        var v = Tensor.Zeros(Dev, new[] { 2, 6, 3 });
        var e1 = Assert.Throws<ArgumentException>(() =>
            Tensor.ScaledDotProductAttention(q, Tensor.Zeros(Dev, new[] { 2, 6, 5 }), v));
        Assert.Contains("scaled_dot_product_attention", e1.Message);
        Assert.Contains("[2, 6, 5]", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() =>
            Tensor.ScaledDotProductAttention(q, k, Tensor.Zeros(Dev, new[] { 2, 7, 3 })));
        Assert.Contains("7", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() =>
            Tensor.ScaledDotProductAttention(q, k, v, attnMask: Tensor.Zeros(Dev, new[] { 4, 6 })));
        Assert.Contains("attn_mask", e3.Message);
        Assert.Contains("[4, 6]", e3.Message);
        Assert.Throws<ArgumentException>(() =>
            Tensor.ScaledDotProductAttention(q, k, v, attnMask: Tensor.Zeros(Dev, new[] { 5, 6 }), isCausal: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.ScaledDotProductAttention(q, k, v, dropoutP: 1f));
        Assert.Throws<ArgumentException>(() => Tensor.ScaledDotProductAttention(Tensor.Zeros(Dev, new[] { 4 }), k, v));
    }

    [Fact]
    public void A_single_key_gives_its_value()
    {
        using var scope = new DisposeScope();
        var q = Tensor.FromArray(Dev, Values(1, 4), new[] { 1, 1, 4 });
        var k = Tensor.FromArray(Dev, Values(2, 4), new[] { 1, 1, 4 });
        var v = Tensor.FromArray(Dev, Values(3, 3), new[] { 1, 1, 3 });
        // One key: the output is that key's value.
        Expect.Close(v.ToArray(), Tensor.ScaledDotProductAttention(q, k, v, isCausal: true).ToArray(), 1e-6, 1e-6);
    }

    [Fact]
    public void Fused_attention_memory_grows_linearly_with_length()
    {
        // Each length on a fresh device of the suite's kind: the peak of what forward and backward hold at once must
        // grow about as the length (the [L, S] weights would make it grow as its square). On the SIMD backend up to
        // T = 4096; the ILGPU CPU simulator's per-row kernels stop at 1024 (T² work each).
        string kind = Dev.Kind is "cpu" or "ilgpu-cpu" ? Dev.Kind : "ilgpu-cpu";
        long Bytes(int t)
        {
            using var device = Device.Create(kind);
            using var scope = new DisposeScope();
            var shape = new[] { 1, 2, t, 16 };
            var q = Tensor.RandN(device, shape, seed: 1, requiresGrad: true);
            var k = Tensor.RandN(device, shape, seed: 2, requiresGrad: true);
            var v = Tensor.RandN(device, shape, seed: 3, requiresGrad: true);
            Tensor.ScaledDotProductAttention(q, k, v, isCausal: true).Sum().Backward();
            device.Kernels.Synchronize();
            return device.Memory.PeakAllocatedBytes;
        }
        int[] lengths = kind == "cpu" ? new[] { 256, 1024, 4096 } : new[] { 256, 1024 };
        var peaks = lengths.Select(Bytes).ToArray();
        for (int i = 1; i < lengths.Length; i++)
        {
            double growth = (double)peaks[i] / peaks[i - 1], longer = (double)lengths[i] / lengths[i - 1];
            Assert.True(growth < 1.5 * longer,
                $"peak {peaks[i - 1]:N0} bytes at L = {lengths[i - 1]} but {peaks[i]:N0} at L = {lengths[i]} " +
                $"(linear: ~{longer}×, quadratic: {longer * longer}×)");
        }
    }
}
