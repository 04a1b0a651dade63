using Examples.Serving;

namespace Engine.Tests.Serving;

/// <summary>The serve command's append-only learn log: group commit, replay, torn tails, rotation.</summary>
public sealed class LearnLogTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-log-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static ParsedSamples Samples(int count, int seed, bool labels = true)
    {
        var rng = new Random(seed);
        var features = Enumerable.Range(0, count * 3).Select(_ => (float)rng.NextDouble()).ToArray();
        return labels
            ? new ParsedSamples(count, features, Enumerable.Range(0, count).Select(_ => rng.Next(10)).ToArray(), null)
            : new ParsedSamples(count, features, null, Enumerable.Range(0, count * 2).Select(_ => (float)rng.NextDouble()).ToArray());
    }

    private static void SameSamples(ParsedSamples expected, ParsedSamples actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Features, actual.Features);
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.Equal(expected.Targets, actual.Targets);
    }

    [Fact]
    public void Records_come_back_in_order_numbered_by_sample_and_each_group_is_one_fsync()
    {
        var written = new[] { Samples(2, 1), Samples(1, 2), Samples(3, 3, labels: false) };
        using (var log = LearnLog.Open(folder))
        {
            Assert.Empty(log.Replay(0).ToList());
            var records = log.Append(written.Take(2).Select(s => (s, 3)).ToList());
            log.Append(new[] { (written[2], 3) });
            Assert.Equal(new long[] { 0, 2 }, records.Select(r => r.FirstSample));
            Assert.Equal(2, log.Syncs);
            Assert.Equal(6, log.NextSample);
        }
        using var again = LearnLog.Open(folder);
        var read = again.Replay(0).ToList();
        Assert.Equal(new long[] { 0, 2, 3 }, read.Select(r => r.FirstSample));
        for (int i = 0; i < 3; i++) SameSamples(written[i], read[i].Samples);
        Assert.Equal(new long[] { 3 }, again.Replay(3).Select(r => r.FirstSample)); // what a checkpoint at 3 lacks
        Assert.Equal(6, again.NextSample);
    }

    [Theory]
    [InlineData(1)]   // a few bytes of the header
    [InlineData(20)]  // header and part of the payload
    [InlineData(-1)]  // all but the last byte
    public void A_torn_last_record_is_dropped_and_cut_off_and_appends_continue_after_the_good_ones(int keep)
    {
        using (var log = LearnLog.Open(folder))
        {
            log.Replay(0).ToList();
            log.Append(new[] { (Samples(2, 1), 3), (Samples(1, 2), 3) });
        }
        string segment = Directory.GetFiles(folder).Single();
        long good = new FileInfo(segment).Length;
        using (var log = LearnLog.Open(folder))
        {
            log.Replay(0).ToList();
            log.Append(new[] { (Samples(4, 3), 3) });
        }
        long full = new FileInfo(segment).Length;
        using (var f = new FileStream(segment, FileMode.Open)) f.SetLength(keep > 0 ? good + keep : full - 1);
        using (var log = LearnLog.Open(folder))
        {
            var read = log.Replay(0).ToList();
            Assert.Equal(2, read.Count);
            Assert.Equal(1, log.TornRecordsDropped);
            Assert.Equal(good, new FileInfo(segment).Length);
            Assert.Equal(3, log.NextSample);
            log.Append(new[] { (Samples(1, 4), 3) });
        }
        using var final = LearnLog.Open(folder);
        Assert.Equal(new long[] { 0, 2, 3 }, final.Replay(0).Select(r => r.FirstSample));
    }

    [Fact]
    public void A_flipped_bit_before_the_tail_is_an_error_not_a_silent_truncation()
    {
        using (var log = LearnLog.Open(folder))
        {
            log.Replay(0).ToList();
            log.Append(new[] { (Samples(2, 1), 3) });
            log.Rotate(2);
            log.Append(new[] { (Samples(1, 2), 3) });
        }
        Assert.Single(Directory.GetFiles(folder)); // rotation deleted the segment the checkpoint replaces
        using (var log = LearnLog.Open(folder))
        {
            log.Replay(2).ToList();
            log.Rotate(3);
            log.Append(new[] { (Samples(1, 3), 3) });
        }
        // Put a second, older segment back with a corrupt record: replay must refuse it rather than drop data.
        var first = Directory.GetFiles(folder).Order().First();
        var bytes = File.ReadAllBytes(first);
        File.WriteAllBytes(Path.Combine(folder, "learn-000000000000.log"), bytes);
        var broken = (byte[])bytes.Clone();
        broken[^1] ^= 1;
        File.WriteAllBytes(Path.Combine(folder, "learn-000000000001.log"), broken);
        using var reopened = LearnLog.Open(folder);
        Assert.Throws<InvalidDataException>(() => reopened.Replay(0).ToList());
    }
}
