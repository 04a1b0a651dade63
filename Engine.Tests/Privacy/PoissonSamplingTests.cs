using Engine.Data;

namespace Engine.Tests.Privacy;

/// <summary>DataLoader.PoissonSampling: each row independently with probability q = batch/N per batch.</summary>
public sealed class PoissonSamplingTests
{
    private static Device Dev => TestDevice.Instance;

    private static Dataset Rows(int n) => Dataset.WithLabels(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), 1, new int[n]);

    /// <summary>
    /// N = 1000, q = 0.05, 2000 batches: the batch size's mean (50) and variance (Nq(1 − q) = 47.5) and every row's
    /// inclusion rate (0.05) are as the binomial says, each within about 5 standard errors.
    /// </summary>
    [Fact]
    public void BatchSizesAndInclusionRatesAreBinomial()
    {
        var loader = new DataLoader(Dev, Rows(1000), 50, seed: 3) { PoissonSampling = true };
        Assert.Equal(0.05, loader.SampleRate);
        Assert.Equal(20, loader.BatchCount);
        var sizes = new List<int>();
        var hits = new int[1000];
        for (int epoch = 0; epoch < 100; epoch++)
            for (int b = 0; b < loader.BatchCount; b++)
            {
                var rows = loader.PoissonRows(epoch, b);
                sizes.Add(rows.Length);
                Assert.True(rows.SequenceEqual(rows.Distinct().Order()), "rows are distinct, in dataset order");
                foreach (var r in rows) hits[r]++;
            }
        double mean = sizes.Average(), variance = sizes.Average(s => (s - mean) * (s - mean));
        Assert.InRange(mean, 50 - 5 * Math.Sqrt(47.5 / 2000), 50 + 5 * Math.Sqrt(47.5 / 2000));
        Assert.InRange(variance, 47.5 * 0.85, 47.5 * 1.15);
        // Each row's count over 2000 batches ~ Binomial(2000, 0.05): mean 100, sd 9.7.
        Assert.InRange(hits.Average(), 99, 101);
        Assert.InRange(hits.Min(), 100 - 5 * 9.75, 100);
        Assert.InRange(hits.Max(), 100, 100 + 5 * 9.75);
    }

    [Fact]
    public void EmptyBatchesComeAsBatchesOfCountZeroAndTheSeedRepeatsTheDraws()
    {
        var loader = new DataLoader(Dev, Rows(10), 1, seed: 7) { PoissonSampling = true };
        var counts = new List<int>();
        for (int epoch = 0; epoch < 10; epoch++)
            foreach (var batch in loader.NextEpoch())
                using (batch) counts.Add(batch.Count);
        Assert.Equal(100, counts.Count);
        Assert.Contains(0, counts); // P(empty) = 0.9¹⁰ ≈ 0.35 per batch
        Assert.InRange(counts.Average(), 0.6, 1.4);
        var again = new DataLoader(Dev, Rows(10), 1, seed: 7) { PoissonSampling = true };
        Assert.Equal(loader.PoissonRows(3, 4), again.PoissonRows(3, 4));
        Assert.NotEqual(Enumerable.Range(0, 10).Select(b => loader.PoissonRows(3, b).Length),
            Enumerable.Range(0, 10).Select(b => loader.PoissonRows(4, b).Length));
    }
}
