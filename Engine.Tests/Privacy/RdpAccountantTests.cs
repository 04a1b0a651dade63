using Engine.Privacy;

namespace Engine.Tests.Privacy;

/// <summary>
/// The RDP accountant against Golden/rdp.json (make_rdp_golden.py: the same formulas in mpmath at 60 digits) and against
/// figures published with stated (q, σ, steps, δ).
/// </summary>
public sealed class RdpAccountantTests
{
    private static readonly TorchFixture Golden = new("rdp.json");

    public static TheoryData<string> Cases() => Golden.Names();

    [Theory]
    [MemberData(nameof(Cases))]
    public void EpsilonMatchesTheHighPrecisionReference(string name)
    {
        var c = Golden.Case(name);
        var accountant = new RdpAccountant();
        accountant.Step(c.GetProperty("sigma").GetDouble(), c.GetProperty("q").GetDouble(), c.GetProperty("steps").GetInt64());
        var orders = c.GetProperty("orders").ValueKind == System.Text.Json.JsonValueKind.Null
            ? null
            : c.GetProperty("orders").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var conversion = c.GetProperty("conversion").GetString() == "classic"
            ? RdpAccountant.Conversion.Classic
            : RdpAccountant.Conversion.Opacus;
        var (eps, order) = accountant.GetPrivacySpent(c.GetProperty("delta").GetDouble(), orders, conversion);
        double expected = c.GetProperty("epsilon").GetDouble();
        Assert.True(Math.Abs(eps - expected) <= 1e-6 * expected, $"{name}: ε {eps}, reference {expected}");
        Assert.Equal(c.GetProperty("alpha").GetDouble(), order);
    }

    [Fact]
    public void RdpOfSingleOrdersMatchesTheReference()
    {
        var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "rdp.json")));
        foreach (var r in doc.RootElement.GetProperty("rdp").EnumerateArray())
        {
            double q = r.GetProperty("q").GetDouble(), s = r.GetProperty("sigma").GetDouble(), a = r.GetProperty("alpha").GetDouble();
            double expected = r.GetProperty("rdp").GetDouble(), actual = RdpAccountant.Rdp(q, s, a);
            Assert.True(Math.Abs(actual - expected) <= 1e-9 + 1e-8 * Math.Abs(expected),
                $"q {q}, σ {s}, α {a}: RDP {actual}, reference {expected}");
        }
    }

    /// <summary>
    /// Published (q, σ, steps, δ) → ε, each within 1 %:
    /// TF Privacy's MNIST DP-SGD tutorial (compute_dp_sgd_privacy: N 60000, batch 256, noise 1.1, 60 epochs, δ 1e-5,
    /// "epsilon = 3.01", the classic conversion of its time; steps = ⌈60·60000/256⌉);
    /// Opacus' compute_dp_sgd_privacy docs (opacus.ai/api/compute_dp_sgd_privacy.html: the same N and batch, σ 1.12,
    /// 60 epochs, α ∈ {10, 20, 100}: "(2.95, 1e-5)"; Opacus 0.x's conversion; steps = int(60/q));
    /// Dong, Roth and Su 2020 (Harvard Data Science Review, Fig. 4: q = 256/60000, the moments accountant gives
    /// (1.34, 1e-5) at σ 1.3 after 20 epochs and (8.68, 1e-5) at σ 0.7 after 70 epochs).
    /// </summary>
    [Theory]
    [InlineData(1.1, 14063, null, 3.01)]
    [InlineData(1.12, 14062, new[] { 10.0, 20, 100 }, 2.95)]
    [InlineData(1.3, 4687, null, 1.34)]
    [InlineData(0.7, 16406, null, 8.68)]
    public void EpsilonMatchesPublishedFigures(double sigma, long steps, double[]? orders, double published)
    {
        var accountant = new RdpAccountant();
        accountant.Step(sigma, 256.0 / 60000, steps);
        double eps = accountant.GetEpsilon(1e-5, orders, RdpAccountant.Conversion.Classic);
        Assert.True(Math.Abs(eps - published) <= 0.01 * published, $"σ {sigma}, {steps} steps: ε {eps}, published {published}");
    }

    [Fact]
    public void TheOpacusConversionIsNeverLooserThanTheClassicOne()
    {
        var accountant = new RdpAccountant();
        accountant.Step(1.1, 256.0 / 60000, 14063);
        Assert.True(accountant.GetEpsilon(1e-5) < accountant.GetEpsilon(1e-5, conversion: RdpAccountant.Conversion.Classic));
    }

    [Fact]
    public void StepsComposeByAddition()
    {
        var once = new RdpAccountant();
        once.Step(1.0, 0.01, 300);
        var piecewise = new RdpAccountant();
        for (int i = 0; i < 3; i++) piecewise.Step(1.0, 0.01, 100);
        Assert.Single(piecewise.History);
        Assert.Equal(once.GetEpsilon(1e-5), piecewise.GetEpsilon(1e-5), 12);
        var mixed = new RdpAccountant();
        mixed.Step(1.0, 0.01, 100);
        mixed.Step(2.0, 0.01, 100);
        Assert.Equal(2, mixed.History.Count);
        Assert.True(mixed.GetEpsilon(1e-5) < once.GetEpsilon(1e-5));
    }

    [Theory]
    [InlineData(1.0, 256.0 / 60000, 14063)]
    [InlineData(3.0, 256.0 / 60000, 14063)]
    [InlineData(8.0, 256.0 / 60000, 14063)]
    [InlineData(2.0, 0.01, 500)]
    public void GetNoiseMultiplierReachesTheTargetWithinTheTolerance(double target, double q, long steps)
    {
        double sigma = RdpAccountant.GetNoiseMultiplier(target, 1e-5, q, steps);
        var accountant = new RdpAccountant();
        accountant.Step(sigma, q, steps);
        double eps = accountant.GetEpsilon(1e-5);
        Assert.InRange(eps, target - 0.01, target);
    }

    [Fact]
    public void EpsilonIsZeroBeforeAnyStepAndInfiniteWithoutNoise()
    {
        Assert.Equal(0, new RdpAccountant().GetEpsilon(1e-5));
        var a = new RdpAccountant();
        a.Step(0, 0.01);
        Assert.True(double.IsPositiveInfinity(a.GetEpsilon(1e-5)));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void ADeltaOutsideTheOpenUnitIntervalIsRefusedNamingIt(double delta)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new RdpAccountant().GetEpsilon(delta));
        Assert.Contains("δ", e.Message);
        Assert.Contains(delta.ToString(), e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    public void ANonPositiveEpsilonIsRefusedNamingIt(double eps)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.GetNoiseMultiplier(eps, 1e-5, 0.01, 100));
        Assert.Contains("ε", e.Message);
    }

    [Fact]
    public void ABudgetTooLowIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => RdpAccountant.GetNoiseMultiplier(1e-9, 1e-5, 1.0, 1_000_000));
        Assert.Contains("too low", e.Message);
    }

    [Fact]
    public void LogErfcIsContinuousAcrossItsTwoBranches()
    {
        double below = RdpAccountant.LogErfc(3 - 1e-9), above = RdpAccountant.LogErfc(3 + 1e-9);
        Assert.True(Math.Abs(below - above) < 1e-7, $"{below} vs {above}");
        Assert.Equal(Math.Log(2), RdpAccountant.LogErfc(-40), 12);
        Assert.Equal(Math.Log(1 - 0.8427007929497149), RdpAccountant.LogErfc(1), 12);
    }
}
