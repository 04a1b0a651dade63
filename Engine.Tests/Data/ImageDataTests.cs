using Engine.Data;
using Engine.Data.Transforms;

namespace Engine.Tests.Data;

/// <summary>
/// Image datasets ([C, H, W] samples), their batches [n, C, H, W], and the seeded per-sample transforms, each against
/// a plain reference: zero padding built as an explicit padded array, a mirror by index, normalisation by hand.
/// </summary>
public class ImageDataTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <summary><paramref name="count"/> rows of c·h·w distinct non-zero values (row r, element i holds r·1000 + i + 1).</summary>
    private static Dataset Images(int count, int c, int h, int w) =>
        Dataset.WithLabels(Enumerable.Range(0, count).SelectMany(r => Enumerable.Range(0, c * h * w).Select(i => r * 1000f + i + 1)).ToArray(),
            c * h * w, Enumerable.Range(0, count).Select(r => r % 10).ToArray()).WithSampleShape(c, h, w);

    private static float[] Row(Dataset d, int r) => d.Features[(r * d.FeatureCount)..((r + 1) * d.FeatureCount)];

    /// <summary>Every augmented sample of one epoch, by dataset row.</summary>
    private static Dictionary<int, float[]> Epoch(DataLoader loader)
    {
        var byRow = new Dictionary<int, float[]>();
        int per = loader.SampleShape.Aggregate(1, (p, s) => p * s);
        foreach (var batch in loader.NextEpoch())
            using (batch)
            {
                var x = batch.Features.ToArray();
                for (int r = 0; r < batch.Count; r++) byRow.Add(batch.Indices[r], x[(r * per)..((r + 1) * per)]);
            }
        return byRow;
    }

    /// <summary>The reference crop: build the zero-padded image explicitly, then copy the window at (top, left).</summary>
    private static float[] PadThenCrop(float[] image, int c, int h, int w, int padding, int size, int top, int left)
    {
        int ph = h + 2 * padding, pw = w + 2 * padding;
        var padded = new float[c * ph * pw];
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) padded[(k * ph + y + padding) * pw + x + padding] = image[(k * h + y) * w + x];
        var crop = new float[c * size * size];
        for (int k = 0; k < c; k++)
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++) crop[(k * size + y) * size + x] = padded[(k * ph + top + y) * pw + left + x];
        return crop;
    }

    private static float[] Mirror(float[] image, int w) =>
        image.Select((_, i) => image[i - i % w + (w - 1 - i % w)]).ToArray();

    private static float[] Run(Transform t, float[] sample, int[] shape, int seed = 0, int epoch = 0, int row = 0)
    {
        var output = new float[t.OutputShape(shape).Aggregate(1, (p, s) => p * s)];
        var random = new SampleRandom(seed, epoch, row);
        t.Apply(sample, shape, output, ref random);
        return output;
    }

    [Fact]
    public void Batches_are_n_by_the_sample_shape_and_flat_sets_stay_n_by_d()
    {
        var flat = Dataset.WithLabels(Enumerable.Range(0, 10 * 12).Select(i => (float)i).ToArray(), 12, new int[10]);
        Assert.Equal(new[] { 12 }, flat.SampleShape);
        var images = flat.WithSampleShape(3, 2, 2);
        Assert.Equal(new[] { 3, 2, 2 }, images.SampleShape);
        Assert.Same(flat.Features, images.Features); // a view, not a copy
        Assert.Same(flat.Labels, images.Labels);
        Assert.Equal((10, 12), (images.Count, images.FeatureCount));

        var flatBatches = new DataLoader(TestDevice.Instance, flat, 4, seed: 5).NextEpoch().ToList();
        var imageBatches = new DataLoader(TestDevice.Instance, images, 4, seed: 5).NextEpoch().ToList();
        Assert.Equal(new[] { new[] { 4, 12 }, new[] { 4, 12 }, new[] { 2, 12 } }, flatBatches.Select(b => b.Features.Shape));
        Assert.Equal(new[] { new[] { 4, 3, 2, 2 }, new[] { 4, 3, 2, 2 }, new[] { 2, 3, 2, 2 } }, imageBatches.Select(b => b.Features.Shape));
        for (int b = 0; b < 3; b++)
        {
            Assert.Equal(flatBatches[b].Indices, imageBatches[b].Indices);
            Assert.Equal(flatBatches[b].Features.ToArray(), imageBatches[b].Features.ToArray());
        }
        foreach (var b in flatBatches.Concat(imageBatches)) b.Dispose();
    }

    [Fact]
    public void Subset_split_and_standardisation_keep_the_sample_shape()
    {
        var images = Images(10, 2, 3, 1);
        Assert.Equal(new[] { 2, 3, 1 }, images.Subset(new[] { 4, 1 }).SampleShape);
        Assert.Equal(Row(images, 4), Row(images.Subset(new[] { 4, 1 }), 0));
        Assert.All(images.Split(3, 0.6, 0.4), part => Assert.Equal(new[] { 2, 3, 1 }, part.SampleShape));
        Assert.Equal(new[] { 2, 3, 1 }, Standardizer.Fit(images).Transform(images).SampleShape);
    }

    [Fact]
    public void Idx_images_load_as_one_channel_images()
    {
        var tiny = IdxLoader.LoadMnistImages(Fixture("tiny-images-idx3-ubyte.gz"), Fixture("tiny-labels-idx1-ubyte"));
        var flat = IdxLoader.LoadMnist(Fixture("tiny-images-idx3-ubyte.gz"), Fixture("tiny-labels-idx1-ubyte"));
        Assert.Equal(new[] { 1, 2, 2 }, tiny.SampleShape);
        Assert.Equal(new[] { 4 }, flat.SampleShape); // LoadMnist is unchanged
        Assert.Equal(flat.Features, tiny.Features);
        Assert.Equal(new[] { 7, 0, 9 }, tiny.Labels);

        var mnist = BundledMnist.LoadImages("t10k");
        Assert.Equal(new[] { 1, 28, 28 }, mnist.SampleShape);
        Assert.Equal((2000, 784), (mnist.Count, mnist.FeatureCount));
        var loader = new DataLoader(TestDevice.Instance, mnist, 64, shuffle: false);
        using var first = loader.NextEpoch().First();
        Assert.Equal(new[] { 64, 1, 28, 28 }, first.Features.Shape);
        Assert.Equal(mnist.Features[..(64 * 784)], first.Features.ToArray());
    }

    [Theory]
    [InlineData(new[] { 5 }, "sample shape [5] holds 5 values but each row has 4 features")]
    [InlineData(new[] { 1, 3, 3 }, "sample shape [1, 3, 3] holds 9 values but each row has 4 features")]
    [InlineData(new[] { 2, 0, 2 }, "sample shape [2, 0, 2] has a dimension below 1")]
    [InlineData(new int[0], "at least one dimension")]
    public void A_sample_shape_that_does_not_fit_the_rows_says_so(int[] shape, string expected)
    {
        var d = Dataset.WithLabels(new float[8], 4, new[] { 0, 1 });
        var e = Assert.Throws<ArgumentException>(() => d.WithSampleShape(shape));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Normalize_subtracts_the_channel_mean_and_divides_by_the_channel_std()
    {
        // Two channels of 2×2; by hand: (x − 0.5)/0.5 on channel 0, (x − 0.25)/2 on channel 1.
        float[] image = { 0f, 0.5f, 1f, 1.5f, 0.25f, 2.25f, -1.75f, 4.25f };
        float[] expected = { -1f, 0f, 1f, 2f, 0f, 1f, -1f, 2f };
        var normalize = new Normalize(new[] { 0.5f, 0.25f }, new[] { 0.5f, 2f });
        Assert.Equal(expected, Run(normalize, image, new[] { 2, 2, 2 }));

        var d = Dataset.WithLabels(image.Concat(image.Select(v => v + 1f)).ToArray(), 8, new[] { 0, 1 }).WithSampleShape(2, 2, 2);
        using var batch = new DataLoader(TestDevice.Instance, d, 2, shuffle: false, transform: normalize).NextEpoch().Single();
        Assert.Equal(new[] { 2, 2, 2, 2 }, batch.Features.Shape);
        var x = batch.Features.ToArray();
        Assert.Equal(expected, x[..8]);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 0.5f, 1.5f, -0.5f, 2.5f }, x[8..]); // the second row is the first + 1

        // One mean and std serve every channel.
        Assert.Equal(image.Select(v => (v - 0.25f) / 0.5f), Run(new Normalize(new[] { 0.25f }, new[] { 0.5f }), image, new[] { 2, 2, 2 }));
    }

    [Fact]
    public void RandomCrop_is_the_zero_padded_image_shifted_by_uniform_offsets()
    {
        const int c = 2, h = 5, w = 4, padding = 2, size = 4; // padded 9×8: top in [0, 5], left in [0, 4]
        var image = Enumerable.Range(1, c * h * w).Select(v => (float)v).ToArray();
        var crop = new RandomCrop(size, padding);
        Assert.Equal(new[] { c, size, size }, crop.OutputShape(new[] { c, h, w }));
        var seen = new HashSet<(int, int)>();
        for (int row = 0; row < 600; row++)
        {
            var output = Run(crop, image, new[] { c, h, w }, seed: 11, row: row);
            // Distinct non-zero pixels and a window that always overlaps the image: exactly one offset explains it.
            var offsets = (from top in Enumerable.Range(0, h + 2 * padding - size + 1)
                           from left in Enumerable.Range(0, w + 2 * padding - size + 1)
                           where PadThenCrop(image, c, h, w, padding, size, top, left).SequenceEqual(output)
                           select (top, left)).ToList();
            Assert.Single(offsets);
            seen.Add(offsets[0]);
        }
        Assert.Equal(6 * 5, seen.Count); // every offset is drawn

        // A window the size of the padded image has one place: the padded image itself; no padding and full size is the identity.
        var square = Enumerable.Range(1, 9).Select(v => (float)v).ToArray();
        Assert.Equal(PadThenCrop(square, 1, 3, 3, 1, 5, 0, 0), Run(new RandomCrop(5, padding: 1), square, new[] { 1, 3, 3 }, seed: 4));
        Assert.Equal(square, Run(new RandomCrop(3), square, new[] { 1, 3, 3 }, seed: 4));
    }

    [Fact]
    public void A_smaller_crop_changes_the_batch_shape()
    {
        var loader = new DataLoader(TestDevice.Instance, Images(5, 1, 5, 5), 2, transform: new RandomCrop(3));
        Assert.Equal(new[] { 1, 3, 3 }, loader.SampleShape);
        Assert.Equal(new[] { new[] { 2, 1, 3, 3 }, new[] { 2, 1, 3, 3 }, new[] { 1, 1, 3, 3 } },
            loader.NextEpoch().Select(b => { using (b) return b.Features.Shape; }));
    }

    [Fact]
    public void RandomHorizontalFlip_mirrors_each_row_with_probability_p()
    {
        int[] shape = { 2, 3, 4 };
        var image = Enumerable.Range(1, 24).Select(v => (float)v).ToArray();
        var mirrored = Mirror(image, 4);
        Assert.Equal(new float[] { 4, 3, 2, 1 }, mirrored[..4]);
        Assert.Equal(new float[] { 24, 23, 22, 21 }, mirrored[20..]);
        for (int row = 0; row < 20; row++)
        {
            Assert.Equal(mirrored, Run(new RandomHorizontalFlip(1), image, shape, row: row));
            Assert.Equal(image, Run(new RandomHorizontalFlip(0), image, shape, row: row));
        }
        int flips = 0;
        for (int row = 0; row < 400; row++)
        {
            var output = Run(new RandomHorizontalFlip(), image, shape, seed: 2, row: row);
            if (output.SequenceEqual(mirrored)) flips++;
            else Assert.Equal(image, output);
        }
        Assert.InRange(flips, 160, 240); // p = 0.5: 200 ± 4σ (σ = 10)
    }

    [Fact]
    public void Augmented_batches_repeat_with_the_seed_and_epoch_and_change_across_epochs()
    {
        var d = Images(20, 1, 6, 6);
        Transform Augment() => new Compose(new RandomCrop(6, padding: 2), new RandomHorizontalFlip());
        DataLoader Loader(int seed) => new(TestDevice.Instance, d, 8, seed: seed, transform: Augment());

        var a = Loader(3);
        var (a0, a1) = (Epoch(a), Epoch(a));
        var b = Loader(3);
        var (b0, b1) = (Epoch(b), Epoch(b));
        var resumed = Loader(3);
        resumed.Epoch = 1;
        var r1 = Epoch(resumed);
        for (int row = 0; row < d.Count; row++)
        {
            Assert.Equal(a0[row], b0[row]);
            Assert.Equal(a1[row], b1[row]);
            Assert.Equal(a1[row], r1[row]);
        }
        // With 25 offsets and 2 flips per sample, a repeat has probability 1/50: most rows must change.
        Assert.True(Enumerable.Range(0, d.Count).Count(row => !a0[row].SequenceEqual(a1[row])) >= 15);
        var other = Epoch(Loader(4));
        Assert.True(Enumerable.Range(0, d.Count).Count(row => !a0[row].SequenceEqual(other[row])) >= 15);
    }

    [Fact]
    public void A_samples_augmentation_depends_on_seed_epoch_and_row_only()
    {
        var d = Images(13, 2, 4, 4);
        var augment = new Compose(new RandomCrop(4, padding: 1), new RandomHorizontalFlip(), new Normalize(new[] { 3f, 5f }, new[] { 2f, 4f }));
        var shuffled = Epoch(new DataLoader(TestDevice.Instance, d, 5, shuffle: true, seed: 9, transform: augment));
        var inOrder = Epoch(new DataLoader(TestDevice.Instance, d, 13, shuffle: false, seed: 9, transform: augment));
        var sharded = new Dictionary<int, float[]>();
        for (int rank = 0; rank < 3; rank++)
            foreach (var (row, sample) in Epoch(new DataLoader(TestDevice.Instance, d, 5, seed: 9, transform: augment) { Shard = (rank, 3) }))
                sharded.Add(row, sample);
        for (int row = 0; row < d.Count; row++)
        {
            var reference = Run(augment, Row(d, row), new[] { 2, 4, 4 }, seed: 9, epoch: 0, row: row); // one thread, one sample
            Assert.Equal(reference, shuffled[row]);
            Assert.Equal(reference, inOrder[row]);
            Assert.Equal(reference, sharded[row]);
        }
    }

    [Fact]
    public void An_empty_shard_of_an_image_batch_holds_one_placeholder_image()
    {
        // 5 rows in batches of 4 over 4 ranks: the last batch has one row, so rank 0's share of it is empty.
        var loader = new DataLoader(TestDevice.Instance, Images(5, 1, 2, 3), 4, shuffle: false) { Shard = (0, 4) };
        var batches = loader.NextEpoch().ToList();
        Assert.Equal((1, 0), (batches[0].Count, batches[1].Count));
        Assert.Equal(new[] { 1, 1, 2, 3 }, batches[1].Features.Shape);
        foreach (var b in batches) b.Dispose();
    }

    [Fact]
    public void A_transform_on_flat_samples_says_it_needs_images()
    {
        var flat = Dataset.WithLabels(new float[24], 12, new[] { 0, 1 });
        foreach (Transform t in new Transform[] { new RandomCrop(2), new RandomHorizontalFlip(), new Normalize(new[] { 0f }, new[] { 1f }),
                     new Compose(new RandomHorizontalFlip()) })
        {
            var e = Assert.Throws<ArgumentException>(() => new DataLoader(TestDevice.Instance, flat, 2, transform: t));
            Assert.Contains("works on image samples [C, H, W], but the samples have shape [12]", e.Message);
            Assert.Contains("WithSampleShape(C, H, W)", e.Message);
        }
    }

    [Fact]
    public void Transforms_that_do_not_fit_the_images_or_bad_arguments_say_why()
    {
        var rgb = Dataset.WithLabels(new float[2 * 3 * 4 * 4], 48, new[] { 0, 1 }).WithSampleShape(3, 4, 4);
        string Message(Action a) => Assert.ThrowsAny<ArgumentException>(a).Message;

        Assert.Contains("2 means and stds for images of 3 channel(s)",
            Message(() => new DataLoader(TestDevice.Instance, rgb, 2, transform: new Normalize(new[] { 0f, 0f }, new[] { 1f, 1f }))));
        Assert.Contains("a 7×7 crop does not fit in a 4×4 image padded by 1 (6×6)",
            Message(() => new DataLoader(TestDevice.Instance, rgb, 2, transform: new Compose(new RandomHorizontalFlip(), new RandomCrop(7, 1)))));
        Assert.Contains("std[1] is 0", Message(() => new Normalize(new[] { 0f, 0f }, new[] { 1f, 0f })));
        Assert.Contains("2 means and 1 stds", Message(() => new Normalize(new[] { 0f, 0f }, new[] { 1f })));
        Assert.Contains("size must be ≥ 1", Message(() => new RandomCrop(0)));
        Assert.Contains("padding must be ≥ 0", Message(() => new RandomCrop(4, -1)));
        Assert.Contains("p must be in [0, 1], got 1.5", Message(() => new RandomHorizontalFlip(1.5)));
        Assert.Contains("got 47", Message(() => Run(new RandomHorizontalFlip(), new float[47], new[] { 3, 4, 4 })));
    }
}
