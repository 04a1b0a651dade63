using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Engine.Serialization;

/// <summary>
/// Reads and writes the safetensors format (Hugging Face's, as <c>safetensors.torch.save_file</c> writes it):
/// an 8-byte little-endian header length N, N bytes of JSON
/// <c>{"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets": [begin, end]}, …}</c> padded
/// with spaces to a multiple of 8, then the raw little-endian, row-major data, each tensor at its offsets
/// relative to the end of the header.
/// </summary>
/// <remarks>
/// The writer follows the reference byte for byte: tensors sorted by descending dtype alignment then by name
/// (ordinal), laid out back to back in that order, compact JSON with <c>__metadata__</c> first and the keys of each
/// entry in the order dtype, shape, data_offsets. The reader accepts F32, F16, BF16 and F64 (converted to float32)
/// and checks everything the reference checks — header length, UTF-8, JSON, dtype, offsets contiguous, inside
/// the file and matching shape × dtype size — reporting the file and the first problem it finds.
/// </remarks>
public static class SafeTensors
{
    /// <summary>The reference implementation's limit on the JSON header.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    /// <summary>Elements encoded or decoded per pass: files and tensors past 2 GB move through a buffer of this many
    /// values at a time, never a whole-file array (settable so the tests can cut small tensors up).</summary>
    internal static int ChunkElements { get; set; } = 1 << 20;

    /// <summary>The file's bytes for these tensors and metadata (a file under 2 GB; <see cref="Save"/> streams any size).</summary>
    public static byte[] Serialize(IReadOnlyDictionary<string, HostTensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var memory = new MemoryStream();
        Write(memory, tensors, metadata);
        return memory.ToArray();
    }

