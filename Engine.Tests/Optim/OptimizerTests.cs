using Engine.Optim;
using FsCheck;
using FsCheck.Xunit;

namespace Engine.Tests.Optim;

[Properties(Arbitrary = new[] { typeof(OptimizerCases) }, MaxTest = 40)]
public class OptimizerTests
{
    private static Device Dev => TestDevice.Instance;
    private static readonly int[][] Shapes = { new[] { 3, 5 }, new[] { 7 } };

    private static List<Tensor> Parameters(int seed) =>
        Shapes.Select((s, i) => Tensor.FromArray(Dev, Reference.RandomValues(seed + i, s.Aggregate(1, (a, d) => a * d)),
            s, requiresGrad: true)).ToList();

    private static float[][] Gradients(int seed, int step, float scale = 1f) =>
        Shapes.Select((s, i) => Reference.RandomValues(seed * 7919 + step * 31 + i, s.Aggregate(1, (a, d) => a * d), -1, 1)
            .Select(v => v * scale).ToArray()).ToArray();

    private static void SetGrads(IReadOnlyList<Tensor> ps, float[][] grads)
    {
        for (int i = 0; i < ps.Count; i++) ps[i].Grad!.CopyFrom(grads[i]);
    }

    [Property]
    public void Fused_kernel_matches_the_reference_over_50_steps(OptimizerCase c, int seed)
    {
        var ps = Parameters(seed);
        var reference = ps.Select(p => Reference.ToDouble(p.ToArray())).ToArray();
        var model = new ReferenceOptimizer(c, ps.Select(p => p.Numel).ToArray());
        using var optimizer = c.Create(ps);
        for (int step = 0; step < 50; step++)
        {
            var g = Gradients(seed, step);
            SetGrads(ps, g);
            optimizer.Step();
            model.Step(reference, g.Select(Reference.ToDouble).ToArray());
        }
        for (int i = 0; i < ps.Count; i++)
            Expect.Close(reference[i], ps[i].ToArray(), 2e-4, 1e-3, $"{c}, tensor {i}");
        foreach (var p in ps) p.Dispose();
    }

    [Property]
    public void A_zero_gradient_without_decay_leaves_parameters_unchanged(OptimizerCase c, int seed)
    {
        var plain = c with { WeightDecay = 0f, L1 = 0f };
        var ps = Parameters(seed);
        var before = ps.Select(p => p.ToArray()).ToArray();
        using var optimizer = plain.Create(ps);
        for (int step = 0; step < 3; step++)
        {
            SetGrads(ps, Shapes.Select(s => new float[s.Aggregate(1, (a, d) => a * d)]).ToArray());
            optimizer.Step();
        }
        for (int i = 0; i < ps.Count; i++) Assert.Equal(before[i], ps[i].ToArray());
        foreach (var p in ps) p.Dispose();
    }

    [Property(MaxTest = 20)]
    public void Adam_steps_are_invariant_to_scaling_the_gradient(int seed, PositiveInt scaleSeed)
    {
        float scale = 0.01f + scaleSeed.Get % 100;
        float[] Run(float s)
        {
            var ps = Parameters(seed);
            using var adam = new Adam(ps, lr: 0.01f, eps: 1e-12f);
            for (int step = 0; step < 10; step++)
            {
                SetGrads(ps, Gradients(seed, step, s));
                adam.Step();
            }
            var result = ps.SelectMany(p => p.ToArray()).ToArray();
            foreach (var p in ps) p.Dispose();
            return result;
        }
        Expect.Close(Run(1f), Run(scale), 1e-5, 1e-4, $"scale {scale}");
    }

