using Engine.Data;
using FsCheck;
using FsCheck.Xunit;

namespace Engine.Tests.Data;

public class DataTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public void Csv_reads_features_and_the_chosen_label_column()
    {
        var d = CsvLoader.Load(Fixture("iris-small.csv"), "species");
        Assert.Equal(4, d.Count);
        Assert.Equal(2, d.FeatureCount);
        Assert.Equal(new[] { 0, 1, 2, 0 }, d.Labels);
        Assert.Equal(new[] { 7.0f, 3.2f }, d.Features[2..4]);
        var r = CsvLoader.Load(Fixture("iris-small.csv"), "sepal_width", regression: true);
        Assert.Equal(new[] { 3.5f, 3.2f, 3.3f, 3.0f }, r.Targets);
    }

    [Theory]
    [InlineData("bad-value.csv", "y", "line 3, column 2 ('x2'): 'abc'")]
    [InlineData("bad-label.csv", "y", "line 3, column 2 ('y'): label '1.5'")]
    [InlineData("short-row.csv", "y", "line 3 has 2 values")]
    [InlineData("iris-small.csv", "nope", "no column named 'nope'")]
    public void Malformed_csv_names_the_line_and_column(string file, string label, string expected)
    {
        var e = Assert.Throws<FormatException>(() => CsvLoader.Load(Fixture(file), label));
        Assert.Contains(expected, e.Message);
        Assert.Contains(file, e.Message);
    }

    [Fact]
    public void Idx_reads_gzipped_images_and_plain_labels()
    {
        var d = IdxLoader.LoadMnist(Fixture("tiny-images-idx3-ubyte.gz"), Fixture("tiny-labels-idx1-ubyte"));
        Assert.Equal(3, d.Count);
        Assert.Equal(4, d.FeatureCount);
        Assert.Equal(new[] { 7, 0, 9 }, d.Labels);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (i * 37 % 256) / 255f).ToArray(), d.Features);
    }

    [Fact]
    public void Idx_round_trips_through_the_writer()
    {
        string dir = Directory.CreateTempSubdirectory().FullName;
        try
        {
            var pixels = Enumerable.Range(0, 2 * 28 * 28).Select(i => (i % 256) / 255f).ToArray();
            IdxLoader.WriteImages(Path.Combine(dir, "i-idx3-ubyte.gz"), pixels, 28, 28);
            IdxLoader.WriteLabels(Path.Combine(dir, "l-idx1-ubyte.gz"), new[] { 3, 4 });
            var d = IdxLoader.LoadMnist(Path.Combine(dir, "i-idx3-ubyte.gz"), Path.Combine(dir, "l-idx1-ubyte.gz"));
            Assert.Equal(pixels, d.Features);
            Assert.Equal(new[] { 3, 4 }, d.Labels);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("truncated-labels-idx1-ubyte", "truncated data: expected 5 bytes, found 2")]
    [InlineData("wrong-magic-idx1-ubyte", "magic number 0x00000803, expected 0x00000801")]
    [InlineData("missing-idx1-ubyte", "not found")]
    public void Malformed_idx_files_say_what_is_wrong(string file, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => IdxLoader.ReadLabels(Fixture(file)));
        Assert.Contains(expected, e.Message);
        Assert.Contains(file, e.Message);
    }

    [Property(MaxTest = 30)]
    public void The_loader_covers_every_sample_exactly_once_per_epoch(PositiveInt count, PositiveInt batch, bool shuffle,
        bool dropLast, int seed)
    {
        int n = 1 + count.Get % 50, b = 1 + batch.Get % 12;
        var d = Dataset.WithLabels(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), 1, Enumerable.Range(0, n).ToArray());
        var loader = new DataLoader(TestDevice.Instance, d, b, shuffle, dropLast, seed);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var seen = new List<int>();
            int batches = 0;
            foreach (var batchData in loader.NextEpoch())
            {
                using (batchData)
                {
                    Assert.Equal(batchData.Labels, batchData.Features.ToArray().Select(v => (int)v).ToArray());
                    Assert.True(batchData.Count == b || (!dropLast && batches == loader.BatchCount - 1));
                    seen.AddRange(batchData.Labels!);
                    batches++;
                }
            }
            Assert.Equal(loader.BatchCount, batches);
            int expected = dropLast ? n / b * b : n;
            Assert.Equal(expected, seen.Count);
            Assert.Equal(seen.Count, seen.Distinct().Count());
            if (!dropLast) Assert.Equal(Enumerable.Range(0, n), seen.OrderBy(v => v));
            if (!shuffle) Assert.Equal(Enumerable.Range(0, expected), seen);
        }
    }

    [Fact]
    public void Splits_are_seeded_disjoint_and_complete_and_standardisation_uses_the_training_set()
    {
        var d = Dataset.WithTargets(Enumerable.Range(0, 200).Select(i => (float)i).ToArray(), 2,
            Enumerable.Range(0, 100).Select(i => (float)i).ToArray());
        var parts = d.Split(7, 0.7, 0.2, 0.1);
        Assert.Equal(new[] { 70, 20, 10 }, parts.Select(p => p.Count));
        Assert.Equal(Enumerable.Range(0, 100), parts.SelectMany(p => p.Targets!).Select(v => (int)v).OrderBy(v => v));
        Assert.Equal(parts[0].Targets, d.Split(7, 0.7, 0.2, 0.1)[0].Targets);
        var scaler = Standardizer.Fit(parts[0]);
        var train = scaler.Transform(parts[0]);
        for (int j = 0; j < 2; j++)
        {
            var column = Enumerable.Range(0, train.Count).Select(r => (double)train.Features[r * 2 + j]).ToArray();
            Assert.Equal(0, column.Average(), 5);
            Assert.Equal(1, Math.Sqrt(column.Average(v => v * v)), 4);
        }
        Assert.Throws<ArgumentException>(() => d.Split(1, 0.5, 0.6));
    }
}

public class BundledMnistTests
{
    [Fact]
    public void The_bundled_subset_is_8000_training_and_2000_test_digits_of_every_class()
    {
        var train = BundledMnist.Load("train");
        var test = BundledMnist.Load("t10k");
        Assert.Equal((8000, 784), (train.Count, train.FeatureCount));
        Assert.Equal((2000, 784), (test.Count, test.FeatureCount));
        foreach (var set in new[] { train, test })
        {
            var perClass = set.Labels!.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(Enumerable.Range(0, 10), perClass.Keys.OrderBy(k => k));
            Assert.All(perClass.Values, c => Assert.InRange(c, set.Count / 20, set.Count / 5));
            Assert.All(set.Features, v => Assert.InRange(v, 0f, 1f));
            double ink = set.Features.Average(v => (double)v);
            Assert.InRange(ink, 0.09, 0.17); // real MNIST digits cover ~13% of the frame on average
        }
    }
}
