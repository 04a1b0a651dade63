using Engine.Data;
using Engine.Distributed;
using Engine.Nn;
using Engine.Optim;
using Engine.Privacy;
using Engine.Training;

namespace Engine.Tests.Privacy;

/// <summary>DP-FedAvg (FederatedOptions.Privacy) with one in-process client: clipping, participation, accounting.</summary>
public sealed class FederatedPrivacyTests
{
    private static Device Dev => TestDevice.Instance;

    private static Dataset Data()
    {
        var rng = new Random(3);
        var x = Enumerable.Range(0, 90 * 4).Select(_ => (float)rng.NextDouble()).ToArray();
        return Dataset.WithLabels(x, 4, Enumerable.Range(0, 90).Select(i => x[4 * i] > x[4 * i + 1] ? 1 : 0).ToArray());
    }

    private static Sequential Mlp() => new(new Linear(Dev, 4, 8, seed: 1), new Relu(), new Linear(Dev, 8, 2, seed: 2));

    private static (float[] Parameters, List<float[]> PerRound, IReadOnlyList<FederatedRound> Rounds) Train(FederatedPrivacy? privacy, int rounds = 3)
    {
        using var model = Mlp();
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var perRound = new List<float[]> { model.Parameters().SelectMany(p => p.ToArray()).ToArray() };
        var records = FederatedAveraging.Run(new SingleProcessCommunicator(), model, sgd, Trainer.CrossEntropy, Data(),
            new FederatedOptions { Rounds = rounds, LocalEpochs = 2, BatchSize = 16, Seed = 5, Privacy = privacy },
            onRound: _ => perRound.Add(model.Parameters().SelectMany(p => p.ToArray()).ToArray()));
        return (perRound[^1], perRound, records);
    }

    [Fact]
    public void WithNegligibleNoiseAndNoClippingItIsFedAvg()
    {
        var plain = Train(null).Parameters;
        var priv = Train(new FederatedPrivacy(1e-9, 1e3, ClientsPerRound: 1)).Parameters;
        for (int i = 0; i < plain.Length; i++) Assert.True(Math.Abs(plain[i] - priv[i]) <= 1e-5, $"parameter {i}: {priv[i]} vs {plain[i]}");
    }

    [Fact]
    public void EachRoundMovesTheGlobalModelByAtMostTheClippingNormAndAccountsEpsilon()
    {
        var (_, perRound, records) = Train(new FederatedPrivacy(1e-9, 0.05, ClientsPerRound: 1), rounds: 4);
        for (int r = 1; r < perRound.Count; r++)
        {
            double step = Math.Sqrt(perRound[r].Zip(perRound[r - 1], (a, b) => (double)(a - b) * (a - b)).Sum());
            Assert.InRange(step, 0.0499, 0.05 * (1 + 1e-4)); // the local updates here are larger than C
        }
        Assert.All(records, r => Assert.Equal(1, r.Participants));
        var accountant = new RdpAccountant();
        accountant.Step(1e-9, 1.0, 4);
        Assert.Equal(accountant.GetEpsilon(FederatedAveraging.Delta), records[^1].Epsilon);
        Assert.True(new FederatedPrivacy(1.0, 1.0, 10).GetEpsilon(100, 1000, 1e-5) < new FederatedPrivacy(1.0, 1.0, 10).GetEpsilon(200, 1000, 1e-5));
    }

    [Fact]
    public void AClientLeftOutOfARoundLeavesTheModelToTheNoise()
    {
        var (_, perRound, records) = Train(new FederatedPrivacy(1e-9, 1.0, ClientsPerRound: 0.5, Seed: 2), rounds: 8);
        Assert.Contains(records, r => r.Participants == 0);
        Assert.Contains(records, r => r.Participants == 1);
        for (int r = 0; r < records.Count; r++)
        {
            double step = Math.Sqrt(perRound[r + 1].Zip(perRound[r], (a, b) => (double)(a - b) * (a - b)).Sum());
            if (records[r].Participants == 0) Assert.True(step < 1e-6, $"round {r + 1} had no client but moved {step}");
            else Assert.True(step > 1e-3);
        }
    }

    [Fact]
    public void BadSettingsAndModelsWithBuffersAreRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Train(new FederatedPrivacy(1.0, 1.0, ClientsPerRound: 2)));
        Assert.Contains("ClientsPerRound", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Train(new FederatedPrivacy(0, 1.0, ClientsPerRound: 1)));
        using var model = new Sequential(new Linear(Dev, 4, 8, seed: 1), new BatchNorm1d(Dev, 8), new Linear(Dev, 8, 2, seed: 2));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var b = Assert.Throws<NotSupportedException>(() => FederatedAveraging.Run(new SingleProcessCommunicator(), model, sgd,
            Trainer.CrossEntropy, Data(), new FederatedOptions { Privacy = new FederatedPrivacy(1.0, 1.0, 1) }));
        Assert.Contains("running_mean", b.Message);
    }
}