    /// <summary>
    /// Writes the file to <paramref name="stream"/>: the header, then each tensor's bytes encoded
    /// <see cref="ChunkElements"/> values at a time, so a file of any size (offsets are 64-bit) needs no array of it.
    /// </summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, HostTensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = tensors.OrderByDescending(kv => kv.Value.DType.FormatRank())
            .ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var header = new StringBuilder("{");
        if (metadata != null)
        {
            header.Append(Json.Quote(MetadataKey)).Append(":{");
            header.AppendJoin(',', metadata.Select(kv => Json.Quote(kv.Key) + ":" + Json.Quote(kv.Value)));
            header.Append('}');
            if (ordered.Count > 0) header.Append(',');
        }
        long offset = 0;
        for (int i = 0; i < ordered.Count; i++)
        {
            var (name, tensor) = (ordered[i].Key, ordered[i].Value);
            Check(name, tensor);
            long bytes = (long)tensor.Numel * tensor.DType.Size();
            if (i > 0) header.Append(',');
            header.Append(Json.Quote(name)).Append(":{\"dtype\":\"").Append(tensor.DType).Append("\",\"shape\":[")
                .AppendJoin(',', tensor.Shape).Append("],\"data_offsets\":[").Append(offset).Append(',')
                .Append(offset + bytes).Append("]}");
            offset += bytes;
        }
        header.Append('}');
        var headerBytes = Encoding.UTF8.GetBytes(header.ToString());
        int padded = (headerBytes.Length + 7) / 8 * 8;
        var start = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(start, (ulong)padded);
        headerBytes.CopyTo(start, 8);
        start.AsSpan(8 + headerBytes.Length).Fill((byte)' ');
        stream.Write(start);
        var buffer = new byte[(long)ChunkElements * 8];
        foreach (var (_, tensor) in ordered)
        {
            for (int from = 0; from < tensor.Values.Length; from += ChunkElements)
            {
                int count = Math.Min(ChunkElements, tensor.Values.Length - from);
                stream.Write(buffer, 0, Encode(tensor, from, count, buffer));
            }
        }
    }

    /// <summary>Writes the file atomically (temporary file in the same folder, flushed to disk, renamed over).</summary>
    public static void Save(string path, IReadOnlyDictionary<string, HostTensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        foreach (var (name, tensor) in tensors) Check(name, tensor); // before a temporary file exists
        AtomicFile.Write(path, stream => Write(stream, tensors, metadata));
    }

    /// <summary>Reads and validates a safetensors file, tensor by tensor from the disk (any size: offsets are 64-bit).</summary>
    /// <exception cref="SafeTensorsFormatException">the file is truncated, corrupt or not safetensors.</exception>
    /// <exception cref="FileNotFoundException">there is no such file.</exception>
    public static SafeTensorsFile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!System.IO.File.Exists(path))
            throw new FileNotFoundException($"{path}: no such safetensors file.", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        SafeTensorsFormatException Bad(string problem) => new(path, problem);
        var lengthBytes = new byte[8];
        if (stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) < 8)
            throw Bad($"the file is {stream.Length} bytes, shorter than the 8-byte header length (truncated or empty)");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        CheckHeaderLength(n, stream.Length, Bad);
        var headerBytes = new byte[n];
        stream.ReadExactly(headerBytes);
        var (metadata, entries) = ParseHeader(headerBytes, stream.Length - 8 - (long)n, Bad);
        var tensors = new Dictionary<string, HostTensor>();
        var buffer = new byte[(long)ChunkElements * 8];
        foreach (var e in entries)
        {
            stream.Position = 8 + (long)n + e.Begin;
            tensors[e.Name] = DecodeTensor(e, (at, count) =>
            {
                stream.ReadExactly(buffer, 0, count);
                return buffer.AsSpan(0, count);
            }, Bad);
        }
        return new SafeTensorsFile(path, tensors, metadata);
    }

    /// <summary>Parses a safetensors file's bytes; <paramref name="source"/> names it in error messages.</summary>
    public static SafeTensorsFile Deserialize(ReadOnlySpan<byte> file, string source = "<bytes>")
    {
        SafeTensorsFormatException Bad(string problem) => new(source, problem);

        if (file.Length < 8)
            throw Bad($"the file is {file.Length} bytes, shorter than the 8-byte header length (truncated or empty)");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        CheckHeaderLength(n, file.Length, Bad);
        var (metadata, entries) = ParseHeader(file.Slice(8, (int)n), file.Length - 8 - (long)n, Bad);
        var tensors = new Dictionary<string, HostTensor>();
        unsafe
        {
            fixed (byte* start = file)
            {
                byte* data = start + 8 + (long)n;
                foreach (var e in entries)
                    tensors[e.Name] = DecodeTensor(e, (at, count) => new ReadOnlySpan<byte>(data + e.Begin + at, count), Bad);
            }
        }
        return new SafeTensorsFile(source, tensors, metadata);
    }

    private static void CheckHeaderLength(ulong n, long fileLength, Func<string, SafeTensorsFormatException> bad)
    {
        if (n > MaxHeaderBytes)
            throw bad($"bad header length {n}: more than the {MaxHeaderBytes:N0}-byte limit (not a safetensors file?)");
        if ((long)n > fileLength - 8)
            throw bad($"bad header length {n}: the file has only {fileLength - 8} bytes after it (truncated?)");
    }

    /// <summary>The header's metadata and tensor entries, checked against a data section of <paramref name="dataLength"/> bytes.</summary>
    private static (Dictionary<string, string> Metadata, List<(string Name, SafeTensorsDType DType, int[] Shape, long Begin, long End)> Entries)
        ParseHeader(ReadOnlySpan<byte> headerBytes, long dataLength, Func<string, SafeTensorsFormatException> Bad)
    {
        string header;
        try
        {
            header = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(headerBytes);
        }
        catch (DecoderFallbackException)
        {
            throw Bad("the header is not valid UTF-8");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Bad($"bad JSON in the header ({e.Message.Split(" Path:")[0].TrimEnd('.')})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad($"the header is a JSON {document.RootElement.ValueKind}, not an object");
            var metadata = new Dictionary<string, string>();
            var entries = new List<(string Name, SafeTensorsDType DType, int[] Shape, long Begin, long End)>();
            var names = new HashSet<string>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name)) throw Bad($"'{property.Name}' appears twice in the header");
                if (property.Name == MetadataKey)
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw Bad($"{MetadataKey} must be an object of strings");
                    foreach (var item in property.Value.EnumerateObject())
                    {
                        if (item.Value.ValueKind != JsonValueKind.String)
                            throw Bad($"{MetadataKey}['{item.Name}'] is a {item.Value.ValueKind}, not a string");
                        metadata[item.Name] = item.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(property, Bad));
            }

            // The reference requires the tensors to tile the data section exactly, in offset order.
            long expected = 0;
            foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin != expected)
                    throw Bad(e.Begin < expected
                        ? $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] overlap the previous tensor (which ends at {expected})"
                        : $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] leave a gap after byte {expected}");
                if (e.End > dataLength)
                    throw Bad($"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] are out of range: the data " +
                              $"section has {dataLength} bytes (truncated file?)");
                expected = e.End;
            }
            if (expected != dataLength)
                throw Bad($"the tensors cover {expected} bytes but the data section has {dataLength}");
            return (metadata, entries);
        }
    }

    /// <summary>The bytes [at, at + count) of a tensor's data (count ≤ <see cref="ChunkElements"/> values).</summary>
    private delegate ReadOnlySpan<byte> ChunkReader(long at, int count);

    /// <summary>One tensor, decoded <see cref="ChunkElements"/> values at a time from <paramref name="read"/>.</summary>
    private static HostTensor DecodeTensor((string Name, SafeTensorsDType DType, int[] Shape, long Begin, long End) e,
        ChunkReader read, Func<string, SafeTensorsFormatException> bad)
    {
        int size = e.DType.Size(), count = (int)((e.End - e.Begin) / size);
        var values = new float[count];
        long[]? integers = e.DType is SafeTensorsDType.BOOL or SafeTensorsDType.I32 or SafeTensorsDType.I64 ? new long[count] : null;
        for (int from = 0; from < count; from += ChunkElements)
        {
            int n = Math.Min(ChunkElements, count - from);
            var bytes = read((long)from * size, n * size);
            if (integers != null) DecodeIntegers(e.DType, bytes, integers.AsSpan(from, n));
            else Decode(e.Name, e.DType, bytes, values.AsSpan(from, n), bad);
        }
        if (integers != null)
            for (int i = 0; i < count; i++) values[i] = integers[i];
        return new HostTensor(e.Shape, values, e.DType) { Integers = integers };
    }

    private static (string, SafeTensorsDType, int[], long, long) ParseEntry(JsonProperty property,
        Func<string, SafeTensorsFormatException> bad)
    {
        string name = property.Name;
        var info = property.Value;
        if (info.ValueKind != JsonValueKind.Object) throw bad($"tensor '{name}': its entry is not an object");
        if (!info.TryGetProperty("dtype", out var dtypeJson) || dtypeJson.ValueKind != JsonValueKind.String)
            throw bad($"tensor '{name}': no dtype");
        string dtypeName = dtypeJson.GetString()!;
        if (!Enum.TryParse<SafeTensorsDType>(dtypeName, ignoreCase: false, out var dtype) ||
            !Enum.IsDefined(dtype) || dtypeName != dtype.ToString())
        {
            throw bad(SafeTensorsDTypes.FormatNames.Contains(dtypeName)
                ? $"tensor '{name}': dtype {dtypeName} cannot be loaded (supported: F32, F16, BF16, F64, I64, I32, BOOL)"
                : $"tensor '{name}': unknown dtype '{dtypeName}'");
        }
        if (!info.TryGetProperty("shape", out var shapeJson) || shapeJson.ValueKind != JsonValueKind.Array)
            throw bad($"tensor '{name}': no shape array");
        var shape = new List<int>();
        long numel = 1;
        foreach (var d in shapeJson.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw bad($"tensor '{name}': shape {shapeJson.GetRawText()} is not a list of non-negative integers");
            if (dim > int.MaxValue || (numel = numel * dim) > int.MaxValue)
                throw bad($"tensor '{name}': shape {shapeJson.GetRawText()} has more than {int.MaxValue} elements");
            shape.Add((int)dim);
        }
        if (!info.TryGetProperty("data_offsets", out var offsetsJson) || offsetsJson.ValueKind != JsonValueKind.Array ||
            offsetsJson.GetArrayLength() != 2 || !offsetsJson[0].TryGetInt64(out long begin) ||
            !offsetsJson[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw bad($"tensor '{name}': data_offsets must be [begin, end] with 0 ≤ begin ≤ end");
        long bytes = numel * dtype.Size();
        if (end - begin != bytes)
            throw bad($"tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype} needs {bytes} bytes but " +
                      $"data_offsets [{begin}, {end}] hold {end - begin}");
        return (name, dtype, shape.ToArray(), begin, end);
    }

    private static void Check(string name, HostTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (name == MetadataKey) throw new ArgumentException($"safetensors: a tensor cannot be named '{MetadataKey}'.");
        if (tensor.Shape.Any(d => d < 0))
            throw new ArgumentException($"safetensors: tensor '{name}' has a negative dimension in [{string.Join(", ", tensor.Shape)}].");
        if (tensor.Numel != tensor.Values.Length)
            throw new ArgumentException(
                $"safetensors: tensor '{name}' has shape [{string.Join(", ", tensor.Shape)}] ({tensor.Numel} elements) " +
                $"but {tensor.Values.Length} values.");
        if (tensor.Integers != null && tensor.Integers.Length != tensor.Numel)
            throw new ArgumentException(
                $"safetensors: tensor '{name}' has {tensor.Integers.Length} exact integers for {tensor.Numel} elements.");
        if (tensor.Integers == null && tensor.DType is SafeTensorsDType.I64 or SafeTensorsDType.I32 or SafeTensorsDType.BOOL &&
            Array.FindIndex(tensor.Values, v => !(MathF.Round(v) == v && MathF.Abs(v) <= 1 << 24)) is var bad and >= 0)
            throw new ArgumentException(
                $"safetensors: tensor '{name}' is {tensor.DType} but value {tensor.Values[bad]} at index {bad} is not a whole number within ±2^24.");
    }

    /// <summary>Encodes the values [from, from + count) of <paramref name="tensor"/> into <paramref name="into"/>; returns the bytes written.</summary>
    private static int Encode(HostTensor tensor, int from, int count, Span<byte> into)
    {
        var values = tensor.Values;
        long Exact(int i) => tensor.Integers?[i] ?? (long)MathF.Round(values[i]);
        int size = tensor.DType.Size();
        for (int k = 0; k < count; k++)
        {
            int i = from + k;
            var at = into[(size * k)..];
            switch (tensor.DType)
            {
                case SafeTensorsDType.BOOL: at[0] = Exact(i) != 0 ? (byte)1 : (byte)0; break;
                case SafeTensorsDType.I32: BinaryPrimitives.WriteInt32LittleEndian(at, checked((int)Exact(i))); break;
                case SafeTensorsDType.F32: BinaryPrimitives.WriteSingleLittleEndian(at, values[i]); break;
                case SafeTensorsDType.F64: BinaryPrimitives.WriteDoubleLittleEndian(at, values[i]); break;
                case SafeTensorsDType.I64: BinaryPrimitives.WriteInt64LittleEndian(at, Exact(i)); break;
                case SafeTensorsDType.F16: BinaryPrimitives.WriteHalfLittleEndian(at, (Half)values[i]); break;
                default: BinaryPrimitives.WriteUInt16LittleEndian(at, SafeTensorsDTypes.ToBFloat16(values[i])); break;
            }
        }
        return size * count;
    }

    /// <summary>The exact values of an I32, I64 or BOOL tensor's bytes into <paramref name="into"/>.</summary>
    private static void DecodeIntegers(SafeTensorsDType dtype, ReadOnlySpan<byte> bytes, Span<long> into)
    {
        for (int i = 0; i < into.Length; i++)
            into[i] = dtype switch
            {
                SafeTensorsDType.BOOL => bytes[i] != 0 ? 1 : 0,
                SafeTensorsDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(bytes[(4 * i)..]),
                _ => BinaryPrimitives.ReadInt64LittleEndian(bytes[(8 * i)..]),
            };
    }

    /// <summary>A float dtype's bytes as float32 values into <paramref name="into"/>.</summary>
    private static void Decode(string name, SafeTensorsDType dtype, ReadOnlySpan<byte> bytes, Span<float> into,
        Func<string, SafeTensorsFormatException> bad)
    {
        for (int i = 0; i < into.Length; i++)
        {
            into[i] = dtype switch
            {
                SafeTensorsDType.F32 => BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]),
                SafeTensorsDType.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes[(8 * i)..]),
                SafeTensorsDType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]),
                _ => SafeTensorsDTypes.FromBFloat16(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..])),
            };
        }
    }

    /// <summary>JSON string quoting as serde_json writes it: only '"', '\' and control characters escaped.</summary>
    private static class Json
    {
        public static string Quote(string s)
        {
            var b = new StringBuilder(s.Length + 2).Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    case '\b': b.Append("\\b"); break;
                    case '\f': b.Append("\\f"); break;
                    default:
                        if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4"));
                        else b.Append(c);
                        break;
                }
            }
            return b.Append('"').ToString();
        }
    }
}
