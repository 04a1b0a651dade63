using Engine.Optim;

namespace Engine.Tests.Optim;

/// <summary>As in PyTorch: parameters without a gradient in a step are skipped, and a gradient can be set by hand.</summary>
public class MissingGradientTests
{
    [Theory]
    [InlineData("SGD")]
    [InlineData("Adam")]
    [InlineData("RMSprop")]
    public void A_parameter_the_loss_does_not_use_is_left_alone_with_its_state(string name)
    {
        var dev = TestDevice.Instance;
        using var used = Tensor.FromArray(dev, new[] { 1f, -2f }, new[] { 2 }, requiresGrad: true);
        using var unused = Tensor.FromArray(dev, new[] { 3f, 4f, 5f }, new[] { 3 }, requiresGrad: true);
        using var opt = OptimizerCase.Plain(name, 0.1f).Create(new[] { used, unused });
        for (int step = 0; step < 3; step++)
        {
            using var scope = new DisposeScope();
            (used * used).Sum().Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        Assert.Equal(new[] { 3f, 4f, 5f }, unused.ToArray());
        Assert.NotEqual(new[] { 1f, -2f }, used.ToArray());
        var state = opt.GetState();
        foreach (var buffer in state.Buffers.Values)
            Assert.All(buffer.Skip(2), v => Assert.Equal(0f, v)); // the unused parameter's moments never moved
    }

    [Fact]
    public void Step_without_any_gradient_changes_nothing()
    {
        var dev = TestDevice.Instance;
        using var p = Tensor.FromArray(dev, new[] { 1f, 2f }, new[] { 2 }, requiresGrad: true);
        using var opt = new Adam(new[] { p }, lr: 0.1f);
        opt.Step();
        Assert.Equal(new[] { 1f, 2f }, p.ToArray());
    }

    [Fact]
    public void A_gradient_set_by_hand_is_what_the_step_uses_and_null_skips_the_parameter()
    {
        var dev = TestDevice.Instance;
        using var p = Tensor.FromArray(dev, new[] { 1f, 2f }, new[] { 2 }, requiresGrad: true);
        using var q = Tensor.FromArray(dev, new[] { 5f }, new[] { 1 }, requiresGrad: true);
        using var opt = new Sgd(new[] { p, q }, lr: 0.5f);
        using (var scope = new DisposeScope())
        {
            p.Grad = Tensor.FromArray(dev, new[] { 2f, -4f }, new[] { 2 });
            (q * 3f).Sum().Backward();
            q.Grad = null;
        }
        opt.Step();
        Assert.Equal(new[] { 0f, 4f }, p.ToArray());
        Assert.Equal(new[] { 5f }, q.ToArray());
        Assert.Equal(new[] { 0f }, q.Grad!.ToArray());
        var e = Assert.Throws<ArgumentException>(() => p.Grad = Tensor.FromArray(dev, new[] { 1f }, new[] { 1 }));
        Assert.Contains("[1]", e.Message);
        Assert.Contains("[2]", e.Message);
        using var scope2 = new DisposeScope();
        var nonLeaf = p * 2f;
        Assert.Throws<InvalidOperationException>(() => nonLeaf.Grad = Tensor.FromArray(dev, new[] { 1f, 1f }, new[] { 2 }));
    }
}