    [Property(MaxTest = 20)]
    public void Lion_moves_every_coordinate_by_exactly_lr(int seed)
    {
        var ps = Parameters(seed);
        using var lion = new Lion(ps, lr: 0.01f);
        for (int step = 0; step < 3; step++)
        {
            var before = ps.SelectMany(p => p.ToArray()).ToArray();
            SetGrads(ps, Gradients(seed, step));
            lion.Step();
            var after = ps.SelectMany(p => p.ToArray()).ToArray();
            for (int i = 0; i < before.Length; i++)
                Assert.Equal(0.01, Math.Abs((double)after[i] - before[i]), 5);
        }
        foreach (var p in ps) p.Dispose();
    }

    [Property(MaxTest = 20)]
    public void Clip_grad_norm_bounds_the_norm_and_keeps_the_direction(int seed, bool flat, PositiveInt maxNormSeed)
    {
        float maxNorm = 0.1f * (1 + maxNormSeed.Get % 50);
        var ps = Parameters(seed);
        using var owner = flat ? new Sgd(ps, lr: 0.1f) : null;
        var g = Gradients(seed, 0, 2f);
        if (flat) SetGrads(ps, g);
        else
        {
            // Gradients that are separate tensors: the per-tensor path.
            foreach (var p in ps) (p * 0f).Sum().Backward();
            SetGrads(ps, g);
        }
        double norm = Math.Sqrt(g.SelectMany(x => x).Sum(v => (double)v * v));
        using var total = GradClip.ClipGradNorm(ps, maxNorm);
        Assert.Equal(norm, total.Item(), 4);
        var clipped = ps.SelectMany(p => p.Grad!.ToArray()).ToArray();
        double after = Math.Sqrt(clipped.Sum(v => (double)v * v));
        Assert.True(after <= maxNorm * (1 + 1e-5), $"norm after clipping {after} > {maxNorm}");
        double factor = Math.Min(1, maxNorm / (norm + 1e-6));
        Expect.Close(g.SelectMany(x => x).Select(v => v * factor).ToArray(), clipped, 1e-6, 1e-5, "same direction");
        foreach (var p in ps) p.Dispose();
    }

    [Fact]
    public void Clip_grad_value_clamps_each_element()
    {
        var ps = Parameters(1);
        using var sgd = new Sgd(ps, lr: 0.1f);
        var g = Gradients(1, 0, 3f);
        SetGrads(ps, g);
        GradClip.ClipGradValue(ps, 0.5f);
        Expect.Close(g.SelectMany(x => x).Select(v => Math.Clamp(v, -0.5f, 0.5f)).ToArray(),
            ps.SelectMany(p => p.Grad!.ToArray()).ToArray(), 0, 0, "clamped");
        foreach (var p in ps) p.Dispose();
    }

    [Fact]
    public void Parameter_groups_have_their_own_learning_rates()
    {
        var ps = Parameters(2);
        var frozen = ps[1].ToArray();
        using var sgd = new Sgd(new[] { new ParamGroup(new[] { ps[0] }), new ParamGroup(new[] { ps[1] }, lr: 0f) },
            lr: 0.1f);
        var before = ps[0].ToArray();
        SetGrads(ps, Gradients(2, 0));
        sgd.Step();
        Assert.Equal(frozen, ps[1].ToArray());
        Assert.NotEqual(before, ps[0].ToArray());
        Assert.Equal(0f, sgd.ParamGroups[1].Lr);
        foreach (var p in ps) p.Dispose();
    }

    [Theory]
    [InlineData("Adam")]
    [InlineData("NAdam")]
    [InlineData("SGD")]
    [InlineData("Lamb")]
    public void Saving_and_loading_state_resumes_exactly(string name)
    {
        var c = OptimizerCase.Plain(name, 0.01f) with { Momentum = 0.9f, AmsGrad = true };
        var straight = Parameters(3);
        using (var o = c.Create(straight))
        {
            for (int step = 0; step < 20; step++)
            {
                SetGrads(straight, Gradients(3, step));
                o.Step();
            }
        }
        var first = Parameters(3);
        OptimizerState saved;
        float[][] halfway;
        using (var o = c.Create(first))
        {
            for (int step = 0; step < 10; step++)
            {
                SetGrads(first, Gradients(3, step));
                o.Step();
            }
            saved = o.GetState();
            halfway = first.Select(p => p.ToArray()).ToArray();
        }
        var resumed = halfway.Select((v, i) => Tensor.FromArray(Dev, v, Shapes[i], requiresGrad: true)).ToList();
        using (var o = c.Create(resumed))
        {
            o.LoadState(saved);
            for (int step = 10; step < 20; step++)
            {
                SetGrads(resumed, Gradients(3, step));
                o.Step();
            }
        }
        for (int i = 0; i < Shapes.Length; i++) Assert.Equal(straight[i].ToArray(), resumed[i].ToArray());
        foreach (var p in straight.Concat(first).Concat(resumed)) p.Dispose();
    }

