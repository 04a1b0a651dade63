using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Examples.Serving;

/// <summary>One accepted learn request as logged: its samples' stream positions start at <see cref="FirstSample"/>.</summary>
public sealed record LearnRecord(long FirstSample, ParsedSamples Samples, int FeatureCount);

/// <summary>
/// The append-only log of accepted learn requests, in segments <c>learn-{first sample:D12}.log</c> under one folder.
/// A record is <c>[magic u32][payload length u32][CRC-32C u32][payload]</c>, the payload
/// <c>[first sample i64][count i32][features i32][answers i32: 0 labels, else targets per sample][features f32…][labels i32… | targets f32…]</c>,
/// little-endian. <see cref="Append"/> writes a group of records and fsyncs once (group commit), so a reply sent after
/// it returns is for a learn that survives a crash; an append that fails leaves no bytes behind. Reading cuts off a torn
/// last record (a crash mid-write: never acknowledged) and refuses anything else that does not verify (see
/// <see cref="Replay"/>).
/// </summary>
public sealed class LearnLog : IDisposable
{
    private const uint Magic = 0x314E524C; // "LRN1"
    private static readonly byte[] MagicBytes = BitConverter.GetBytes(Magic);
    private const int HeaderBytes = 12, PayloadFixedBytes = 20;
    private readonly string folder;
    private readonly Func<string, ILogSegmentFile> openSegment;
    private ILogSegmentFile? current;

    /// <summary>Bytes of <see cref="current"/> that hold whole, fsynced records: where a failed append is rolled back to.</summary>
    private long durableLength;

    /// <summary>A failed append may have left bytes after <see cref="durableLength"/> that could not be cut yet.</summary>
    private bool rollbackPending;

    private LearnLog(string folder, Func<string, ILogSegmentFile> openSegment) => (this.folder, this.openSegment) = (folder, openSegment);

    /// <summary>Opens (creating) the log in <paramref name="folder"/>; call <see cref="Replay"/> before appending.</summary>
    /// <param name="openSegment">opens a segment file for appending; default <see cref="DiskLogSegmentFile"/> (tests inject failures).</param>
    public static LearnLog Open(string folder, Func<string, ILogSegmentFile>? openSegment = null)
    {
        Directory.CreateDirectory(folder);
        return new LearnLog(folder, openSegment ?? (path => new DiskLogSegmentFile(path)));
    }

    /// <summary>The stream position the next appended record starts at.</summary>
    public long NextSample { get; private set; }

    /// <summary>fsyncs made since opening (one per group of learns; /metrics reports it).</summary>
    public long Syncs { get; private set; }

    /// <summary>Records dropped as torn while replaying (0 or 1: only the very last one can be).</summary>
    public int TornRecordsDropped { get; private set; }

    /// <summary>What <see cref="Replay"/> with salvage did: one line per segment rewritten or gap accepted (empty: nothing).</summary>
    public IReadOnlyList<string> SalvageReport => SalvageLines;

    private List<string> SalvageLines { get; } = new();

    /// <summary>Acknowledged samples that a salvage could not keep (gaps left by the records it moved aside).</summary>
    public long LostSamples { get; private set; }

    private IEnumerable<(long First, string Path)> Segments() =>
        Directory.EnumerateFiles(folder, "learn-*.log")
            .Select(p => (First: long.Parse(Path.GetFileNameWithoutExtension(p)["learn-".Length..], CultureInfo.InvariantCulture), Path: p))
            .OrderBy(s => s.First);

