using Engine.Optim;

namespace Engine.Tests.Optim;

/// <summary>
/// What a model past 2³¹ elements goes through, on buffers small enough to run here: the optimizer's flat buffers are
/// 64-bit, and whole-buffer work (the update, zeroing, the finiteness checks, ZeRO's shard copies) runs in launches of at
/// most <see cref="FlatChunk.Elements"/> (2³⁰); the tests lower that bound to 5 elements, so every path that a large model
/// cuts up is cut up, and must end where the uncut run ends. Sizes no host array or tensor can hold are errors naming them.
/// </summary>
public sealed class LargeModelTests
{
    private static readonly int[][] Shapes = [[3, 4], [7], [2]]; // 21 elements: 5 launches of at most 5

    private static List<Tensor> Parameters(Device dev) => Shapes.Select((s, i) =>
        Tensor.FromArray(dev, Reference.RandomValues(60 + i, s.Aggregate(1, (a, d) => a * d)), s, requiresGrad: true)).ToList();

    private static float[] Train(Func<List<Tensor>, Optimizer> create, long chunk, bool shard)
    {
        var saved = FlatChunk.Elements;
        FlatChunk.Elements = chunk;
        try
        {
            var dev = TestDevice.Instance;
            var ps = Parameters(dev);
            using var optimizer = create(ps);
            if (shard) optimizer.ShardState(7, 11); // a shard across three parameters, as rank 1 of 2 holds [7, 18)
            for (int step = 0; step < 4; step++)
            {
                using (var scope = new DisposeScope())
                {
                    var loss = (ps[0] * ps[0]).Sum() + (ps[1] * ps[1] * ps[1]).Sum() * 0.5f;
                    if (step % 2 == 0) loss = loss + (ps[2] * ps[2]).Sum() * 2f; // the last parameter lags a step
                    loss.Backward();
                }
                Assert.True(optimizer.GradientsAreFinite());
                GradClip.ClipGradNorm(ps, 50f).Dispose(); // contiguous past the bound: clipped per tensor
                optimizer.Step();
                Assert.True(optimizer.ParametersAreFinite());
                optimizer.ZeroGrad();
            }
            var result = ps.SelectMany(p => p.ToArray()).ToArray();
            foreach (var p in ps) p.Dispose();
            return result;
        }
        finally
        {
            FlatChunk.Elements = saved;
        }
    }

    [Theory]
    [InlineData("adamw", false)]
    [InlineData("sgd", false)]
    [InlineData("adamw", true)]
    public void Updates_cut_into_launches_end_where_one_launch_ends(string rule, bool shard)
    {
        Func<List<Tensor>, Optimizer> create = rule == "adamw"
            ? ps => new AdamW(ps, lr: 0.05f, weightDecay: 0.1f)
            : ps => new Sgd(ps, lr: 0.02f, momentum: 0.9f, nesterov: true);
        var whole = Train(create, 1L << 30, shard);
        var cut = Train(create, 5, shard);
        Assert.Equal(whole, cut);
    }

    [Fact]
    public void A_whole_group_rule_past_one_launch_is_refused_naming_it()
    {
        var saved = FlatChunk.Elements;
        FlatChunk.Elements = 5;
        try
        {
            var ps = Parameters(TestDevice.Instance);
            using var lamb = new Lamb(ps, lr: 0.01f);
            using (var scope = new DisposeScope()) (ps[0] * ps[0]).Sum().Backward();
            var e = Assert.Throws<NotSupportedException>(() => lamb.Step());
            Assert.Contains("Lamb", e.Message);
            Assert.Contains("21 elements", e.Message);
            foreach (var p in ps) p.Dispose();
        }
        finally
        {
            FlatChunk.Elements = saved;
        }
    }

    [Fact]
    public void Sizes_past_32_bits_are_errors_naming_them_not_counts_that_wrapped()
    {
        var dev = TestDevice.Instance;
        // 65,536² = 2³² elements: an int count would wrap to 0.
        var shape = Assert.Throws<ArgumentException>(() => Tensor.Zeros(dev, new[] { 65_536, 65_536 }));
        Assert.Contains("[65536, 65536]", shape.Message);
        var host = Assert.Throws<NotSupportedException>(() => FlatChunk.HostArray(3_000_000_000, "Adam.GetState ('exp_avg')"));
        Assert.Contains("3,000,000,000 floats", host.Message);
        Assert.Contains("Adam.GetState", host.Message);
        Assert.Equal([(0L, 1L << 30), (1L << 30, 1L << 30), (2L << 30, 5L)], FlatChunk.Of((2L << 30) + 5).ToArray());
    }

    [Fact]
    public void A_flat_buffer_past_the_device_memory_fails_naming_its_64_bit_size()
    {
        using var dev = Device.Create(TestDevice.Instance.Kind);
        dev.MemoryLimit = 1_000_000;
        var e = Assert.Throws<OutOfMemoryException>(() => new TensorStorage(dev, 3L << 30));
        Assert.Contains("12,884,901,888 bytes (3,221,225,472 × Single)", e.Message);
    }
}