    [Fact]
    public void Loading_a_mismatched_state_lists_every_problem_and_changes_nothing()
    {
        var ps = Parameters(4);
        using var adam = new Adam(ps);
        var state = adam.GetState();
        var broken = state with
        {
            Optimizer = "SGD",
            Buffers = new Dictionary<string, float[]> { ["exp_avg"] = new float[3], ["bogus"] = new float[1] },
        };
        var e = Assert.Throws<ArgumentException>(() => adam.LoadState(broken));
        Assert.Contains("not Adam", e.Message);
        Assert.Contains("missing state buffer 'exp_avg_sq'", e.Message);
        Assert.Contains("unexpected state buffer 'bogus'", e.Message);
        Assert.Contains("has 3 values", e.Message);
        Assert.Equal(0, adam.StepCount);
        foreach (var p in ps) p.Dispose();
    }

    [Fact]
    public void Bad_hyper_parameters_are_refused_in_the_constructor()
    {
        var ps = Parameters(5);
        Assert.Contains("lr", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, lr: -0.1f)).Message);
        Assert.Contains("beta1", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, betas: (1f, 0.999f))).Message);
        Assert.Contains("beta2", Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(ps, betas: (0.9f, -0.1f))).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, eps: 0f)).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentOutOfRangeException>(() => new RmsProp(ps, eps: -1f)).Message);
        Assert.Contains("weightDecay", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, weightDecay: -1f)).Message);
        Assert.Contains("Nesterov", Assert.Throws<ArgumentException>(() => new Sgd(ps, lr: 0.1f, nesterov: true)).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => new Adam(Array.Empty<Tensor>())).Message);
        using var constant = Tensor.Ones(Dev, new[] { 2 });
        Assert.Contains("does not require grad",
            Assert.Throws<ArgumentException>(() => new Adam(new[] { constant })).Message);
        foreach (var p in ps) p.Dispose();
    }

    [Fact]
    public void An_optimizer_whose_parameters_were_taken_over_refuses_to_step()
    {
        var ps = Parameters(7);
        using var first = new Sgd(ps, lr: 0.1f);
        using var second = new Adam(ps);
        (ps[0].Sum() + ps[1].Sum()).Backward();
        second.Step();
        var e = Assert.Throws<InvalidOperationException>(() => first.Step());
        Assert.Contains("taken over", e.Message);
        foreach (var p in ps) p.Dispose();
    }

    [Fact]
    public void Backward_fills_the_flat_gradients_and_zero_grad_clears_them()
    {
        var ps = Parameters(8);
        using var sgd = new Sgd(ps, lr: 0.5f);
        var before = ps[0].ToArray();
        ((ps[0] * 3f).Sum() + ps[1].Sum()).Backward();
        Assert.All(ps[0].Grad!.ToArray(), v => Assert.Equal(3f, v));
        sgd.Step();
        Expect.Close(before.Select(v => v - 1.5f).ToArray(), ps[0].ToArray(), 1e-6, 1e-6, "θ − lr·3");
        sgd.ZeroGrad();
        Assert.All(ps.SelectMany(p => p.Grad!.ToArray()), v => Assert.Equal(0f, v));
        foreach (var p in ps) p.Dispose();
    }
}
