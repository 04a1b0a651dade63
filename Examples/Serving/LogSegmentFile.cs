namespace Examples.Serving;

/// <summary>
/// The one file a <see cref="LearnLog"/> appends to. A seam so that tests can make writes and fsyncs fail (a full
/// disk cannot be made on demand); <see cref="DiskLogSegmentFile"/> is the real one.
/// </summary>
public interface ILogSegmentFile : IDisposable
{
    /// <summary>The file's length in bytes (what is written, durable or not).</summary>
    long Length { get; }

    /// <summary>Writes at the end of the file, with no buffering of its own: what fails here left nothing queued.</summary>
    void Write(ReadOnlySpan<byte> bytes);

    /// <summary>fsync: returns once what was written is on disk.</summary>
    void FlushToDisk();

    /// <summary>Cuts the file to <paramref name="length"/> bytes; later writes go after them.</summary>
    void Truncate(long length);
}

/// <summary>
/// A log segment on disk. Unbuffered on purpose: a buffered stream keeps the bytes of a write that failed and writes
/// them with the next one, which put a refused learn's record into the log with sample numbers reused after it.
/// </summary>
public sealed class DiskLogSegmentFile : ILogSegmentFile
{
    private readonly FileStream stream;

    /// <summary>Opens (creating) <paramref name="path"/> for appending.</summary>
    public DiskLogSegmentFile(string path)
    {
        // Not FileMode.Append: a stream opened that way refuses to truncate below where it started.
        stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read, bufferSize: 0);
        stream.Seek(0, SeekOrigin.End);
    }

    public long Length => stream.Length;

    public void Write(ReadOnlySpan<byte> bytes) => stream.Write(bytes);

    public void FlushToDisk() => stream.Flush(flushToDisk: true);

    public void Truncate(long length)
    {
        stream.SetLength(length);
        stream.Seek(length, SeekOrigin.Begin);
    }

    public void Dispose() => stream.Dispose();
}