    /// <summary>
    /// Every record whose samples start at or after <paramref name="fromSample"/> (what a checkpoint at that position
    /// does not hold), in order; then the log is ready to append after the last one. The whole log is checked before
    /// anything is returned. A torn last record (bytes that do not verify at the very end of the last segment, with no
    /// complete record after them: an append cut short by a crash, never acknowledged) is dropped and cut off. Anything
    /// else that does not verify, a gap in the sample numbers or a missing segment throws
    /// <see cref="CorruptLearnLogException"/> and changes nothing, unless <paramref name="salvage"/>: then the records that
    /// verify are kept, the bytes that do not are moved to <c>&lt;segment&gt;.corrupt-&lt;UTC time&gt;</c>, and
    /// <see cref="SalvageReport"/> says what was done. A gap a salvage leaves stays in the log until a checkpoint covers it
    /// (the service saves one right after a salvage); a plain replay before that refuses it like any gap.
    /// </summary>
    public IReadOnlyList<LearnRecord> Replay(long fromSample, bool salvage = false)
    {
        current?.Dispose();
        current = null;
        var segments = Segments().ToList();
        if (segments.Count > 0 && segments[0].First > fromSample)
            throw new CorruptLearnLogException(
                $"learn log {segments[0].Path}: the log starts at sample {segments[0].First}, but the state holds only the samples " +
                $"before {fromSample} (a checkpoint or an older log segment is missing); nothing was changed.");
        var scans = segments.Select(s => Scan(s.Path, File.ReadAllBytes(s.Path))).ToList();
        var replay = new List<LearnRecord>();
        long expected = fromSample;
        for (int s = 0; s < scans.Count; s++)
        {
            var scan = scans[s];
            bool last = s == scans.Count - 1;
            // Only the end of the file an append was writing to when the process died can hold an unacknowledged record.
            var torn = last && scan.Bad.Count > 0 && scan.Bad[^1].End == scan.Bytes.Length &&
                       scan.Records.All(r => r.Offset < scan.Bad[^1].Start) ? scan.Bad[^1] : (BadSpan?)null;
            var corrupt = torn is { } t ? scan.Bad.Where(b => b != t).ToList() : scan.Bad.ToList();
            // Before the numbering: a corrupt record is the cause of the gap after it.
            if (corrupt.Count > 0 && !salvage)
            {
                var first = corrupt.OrderBy(b => b.Start).First();
                int after = scan.Records.Count(r => r.Offset > first.Start);
                throw new CorruptLearnLogException(
                    $"learn log {scan.Path}: record {first.Index} at byte {first.Start} is corrupt ({first.Reason}) and " +
                    $"{after} complete record(s) follow it; cutting the log there would lose acknowledged learns, so nothing was " +
                    "changed. Restore the file, or restart with --salvage to keep the records that verify and move the bad bytes aside.");
            }
            var kept = new List<ScannedRecord>();
            foreach (var r in scan.Records)
            {
                if (r.Record.FirstSample + r.Record.Samples.Count <= fromSample)
                {
                    kept.Add(r); // already in the checkpoint
                    continue;
                }
                if (r.Record.FirstSample != expected)
                {
                    string gap = $"learn log {scan.Path}: record {r.Index} at byte {r.Offset} starts at sample {r.Record.FirstSample} " +
                                 $"where {expected} was expected ({(r.Record.FirstSample > expected ? "a gap" : "an overlap")} in the log)";
                    if (!salvage) throw new CorruptLearnLogException(gap + "; nothing was changed. Restart with --salvage to keep the records that verify.");
                    if (r.Record.FirstSample < expected)
                    {
                        corrupt.Add(new BadSpan(r.Offset, r.Offset + r.Length, r.Index, "overlaps samples already replayed"));
                        continue;
                    }
                    SalvageLines.Add($"{gap}: samples {expected}–{r.Record.FirstSample - 1} are lost.");
                    LostSamples += r.Record.FirstSample - expected;
                }
                expected = r.Record.FirstSample + r.Record.Samples.Count;
                kept.Add(r);
                replay.Add(r.Record);
            }
            if (corrupt.Count > 0) SalvageSegment(scan, kept, corrupt);
            if (torn is { } cut)
            {
                using (var f = new FileStream(scan.Path, FileMode.Open, FileAccess.Write))
                {
                    f.SetLength(corrupt.Count > 0 ? kept.Sum(r => r.Length) : cut.Start);
                    f.Flush(flushToDisk: true);
                }
                TornRecordsDropped++;
            }
        }
        NextSample = expected;
        current = openSegment(segments.Count > 0 ? segments[^1].Path : SegmentPath(expected));
        durableLength = current.Length;
        return replay;
    }

