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
/// it returns is for a learn that survives a crash. Reading stops at a torn or corrupt last record (a crash mid-write:
/// never acknowledged), which is cut off so appends continue after the last good one.
/// </summary>
public sealed class LearnLog : IDisposable
{
    private const uint Magic = 0x314E524C; // "LRN1"
    private const int HeaderBytes = 12, PayloadFixedBytes = 20;
    private readonly string folder;
    private FileStream? current;

    private LearnLog(string folder) => this.folder = folder;

    /// <summary>Opens (creating) the log in <paramref name="folder"/>; call <see cref="Replay"/> before appending.</summary>
    public static LearnLog Open(string folder)
    {
        Directory.CreateDirectory(folder);
        return new LearnLog(folder);
    }

    /// <summary>The stream position the next appended record starts at.</summary>
    public long NextSample { get; private set; }

    /// <summary>fsyncs made since opening (one per group of learns; /metrics reports it).</summary>
    public long Syncs { get; private set; }

    /// <summary>Records dropped as torn while replaying (0 or 1: only the very last one can be).</summary>
    public int TornRecordsDropped { get; private set; }

    private IEnumerable<(long First, string Path)> Segments() =>
        Directory.EnumerateFiles(folder, "learn-*.log")
            .Select(p => (First: long.Parse(Path.GetFileNameWithoutExtension(p)["learn-".Length..], CultureInfo.InvariantCulture), Path: p))
            .OrderBy(s => s.First);

    /// <summary>
    /// Every record whose samples start at or after <paramref name="fromSample"/> (what a checkpoint at that position
    /// does not hold), in order; then the log is ready to append after the last one. A torn last record is dropped
    /// and cut off; a gap or a corrupt record anywhere else is an error (the log is not what was written).
    /// </summary>
    public IEnumerable<LearnRecord> Replay(long fromSample)
    {
        current?.Dispose();
        current = null;
        var segments = Segments().ToList();
        long expected = fromSample;
        for (int s = 0; s < segments.Count; s++)
        {
            bool last = s == segments.Count - 1;
            var (_, path) = segments[s];
            byte[] bytes = File.ReadAllBytes(path);
            int at = 0;
            while (at < bytes.Length)
            {
                if (!TryDecode(bytes.AsSpan(at), out var record, out int length))
                {
                    if (!last)
                        throw new InvalidDataException($"{path}: a corrupt record at byte {at}, and later segments follow it.");
                    using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) // a crash mid-append: cut it off
                    {
                        f.SetLength(at);
                        f.Flush(flushToDisk: true);
                    }
                    TornRecordsDropped++;
                    break;
                }
                at += length;
                long end = record!.FirstSample + record.Samples.Count;
                if (end <= fromSample) continue; // already in the checkpoint
                if (record.FirstSample != expected)
                    throw new InvalidDataException(
                        $"{path}: a record starts at sample {record.FirstSample} where {expected} was expected (a gap in the log).");
                expected = end;
                yield return record;
            }
        }
        NextSample = expected;
        var tail = segments.Count > 0 ? segments[^1].Path : SegmentPath(expected);
        current = new FileStream(tail, FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16);
    }

    /// <summary>Appends the records (numbering their samples from <see cref="NextSample"/>) and fsyncs once.</summary>
    public IReadOnlyList<LearnRecord> Append(IReadOnlyList<(ParsedSamples Samples, int FeatureCount)> requests)
    {
        var file = current ?? throw new InvalidOperationException("learn log: replay it before appending.");
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
        file.Write(buffer);
        file.Flush(flushToDisk: true);
        NextSample = next;
        Syncs++;
        return records;
    }

    /// <summary>
    /// After a checkpoint that holds every sample before <paramref name="firstSample"/>: starts a new segment there and
    /// deletes the older ones (the checkpoint replaces them).
    /// </summary>
    public void Rotate(long firstSample)
    {
        if (firstSample != NextSample)
            throw new InvalidOperationException($"learn log: rotating at sample {firstSample}, but the log is at {NextSample}.");
        current?.Dispose();
        current = new FileStream(SegmentPath(firstSample), FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16);
        foreach (var (first, path) in Segments().ToList())
            if (first < firstSample) File.Delete(path);
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

    private static bool TryDecode(ReadOnlySpan<byte> bytes, out LearnRecord? record, out int length)
    {
        record = null;
        length = 0;
        if (bytes.Length < HeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic) return false;
        int payload = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        if (payload < PayloadFixedBytes || payload > bytes.Length - HeaderBytes) return false;
        var p = bytes.Slice(HeaderBytes, payload);
        if (Crc32C(p) != BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..])) return false;
        long first = BinaryPrimitives.ReadInt64LittleEndian(p);
        int count = BinaryPrimitives.ReadInt32LittleEndian(p[8..]), width = BinaryPrimitives.ReadInt32LittleEndian(p[12..]);
        int targetsPer = BinaryPrimitives.ReadInt32LittleEndian(p[16..]);
        long expected = PayloadFixedBytes + 4L * count * width + 4L * count * (targetsPer == 0 ? 1 : targetsPer);
        if (count < 1 || width < 1 || targetsPer < 0 || expected != payload) return false;
        var features = MemoryMarshal.Cast<byte, float>(p.Slice(PayloadFixedBytes, 4 * count * width)).ToArray();
        var rest = p[(PayloadFixedBytes + 4 * count * width)..];
        var samples = targetsPer == 0
            ? new ParsedSamples(count, features, MemoryMarshal.Cast<byte, int>(rest).ToArray(), null)
            : new ParsedSamples(count, features, null, MemoryMarshal.Cast<byte, float>(rest).ToArray());
        record = new LearnRecord(first, samples, width);
        length = HeaderBytes + payload;
        return true;
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
