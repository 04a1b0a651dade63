namespace Engine.Tests;

public class AutogradTests
{
    private static Device Dev => TestDevice.Instance;

    [Fact]
    public void NoGrad_records_nothing()
    {
        using var scope = new DisposeScope();
        var w = Tensor.FromArray(Dev, new[] { 1f, 2f }, new[] { 2 }, requiresGrad: true);
        Tensor y;
        using (Autograd.NoGrad())
        {
            Assert.False(Autograd.IsEnabled);
            y = (w * w).Sum();
        }
        Assert.True(Autograd.IsEnabled);
        Assert.False(y.RequiresGrad);
        Assert.True(y.IsLeaf);
        Assert.Null(y.GradFnName);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Null(w.Grad);
    }

    [Fact]
    public void Ops_record_their_name_and_only_when_an_input_requires_grad()
    {
        using var scope = new DisposeScope();
        var x = Tensor.Ones(Dev, new[] { 2, 2 });
        var w = Tensor.Ones(Dev, new[] { 2, 2 }, requiresGrad: true);
        Assert.Null((x + x).GradFnName);
        Assert.Equal("matmul", x.MatMul(w).GradFnName);
        Assert.False(x.MatMul(w).IsLeaf);
    }

    [Fact]
    public void Gradients_accumulate_across_backward_calls_until_zeroed()
    {
        using var scope = new DisposeScope();
        var w = Tensor.FromArray(Dev, new[] { 3f }, new[] { 1 }, requiresGrad: true);
        (w * 2f).Sum().Backward();
        (w * 2f).Sum().Backward();
        Assert.Equal(new[] { 4f }, w.Grad!.ToArray());
        w.ZeroGrad();
        Assert.Equal(new[] { 0f }, w.Grad!.ToArray());
    }

    [Fact]
    public void A_chain_through_many_ops_matches_the_hand_derivative()
    {
        // y = Σ tanh(x·w + b)²  ⇒  dy/dw = Σ_rows xᵀ · 2 tanh(z)(1 − tanh² z)
        using var scope = new DisposeScope();
        var xv = new[] { 0.5f, -1f, 2f, 0.25f };
        var wv = new[] { 0.3f, -0.2f };
        var x = Tensor.FromArray(Dev, xv, new[] { 2, 2 });
        var w = Tensor.FromArray(Dev, wv, new[] { 2, 1 }, requiresGrad: true);
        var b = Tensor.FromArray(Dev, new[] { 0.1f }, new[] { 1 }, requiresGrad: true);
        var y = (x.MatMul(w) + b).Tanh().Pow(2f).Sum();
        y.Backward();
        double gw0 = 0, gw1 = 0, gb = 0;
        for (int r = 0; r < 2; r++)
        {
            double z = xv[2 * r] * wv[0] + xv[2 * r + 1] * wv[1] + 0.1;
            double t = Math.Tanh(z), d = 2 * t * (1 - t * t);
            gw0 += xv[2 * r] * d;
            gw1 += xv[2 * r + 1] * d;
            gb += d;
        }
        Expect.Close(new[] { gw0, gw1 }, w.Grad!.ToArray(), 1e-6, 1e-5, "dw");
        Expect.Close(new[] { gb }, b.Grad!.ToArray(), 1e-6, 1e-5, "db");
    }

    [Fact]
    public void Backward_on_a_non_scalar_says_so()
    {
        using var scope = new DisposeScope();
        var w = Tensor.Ones(Dev, new[] { 2, 3 }, requiresGrad: true);
        var e = Assert.Throws<InvalidOperationException>(() => (w * 2f).Backward());
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("Sum()", e.Message);
    }

    [Fact]
    public void Backward_with_a_gradient_is_the_vector_jacobian_product()
    {
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(Dev, new[] { 1f, -2f, 3f, 0.5f, 4f, -1f }, new[] { 2, 3 }, requiresGrad: true);
        var g = Tensor.FromArray(Dev, new[] { 0.5f, 1f, -2f, 3f, 0.25f, 1.5f }, new[] { 2, 3 });
        (x * x).Exp().Backward(g); // torch: (x * x).exp().backward(g)
        var expected = x.ToArray().Zip(g.ToArray(), (v, d) => d * 2 * v * MathF.Exp(v * v)).ToArray();
        Expect.Close(expected, x.Grad!.ToArray(), 1e-6, 1e-5, "g ⊙ 2x·e^(x²)");

        var wrong = Tensor.Zeros(Dev, new[] { 3, 2 });
        var e = Assert.Throws<ArgumentException>(() => (x * 2f).Backward(wrong));
        Assert.Contains("[3, 2]", e.Message);
        Assert.Contains("[2, 3]", e.Message);
    }

    [Fact]
    public void A_second_backward_through_a_freed_graph_is_refused_unless_retained()
    {
        using var scope = new DisposeScope();
        var w = Tensor.Ones(Dev, new[] { 2 }, requiresGrad: true);
        var y = (w * w).Sum();
        y.Backward(retainGraph: true);
        y.Backward();
        Assert.Equal(new[] { 4f, 4f }, w.Grad!.ToArray());
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("retainGraph", e.Message);
    }

    [Fact]
    public void Intermediate_gradients_are_released_after_backward()
    {
        using var dev = Device.Create(Dev.Kind); // its pool sees no other test's late finalizers
        using var scope = new DisposeScope();
        var w = Tensor.RandN(dev, new[] { 8, 8 }, seed: 3, requiresGrad: true);
        var x = Tensor.RandN(dev, new[] { 4, 8 }, seed: 4);
        var loss = x.MatMul(w).Relu().Sigmoid().Mean();
        int rentedBefore = dev.Memory.RentedBuffers;
        loss.Backward();
        // Only w's gradient survives the pass; every intermediate gradient went back to the pool.
        Assert.Equal(rentedBefore + 1, dev.Memory.RentedBuffers);
    }

    [Fact]
    public void Backward_through_a_disposed_input_names_the_op()
    {
        using var scope = new DisposeScope();
        var w = Tensor.Ones(Dev, new[] { 2 }, requiresGrad: true);
        var h = w * 3f;
        var y = h.Exp().Sum();
        h.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => y.Backward());
        Assert.Contains("exp", e.Message);
    }

    [Fact]
    public void Reshape_and_detach_share_memory_and_reshape_passes_gradients_back()
    {
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(Dev, new[] { 1f, 2f, 3f, 4f, 5f, 6f }, new[] { 2, 3 }, requiresGrad: true);
        var r = x.Reshape(3, -1);
        Assert.Equal(new[] { 3, 2 }, r.Shape);
        (r * Tensor.FromArray(Dev, new[] { 1f, 2f, 3f, 4f, 5f, 6f }, new[] { 3, 2 })).Sum().Backward();
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, x.Grad!.ToArray());
        var d = x.Detach();
        Assert.False(d.RequiresGrad);
        using (Autograd.NoGrad()) x.AddInPlace(x, 1f);
        Assert.Equal(new[] { 2f, 4f, 6f, 8f, 10f, 12f }, d.ToArray());
        Assert.Throws<ArgumentException>(() => x.Reshape(4, -1));
    }

    [Fact]
    public void In_place_update_of_a_parameter_requires_no_grad_mode()
    {
        using var scope = new DisposeScope();
        var w = Tensor.Ones(Dev, new[] { 2 }, requiresGrad: true);
        var e = Assert.Throws<InvalidOperationException>(() => w.AddInPlace(w, -0.1f));
        Assert.Contains("NoGrad", e.Message);
    }
}