    /// <summary>Moves a segment's bad bytes aside and rewrites it with only the records that verify (atomically, by rename).</summary>
    private void SalvageSegment(SegmentScan scan, List<ScannedRecord> kept, List<BadSpan> bad)
    {
        string stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        string aside = $"{scan.Path}.corrupt-{stamp}";
        using (var f = new FileStream(aside, FileMode.CreateNew, FileAccess.Write))
        {
            foreach (var b in bad.OrderBy(b => b.Start)) f.Write(scan.Bytes, b.Start, b.End - b.Start);
            f.Flush(flushToDisk: true);
        }
        string temporary = scan.Path + ".salvage";
        using (var f = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            foreach (var r in kept.OrderBy(r => r.Offset)) f.Write(scan.Bytes, r.Offset, r.Length);
            f.Flush(flushToDisk: true);
        }
        File.Move(temporary, scan.Path, overwrite: true);
        SalvageLines.Add($"salvaged {scan.Path}: kept {kept.Count} record(s) that verify; moved {bad.Sum(b => b.End - b.Start)} bytes " +
                         $"({string.Join(", ", bad.OrderBy(b => b.Start).Select(b => $"record {b.Index} at byte {b.Start}: {b.Reason}"))}) to {aside}.");
    }

    private readonly record struct ScannedRecord(int Index, int Offset, int Length, LearnRecord Record);

    /// <summary>Bytes [Start, End) that do not verify; <see cref="Index"/> is the record number (from 1) they stand at.</summary>
    private readonly record struct BadSpan(int Start, int End, int Index, string Reason);

    private sealed record SegmentScan(string Path, byte[] Bytes, List<ScannedRecord> Records, List<BadSpan> Bad);

    /// <summary>
    /// Splits a segment into records that verify and the spans between them that do not: after a bad record it looks
    /// for the next offset where a record verifies (a CRC-32C match by chance is 1 in 4·10⁹), so one flipped bit costs
    /// one record, not everything after it.
    /// </summary>
    private static SegmentScan Scan(string path, byte[] bytes)
    {
        var records = new List<ScannedRecord>();
        var bad = new List<BadSpan>();
        int at = 0;
        while (at < bytes.Length)
        {
            string? reason = TryDecode(bytes.AsSpan(at), out var record, out int length);
            if (reason == null)
            {
                records.Add(new ScannedRecord(records.Count + bad.Count + 1, at, length, record!));
                at += length;
                continue;
            }
            int next = at + 1;
            while (true)
            {
                int found = next < bytes.Length ? bytes.AsSpan(next).IndexOf(MagicBytes) : -1;
                if (found < 0)
                {
                    next = bytes.Length;
                    break;
                }
                next += found;
                if (TryDecode(bytes.AsSpan(next), out _, out _) == null) break;
                next++;
            }
            bad.Add(new BadSpan(at, Math.Min(next, bytes.Length), records.Count + bad.Count + 1, reason));
            at = next;
        }
        return new SegmentScan(path, bytes, records, bad);
    }

    /// <summary>
    /// Appends the records (numbering their samples from <see cref="NextSample"/>) and fsyncs once. If the write or the
    /// fsync fails, the file is cut back to its last durable length and the error rethrown: a refused learn leaves no
    /// bytes that a later append or a restart could read (if even the cut fails, the next append retries it first).
    /// </summary>
    public IReadOnlyList<LearnRecord> Append(IReadOnlyList<(ParsedSamples Samples, int FeatureCount)> requests)
    {
        var file = current ?? throw new InvalidOperationException("learn log: replay it before appending.");
        if (rollbackPending) RollBack(file);
        var records = new List<LearnRecord>(requests.Count);
        long next = NextSample;
        int total = requests.Sum(r => HeaderBytes + PayloadBytes(r.Samples));
        var buffer = new byte[total];
        int at = 0;
        foreach (var (samples, featureCount) in requests)
        {
            var record = new LearnRecord(next, samples, featureCount);
            at += Encode(record, buffer.AsSpan(at));
            records.Add(record);
            next += samples.Count;
        }
        try
        {
            file.Write(buffer);
            file.FlushToDisk();
        }
        catch
        {
            rollbackPending = true;
            try
            {
                RollBack(file);
            }
            catch (Exception) when (rollbackPending)
            {
                // The next append tries again before writing; until then nothing is written after the bad bytes.
            }
            throw;
        }
        durableLength += total;
        NextSample = next;
        Syncs++;
        return records;
    }

    private void RollBack(ILogSegmentFile file)
    {
        file.Truncate(durableLength);
        file.FlushToDisk();
        rollbackPending = false;
    }

