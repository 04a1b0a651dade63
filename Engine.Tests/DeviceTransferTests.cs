using Engine.Nn;
using Engine.Optim;

namespace Engine.Tests;

/// <summary>
/// Choosing among devices (<c>Device.List</c>, <c>Device.Create("kind:index")</c>) and moving tensors and modules
/// between them (<c>tensor.To(device)</c>, <c>module.To(device)</c>), as PyTorch does; the suite's device and a second
/// one of the other CPU kind (the SIMD backend and ILGPU's CPU accelerator share no buffers).
/// </summary>
public sealed class DeviceTransferTests : IDisposable
{
    private readonly Device other = Device.Create(TestDevice.Instance.Kind == "cpu" ? "ilgpu-cpu" : "cpu");

    public void Dispose() => other.Dispose();

    [Fact]
    public void List_names_every_device_with_the_id_create_takes()
    {
        var list = Device.List();
        Assert.Contains(list, d => d.Id == "cpu:0");
        Assert.Contains(list, d => d.Id == "ilgpu-cpu:0");
        Assert.Equal(list.Count, list.Select(d => d.Id).Distinct().Count());
        using var dev = Device.Create("cpu:0");
        Assert.Equal("cpu:0", dev.Id);
        Assert.Equal(0, dev.Index);
        var missing = Assert.Throws<InvalidOperationException>(() => Device.Create("cpu:3"));
        Assert.Contains("'cpu:3' is not present", missing.Message);
        Assert.Contains("cpu:0 (SIMD)", missing.Message);
        var malformed = Assert.Throws<ArgumentException>(() => Device.Create("cuda:x"));
        Assert.Contains("cuda:x", malformed.Message);
        Assert.Throws<ArgumentException>(() => Device.Create("tpu:0"));
    }

    [Fact]
    public void To_copies_any_dtype_and_carries_the_gradient_back()
    {
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var x = Tensor.FromArray(dev, new[] { 1f, -2f, 3f, 0.5f }, new[] { 2, 2 }, requiresGrad: true);
        Assert.Same(x, x.To(dev));
        var y = x.To(other);
        Assert.Same(other, y.Device);
        Assert.Equal(x.ToArray(), y.ToArray());
        Assert.Equal("to", y.GradFnName);
        (y * y).Sum().Backward(); // d/dx Σ x² = 2x, computed on the other device, added on x's
        Assert.Same(dev, x.Grad!.Device);
        Assert.Equal(new[] { 2f, -4f, 6f, 1f }, x.Grad.ToArray());

        var labels = Tensor.FromArray(dev, new long[] { 3, -1, 7 }, new[] { 3 });
        var moved = labels.To(other);
        Assert.Equal(DType.Int64, moved.DType);
        Assert.Equal(new long[] { 3, -1, 7 }, moved.ToArray<long>());
    }

    [Fact]
    public void Operands_on_two_devices_are_refused_naming_each_one()
    {
        using var scope = new DisposeScope();
        using var twin = Device.Create(TestDevice.Instance.Kind);
        var a = Tensor.Ones(TestDevice.Instance, new[] { 2, 3 });
        var b = Tensor.Ones(twin, new[] { 2, 3 });
        var e = Assert.Throws<InvalidOperationException>(() => a + b);
        Assert.Contains("operand 0 (shape [2, 3])", e.Message);
        Assert.Contains($"device #{TestDevice.Instance.Number}", e.Message); // same kind and name: told apart by number
        Assert.Contains($"device #{twin.Number}", e.Message);
        Assert.Contains("tensor.To(device)", e.Message);
        Assert.Equal(b.ToArray(), (a.To(twin) + b).ToArray().Select(v => v / 2).ToArray());
    }

    [Fact]
    public void Module_to_moves_parameters_and_buffers_in_place_and_refuses_an_optimizers_parameters()
    {
        var dev = TestDevice.Instance;
        using var model = new Sequential(new Linear(dev, 3, 4, seed: 1), new BatchNorm1d(dev, 4), new Linear(dev, 4, 2, seed: 2));
        var weight = model.Parameters().First();
        var before = weight.ToArray();
        Assert.Same(model, model.To(other));
        Assert.Same(weight, model.Parameters().First());
        Assert.Same(other, weight.Device);
        Assert.All(model.Parameters().Concat(model.NamedBuffers().Select(b => b.Buffer)), t => Assert.Same(other, t.Device));
        Assert.Equal(before, weight.ToArray());
        using (var scope = new DisposeScope())
        {
            var x = Tensor.FromArray(other, new[] { 1f, 2f, 3f, -1f, 0f, 2f }, new[] { 2, 3 });
            Loss.Mse(model.Forward(x), Tensor.Zeros(other, new[] { 2, 2 })).Backward();
            Assert.Same(other, weight.Grad!.Device);
        }
        model.To(dev);
        Assert.Same(dev, weight.Device);
        Assert.Same(dev, weight.Grad!.Device);

        using var opt = new Sgd(model.Parameters(), lr: 0.1f);
        var e = Assert.Throws<InvalidOperationException>(() => model.To(other));
        Assert.Contains("'0.weight'", e.Message);
        Assert.Contains("SGD", e.Message);
        Assert.Same(dev, weight.Device); // nothing moved
    }
}
