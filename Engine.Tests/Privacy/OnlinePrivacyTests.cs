using Engine.Nn;
using Engine.Optim;
using Engine.Privacy;
using Engine.Training;

namespace Engine.Tests.Privacy;

/// <summary>OnlineTrainer.Privacy: each one-sample step's gradient clipped to C plus N(0, σ²C²), and its ε accounting.</summary>
public sealed class OnlinePrivacyTests
{
    private static Device Dev => TestDevice.Instance;

    private static Sample[] Stream(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            int label = rng.Next(3);
            return new Sample(Enumerable.Range(0, 4).Select(j => (float)((j == label ? 1.5 : 0) + rng.NextDouble() - 0.5)).ToArray(), label);
        }).ToArray();
    }

    private static Sequential Mlp() => new(new Linear(Dev, 4, 6, seed: 1), new Relu(), new Linear(Dev, 6, 3, seed: 2));

    [Fact]
    public void WithANegligibleNoiseAndALargeClippingNormItLearnsAsPlainOnlineSgd()
    {
        using var plain = Mlp();
        using var priv = Mlp();
        using var sgdPlain = new Sgd(plain.Parameters(), lr: 0.05f);
        using var sgdPriv = new Sgd(priv.Parameters(), lr: 0.05f);
        using var a = new OnlineTrainer(plain, sgdPlain);
        using var b = new OnlineTrainer(priv, sgdPriv) { Privacy = new OnlinePrivacy(1e-9, 1e3, seed: 1) };
        foreach (var s in Stream(50, 1))
        {
            a.Learn(s);
            b.Learn(s);
        }
        var pa = plain.Parameters().SelectMany(p => p.ToArray()).ToArray();
        var pb = priv.Parameters().SelectMany(p => p.ToArray()).ToArray();
        for (int i = 0; i < pa.Length; i++) Assert.True(Math.Abs(pa[i] - pb[i]) <= 1e-5, $"parameter {i}: {pb[i]} vs {pa[i]}");
        Assert.Equal(50, b.Privacy!.Steps);
    }

    [Fact]
    public void EachStepMovesTheParametersByAtMostLrTimesCBeforeNoise()
    {
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 1f);
        using var trainer = new OnlineTrainer(model, sgd) { Privacy = new OnlinePrivacy(1e-9, 0.01, seed: 1) };
        foreach (var s in Stream(20, 2))
        {
            var before = model.Parameters().SelectMany(p => p.ToArray()).ToArray();
            trainer.Learn(s);
            var after = model.Parameters().SelectMany(p => p.ToArray()).ToArray();
            double step = Math.Sqrt(before.Zip(after, (x, y) => (double)(x - y) * (x - y)).Sum());
            Assert.True(step <= 0.01 * (1 + 1e-4), $"a step of norm {step} > lr·C = 0.01");
            Assert.True(step > 0.0099, $"a step of norm {step}: the gradients here exceed C, so the clipped step is lr·C");
        }
    }

    [Fact]
    public void EpsilonIsOneGaussianMechanismForAStreamOfDistinctIndividualsOrComposedAtOneOverN()
    {
        var once = new OnlinePrivacy(2.0, 1.0, seed: 1);
        var population = new OnlinePrivacy(2.0, 1.0, populationSize: 1000, seed: 1);
        using var m1 = Mlp();
        using var m2 = Mlp();
        using var s1 = new Sgd(m1.Parameters(), lr: 0.01f);
        using var s2 = new Sgd(m2.Parameters(), lr: 0.01f);
        using var t1 = new OnlineTrainer(m1, s1) { Privacy = once };
        using var t2 = new OnlineTrainer(m2, s2) { Privacy = population };
        Assert.Equal(0, once.GetEpsilon(1e-5));
        foreach (var s in Stream(100, 3))
        {
            t1.Learn(s);
            t2.Learn(s);
        }
        var gaussian = new RdpAccountant();
        gaussian.Step(2.0, 1.0, 1);
        Assert.Equal(gaussian.GetEpsilon(1e-5), once.GetEpsilon(1e-5), 12);
        var sampled = new RdpAccountant();
        sampled.Step(2.0, 0.001, 100);
        Assert.Equal(sampled.GetEpsilon(1e-5), population.GetEpsilon(1e-5), 12);
    }

    [Theory]
    [InlineData(0.0, 1.0, "σ")]
    [InlineData(1.0, 0.0, "maxGradNorm")]
    [InlineData(1.0, double.PositiveInfinity, "∞")]
    public void BadSettingsAreRefused(double sigma, double c, string named)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new OnlinePrivacy(sigma, c));
        Assert.Contains(named, e.Message);
    }
}
