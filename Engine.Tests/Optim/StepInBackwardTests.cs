using Engine.Nn;
using Engine.Optim;

namespace Engine.Tests.Optim;

/// <summary>
/// SGD fused into backward (<see cref="Optimizer.StepInBackward"/>) gives the parameters of the ordinary
/// backward-then-step loop, on any device, and falls back to that loop where fusion does not apply.
/// </summary>
public class StepInBackwardTests
{
    private static float[] Train(bool fused, Func<IEnumerable<Tensor>, Optimizer> make, int batch, bool shareWeight = false)
    {
        var dev = TestDevice.Instance;
        var first = new Linear(dev, 12, 9, seed: 1);
        using var model = new Sequential(first, new Engine.Nn.Tanh(), new Linear(dev, 9, 4, seed: 2));
        using var opt = make(model.Parameters());
        opt.StepInBackward = fused;
        var x = Reference.RandomValues(4, batch * 12);
        var labels = Enumerable.Range(0, batch).Select(i => i % 4).ToArray();
        for (int step = 0; step < 5; step++)
        {
            using var scope = new DisposeScope();
            var input = Tensor.FromArray(dev, x, new[] { batch, 12 });
            var logits = model.Forward(input);
            var loss = Loss.CrossEntropy(logits, labels);
            // The first layer's weight used a second time: it must not be updated in the middle of backward.
            if (shareWeight) loss = loss + first.Weight.Sum() * 0.01f;
            loss.Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        return model.Parameters().SelectMany(p => p.ToArray()).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void Fused_sgd_ends_where_the_ordinary_loop_ends(int batch)
    {
        Func<IEnumerable<Tensor>, Optimizer> sgd = p => new Sgd(p, lr: 0.1f);
        Expect.Close(Train(false, sgd, batch), Train(true, sgd, batch), 1e-6, 1e-5, $"batch {batch}");
    }

    [Fact]
    public void A_weight_used_twice_in_the_graph_is_not_fused()
    {
        Func<IEnumerable<Tensor>, Optimizer> sgd = p => new Sgd(p, lr: 0.1f);
        Expect.Close(Train(false, sgd, 3, shareWeight: true), Train(true, sgd, 3, shareWeight: true), 1e-6, 1e-5, "shared");
    }

    [Fact]
    public void Momentum_and_other_optimizers_take_the_ordinary_path()
    {
        Func<IEnumerable<Tensor>, Optimizer> momentum = p => new Sgd(p, lr: 0.1f, momentum: 0.9f);
        Func<IEnumerable<Tensor>, Optimizer> adam = p => new Adam(p, lr: 0.01f);
        Assert.Equal(Train(false, momentum, 3), Train(true, momentum, 3));
        Assert.Equal(Train(false, adam, 3), Train(true, adam, 3));
    }

    [Fact]
    public void A_fused_weight_keeps_a_zero_gradient_and_the_bias_still_gets_its_own()
    {
        var dev = TestDevice.Instance;
        using var layer = new Linear(dev, 5, 3, seed: 3);
        using var opt = new Sgd(layer.Parameters(), lr: 0.5f) { StepInBackward = true };
        var before = layer.Weight.ToArray();
        var biasBefore = layer.Bias!.ToArray();
        using (var scope = new DisposeScope())
        {
            layer.Forward(Tensor.FromArray(dev, Reference.RandomValues(1, 10), new[] { 2, 5 })).Sum().Backward();
        }
        Assert.NotEqual(before, layer.Weight.ToArray()); // updated during backward
        Assert.All(layer.Weight.Grad!.ToArray(), g => Assert.Equal(0f, g));
        Assert.All(layer.Bias!.Grad!.ToArray(), g => Assert.Equal(2f, g)); // Σ over 2 rows of d(sum)/dy = 1
        var weightAfterBackward = layer.Weight.ToArray();
        opt.Step();
        Assert.Equal(weightAfterBackward, layer.Weight.ToArray()); // not updated a second time
        Expect.Close(biasBefore.Select(b => b - 0.5 * 2).ToArray(), layer.Bias.ToArray(), 1e-6, 1e-6, "bias");
    }
}