    /// <summary>
    /// After a checkpoint that holds every sample before <paramref name="firstSample"/>: starts a new segment there and
    /// deletes the older ones (the checkpoint replaces them).
    /// </summary>
    public void Rotate(long firstSample)
    {
        if (firstSample != NextSample)
            throw new InvalidOperationException($"learn log: rotating at sample {firstSample}, but the log is at {NextSample}.");
        if (rollbackPending && current != null) RollBack(current);
        // Opened before the old one is let go: if this fails, appends go on in the current segment (still valid).
        var next = openSegment(SegmentPath(firstSample));
        current?.Dispose();
        current = next;
        durableLength = next.Length;
        foreach (var (first, path) in Segments().ToList())
            if (first < firstSample)
            {
                try
                {
                    File.Delete(path);
                }
                catch (IOException)
                {
                    // Left behind it is harmless: replay skips the records a checkpoint holds.
                }
            }
    }

    public void Dispose()
    {
        current?.Dispose();
        current = null;
    }

    private string SegmentPath(long first) => Path.Combine(folder, $"learn-{first:D12}.log");

    private static int PayloadBytes(ParsedSamples s) =>
        PayloadFixedBytes + 4 * s.Features.Length + 4 * (s.Labels?.Length ?? s.Targets!.Length);

    private static int Encode(LearnRecord r, Span<byte> into)
    {
        var s = r.Samples;
        int payload = PayloadBytes(s);
        var p = into.Slice(HeaderBytes, payload);
        BinaryPrimitives.WriteInt64LittleEndian(p, r.FirstSample);
        BinaryPrimitives.WriteInt32LittleEndian(p[8..], s.Count);
        BinaryPrimitives.WriteInt32LittleEndian(p[12..], r.FeatureCount);
        BinaryPrimitives.WriteInt32LittleEndian(p[16..], s.Labels != null ? 0 : s.Targets!.Length / s.Count);
        var features = MemoryMarshal.AsBytes(s.Features.AsSpan());
        features.CopyTo(p[PayloadFixedBytes..]);
        var answers = s.Labels != null ? MemoryMarshal.AsBytes(s.Labels.AsSpan()) : MemoryMarshal.AsBytes(s.Targets.AsSpan());
        answers.CopyTo(p[(PayloadFixedBytes + features.Length)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(into, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(into[4..], payload);
        BinaryPrimitives.WriteUInt32LittleEndian(into[8..], Crc32C(p));
        return HeaderBytes + payload;
    }

    /// <summary>Decodes the record at the start of <paramref name="bytes"/>; returns null, or why it does not verify.</summary>
    private static string? TryDecode(ReadOnlySpan<byte> bytes, out LearnRecord? record, out int length)
    {
        record = null;
        length = 0;
        if (bytes.Length < HeaderBytes) return $"{bytes.Length} bytes, shorter than a record header";
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic) return "no record marker";
        int payload = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        if (payload < PayloadFixedBytes || payload > bytes.Length - HeaderBytes)
            return $"its length field says {payload} bytes, but {bytes.Length - HeaderBytes} follow the header";
        var p = bytes.Slice(HeaderBytes, payload);
        if (Crc32C(p) != BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..])) return "CRC-32C mismatch";
        long first = BinaryPrimitives.ReadInt64LittleEndian(p);
        int count = BinaryPrimitives.ReadInt32LittleEndian(p[8..]), width = BinaryPrimitives.ReadInt32LittleEndian(p[12..]);
        int targetsPer = BinaryPrimitives.ReadInt32LittleEndian(p[16..]);
        long expected = PayloadFixedBytes + 4L * count * width + 4L * count * (targetsPer == 0 ? 1 : targetsPer);
        if (count < 1 || width < 1 || targetsPer < 0 || expected != payload) return "its counts do not match its length";
        var features = MemoryMarshal.Cast<byte, float>(p.Slice(PayloadFixedBytes, 4 * count * width)).ToArray();
        var rest = p[(PayloadFixedBytes + 4 * count * width)..];
        var samples = targetsPer == 0
            ? new ParsedSamples(count, features, MemoryMarshal.Cast<byte, int>(rest).ToArray(), null)
            : new ParsedSamples(count, features, null, MemoryMarshal.Cast<byte, float>(rest).ToArray());
        record = new LearnRecord(first, samples, width);
        length = HeaderBytes + payload;
        return null;
    }

    /// <summary>CRC-32C (Castagnoli) with the CPU's instruction where it has one (<see cref="BitOperations.Crc32C(uint, ulong)"/>).</summary>
    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8) crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++) crc = BitOperations.Crc32C(crc, data[i]);
        return ~crc;
    }
}
