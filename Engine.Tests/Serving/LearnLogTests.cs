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
        Assert.Throws<CorruptLearnLogException>(() => reopened.Replay(0).ToList());
    }

    /// <summary>Sixty one-request groups (record r holds 1 + r % 3 samples), reopened; returns each record's byte offset.</summary>
    private long[] WriteSixtyRecords()
    {
        var offsets = new long[60];
        using var log = LearnLog.Open(folder);
        log.Replay(0);
        string segment = Directory.GetFiles(folder).Single();
        for (int r = 0; r < 60; r++)
        {
            offsets[r] = new FileInfo(segment).Length;
            log.Append(new[] { (Samples(1 + r % 3, r), 3) });
        }
        return offsets;
    }

    [Theory]
    [InlineData(0)]  // the record marker
    [InlineData(5)]  // the length field
    [InlineData(9)]  // the CRC
    [InlineData(40)] // the payload
    public void A_flipped_bit_in_record_31_of_60_refuses_with_one_line_naming_the_file_record_and_offset_and_changes_nothing(int at)
    {
        var offsets = WriteSixtyRecords();
        string segment = Directory.GetFiles(folder).Single();
        var bytes = File.ReadAllBytes(segment);
        bytes[offsets[30] + at] ^= 0x10;
        File.WriteAllBytes(segment, bytes);

        using var log = LearnLog.Open(folder);
        var e = Assert.Throws<CorruptLearnLogException>(() => log.Replay(0));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(segment, e.Message);
        Assert.Contains($"record 31 at byte {offsets[30]} is corrupt", e.Message);
        Assert.Contains("29 complete record(s) follow it", e.Message);
        Assert.Contains("--salvage", e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(segment)); // nothing cut, nothing moved
        Assert.Single(Directory.GetFiles(folder));
        Assert.Equal(0, log.TornRecordsDropped);
    }

    [Fact]
    public void Salvage_keeps_the_records_that_verify_moves_the_bad_bytes_aside_and_says_what_was_lost()
    {
        var offsets = WriteSixtyRecords();
        string segment = Directory.GetFiles(folder).Single();
        var original = File.ReadAllBytes(segment);
        var bytes = (byte[])original.Clone();
        bytes[offsets[30] + 40] ^= 0x01;
        File.WriteAllBytes(segment, bytes);
        long total = Enumerable.Range(0, 60).Sum(r => 1 + r % 3), lost = 1 + 30 % 3, firstLost = Enumerable.Range(0, 30).Sum(r => 1 + r % 3);

        using (var log = LearnLog.Open(folder))
        {
            var kept = log.Replay(0, salvage: true);
            Assert.Equal(59, kept.Count);
            Assert.DoesNotContain(kept, r => r.FirstSample == firstLost);
            Assert.Equal(total, log.NextSample);
            Assert.Equal(lost, log.LostSamples);
            Assert.Contains(log.SalvageReport, l => l.Contains($"samples {firstLost}–{firstLost + lost - 1} are lost"));
            Assert.Contains(log.SalvageReport, l => l.Contains("kept 59 record(s)") && l.Contains($"record 31 at byte {offsets[30]}: CRC-32C mismatch"));
            string aside = Directory.GetFiles(folder, "learn-*.log.corrupt-*").Single();
            Assert.Equal(bytes.AsSpan((int)offsets[30], (int)(offsets[31] - offsets[30])).ToArray(), File.ReadAllBytes(aside));
            var expected = original.Take((int)offsets[30]).Concat(original.Skip((int)offsets[31])).ToArray();
            Assert.Equal(expected, File.ReadAllBytes(segment));
            log.Append(new[] { (Samples(1, 99), 3) });
        }
        using (var again = LearnLog.Open(folder))
        {
            // The gap stays until a checkpoint covers it: a plain replay refuses it, as any gap...
            Assert.Contains("a gap in the log", Assert.Throws<CorruptLearnLogException>(() => again.Replay(0)).Message);
            // ...and one from the checkpoint the service saves right after a salvage reads without complaint.
            var read = again.Replay(total);
            Assert.Equal(total, Assert.Single(read).FirstSample);
            Assert.Empty(again.SalvageReport);
        }
    }

    /// <summary>A segment file whose writes, fsyncs or truncations fail on demand, as on a full disk.</summary>
    private sealed class FailingSegmentFile(string path) : ILogSegmentFile
    {
        private readonly DiskLogSegmentFile disk = new(path);
        public bool FailWrite, FailFlush;
        public int FailTruncates;

        public long Length => disk.Length;

        public void Write(ReadOnlySpan<byte> bytes)
        {
            if (!FailWrite)
            {
                disk.Write(bytes);
                return;
            }
            disk.Write(bytes[..(bytes.Length / 2)]); // ENOSPC part-way: some bytes reached the file
            throw new IOException("No space left on device");
        }

        public void FlushToDisk()
        {
            if (FailFlush) throw new IOException("No space left on device");
            disk.FlushToDisk();
        }

        public void Truncate(long length)
        {
            if (FailTruncates > 0 && FailTruncates-- > 0) throw new IOException("Input/output error");
            disk.Truncate(length);
        }

        public void Dispose() => disk.Dispose();
    }

    [Theory]
    [InlineData(true, false, 0)] // the write fails part-way
    [InlineData(false, true, 0)] // the write lands, the fsync fails
    [InlineData(true, false, 1)] // and even cutting the file back fails once: the next append cuts it first
    public void A_failed_append_leaves_no_bytes_and_the_next_learns_continue_the_numbering_after_a_restart_too(
        bool failWrite, bool failFlush, int failTruncates)
    {
        FailingSegmentFile? file = null;
        using (var log = LearnLog.Open(folder, path => file = new FailingSegmentFile(path)))
        {
            log.Replay(0);
            log.Append(new[] { (Samples(2, 1), 3) });
            string segment = Directory.GetFiles(folder).Single();
            var good = File.ReadAllBytes(segment);
            (file!.FailWrite, file.FailFlush, file.FailTruncates) = (failWrite, failFlush, failTruncates);
            Assert.Throws<IOException>(() => log.Append(new[] { (Samples(3, 2), 3), (Samples(1, 3), 3) }));
            if (failTruncates == 0) Assert.Equal(good, File.ReadAllBytes(segment));
            Assert.Equal(2, log.NextSample);
            Assert.Equal(1, log.Syncs);
            (file.FailWrite, file.FailFlush) = (false, false);
            var next = log.Append(new[] { (Samples(1, 4), 3), (Samples(2, 5), 3) });
            Assert.Equal(new long[] { 2, 3 }, next.Select(r => r.FirstSample));
            Assert.Equal(good, File.ReadAllBytes(segment).Take(good.Length).ToArray());
        }
        using var restarted = LearnLog.Open(folder);
        var read = restarted.Replay(0);
        Assert.Equal(new long[] { 0, 2, 3 }, read.Select(r => r.FirstSample));
        Assert.Equal(0, restarted.TornRecordsDropped);
        Assert.Equal(5, restarted.NextSample);
    }
}
