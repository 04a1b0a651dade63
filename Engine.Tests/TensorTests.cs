using FsCheck.Xunit;

namespace Engine.Tests;

[Properties(Arbitrary = new[] { typeof(Generators) }, MaxTest = 30)]
public class TensorTests
{
    private static Device Dev => TestDevice.Instance;

    [Property]
    public void FromArray_and_ToArray_round_trip(Dims dims, int seed)
    {
        var x = Reference.RandomValues(seed, dims.Numel);
        using var t = Tensor.FromArray(Dev, x, dims.Values);
        Assert.Equal(x, t.ToArray());
        Assert.Equal(dims.Values, t.Shape);
        Assert.Equal(dims.Numel, t.Numel);
    }

    [Fact]
    public void Constant_constructors_fill_every_element()
    {
        using var scope = new DisposeScope();
        Assert.All(Tensor.Zeros(Dev, new[] { 3, 5 }).ToArray(), v => Assert.Equal(0f, v));
        Assert.All(Tensor.Ones(Dev, new[] { 7 }).ToArray(), v => Assert.Equal(1f, v));
        Assert.All(Tensor.Full(Dev, new[] { 2, 2, 2, 2 }, -2.5f).ToArray(), v => Assert.Equal(-2.5f, v));
        Assert.Equal(4.5f, Tensor.Scalar(Dev, 4.5f).Item());
    }

    [Fact]
    public void Random_tensors_are_seeded_and_have_the_right_distribution()
    {
        using var scope = new DisposeScope();
        var a = Tensor.RandN(Dev, new[] { 20_000 }, seed: 1).ToArray();
        var b = Tensor.RandN(Dev, new[] { 20_000 }, seed: 1).ToArray();
        var c = Tensor.RandN(Dev, new[] { 20_000 }, seed: 2).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        double mean = a.Average(v => (double)v);
        double std = Math.Sqrt(a.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, -0.03, 0.03);
        Assert.InRange(std, 0.97, 1.03);
        var u = Tensor.RandU(Dev, new[] { 20_000 }, seed: 5, low: -2f, high: 3f).ToArray();
        Assert.All(u, v => Assert.InRange(v, -2f, 3f));
        Assert.InRange(u.Average(v => (double)v), 0.45, 0.55);
        var scaled = Tensor.RandN(Dev, new[] { 20_000 }, seed: 1, mean: 5f, std: 0.5f).ToArray();
        Assert.InRange(scaled.Average(v => (double)v), 4.98, 5.02);
    }

    [Fact]
    public void Bad_shapes_and_data_are_named()
    {
        Assert.Contains("6 elements", Assert.Throws<ArgumentException>(
            () => Tensor.FromArray(Dev, new float[5], new[] { 2, 3 })).Message);
        Assert.Contains("rank 9", Assert.Throws<ArgumentException>(
            () => Tensor.Zeros(Dev, new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1 })).Message);
        Assert.Contains("dimension 0", Assert.Throws<ArgumentException>(
            () => Tensor.Zeros(Dev, new[] { 2, 0 })).Message);
    }

    [Fact]
    public void Item_needs_one_element()
    {
        using var t = Tensor.Zeros(Dev, new[] { 2 });
        Assert.Contains("[2]", Assert.Throws<InvalidOperationException>(() => t.Item()).Message);
    }

    [Fact]
    public void A_disposed_tensor_cannot_be_used()
    {
        var t = Tensor.Ones(Dev, new[] { 3 });
        t.Dispose();
        Assert.True(t.IsDisposed);
        var e = Assert.Throws<ObjectDisposedException>(() => t.Exp());
        Assert.Contains("exp", e.Message);
        Assert.Throws<ObjectDisposedException>(() => t.ToArray());
        t.Dispose(); // twice is harmless
    }

    [Fact]
    public void Tensors_from_two_devices_cannot_be_mixed()
    {
        using var other = Device.Create("cpu");
        using var scope = new DisposeScope();
        var a = Tensor.Ones(Dev, new[] { 2 });
        var b = Tensor.Ones(other, new[] { 2 });
        var e = Assert.Throws<InvalidOperationException>(() => a + b);
        Assert.Contains("different devices", e.Message);
    }

    [Fact]
    public void A_dispose_scope_returns_everything_it_saw_to_the_pool()
    {
        using var dev = Device.Create(Dev.Kind); // its pool sees no other test's late finalizers
        int before = dev.Memory.RentedBuffers;
        Tensor kept;
        using (var scope = new DisposeScope())
        {
            var x = Tensor.RandN(dev, new[] { 5, 5 }, seed: 9, requiresGrad: true);
            var y = (x.MatMul(x) + 1f).Relu().Sum();
            y.Backward();
            kept = scope.MoveToOuter(y.Detach());
        }
        Assert.Equal(before + 1, dev.Memory.RentedBuffers);
        Assert.False(kept.IsDisposed);
        kept.Dispose();
        Assert.Equal(before, dev.Memory.RentedBuffers);
    }
}
