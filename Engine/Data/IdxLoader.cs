using System.IO.Compression;

namespace Engine.Data;

/// <summary>
/// Reads the IDX files MNIST is distributed in (<c>*-images-idx3-ubyte[.gz]</c>, <c>*-labels-idx1-ubyte[.gz]</c>):
/// a big-endian header (magic 0x00000803 for unsigned-byte 3-D images, 0x00000801 for 1-D labels, then the
/// dimensions) followed by the bytes. Pixels are scaled to [0, 1]. A ".gz" name is decompressed on the fly.
/// </summary>
public static class IdxLoader
{
    /// <summary>MNIST as flat rows: samples of shape [rows·cols] (784 for MNIST), for an MLP.</summary>
    public static Dataset LoadMnist(string imagesPath, string labelsPath) => Load(imagesPath, labelsPath).Flat;

    /// <summary>
    /// MNIST as one-channel images: the same data as <see cref="LoadMnist"/> with <see cref="Dataset.SampleShape"/>
    /// [1, rows, cols] ([1, 28, 28] for MNIST), so a <see cref="DataLoader"/> yields [n, 1, rows, cols] for a CNN.
    /// </summary>
    public static Dataset LoadMnistImages(string imagesPath, string labelsPath)
    {
        var (flat, rows, cols) = Load(imagesPath, labelsPath);
        return flat.WithSampleShape(1, rows, cols);
    }

    private static (Dataset Flat, int Rows, int Cols) Load(string imagesPath, string labelsPath)
    {
        var (images, rows, cols) = ReadImages(imagesPath);
        var labels = ReadLabels(labelsPath);
        if (labels.Length * rows * cols != images.Length)
            throw new FormatException(
                $"{imagesPath} holds {images.Length / (rows * cols)} images but {labelsPath} {labels.Length} labels.");
        return (Dataset.WithLabels(images, rows * cols, labels), rows, cols);
    }

    public static (float[] Pixels, int Rows, int Cols) ReadImages(string path)
    {
        using var stream = Open(path);
        var dims = Header(stream, path, 0x00000803, 3);
        long count = (long)dims[0] * dims[1] * dims[2];
        var bytes = ReadExactly(stream, count, path);
        return (bytes.Select(b => b / 255f).ToArray(), dims[1], dims[2]);
    }

    public static int[] ReadLabels(string path)
    {
        using var stream = Open(path);
        var dims = Header(stream, path, 0x00000801, 1);
        return ReadExactly(stream, dims[0], path).Select(b => (int)b).ToArray();
    }

    /// <summary>Writes labels in IDX format (used to build the bundled data set and test fixtures).</summary>
    public static void WriteLabels(string path, IReadOnlyList<int> labels)
    {
        using var stream = Create(path);
        WriteHeader(stream, 0x00000801, labels.Count);
        foreach (int l in labels) stream.WriteByte(checked((byte)l));
    }

    /// <summary>Writes [count, rows, cols] images with pixels in [0, 1] as unsigned bytes.</summary>
    public static void WriteImages(string path, float[] pixels, int rows, int cols)
    {
        using var stream = Create(path);
        WriteHeader(stream, 0x00000803, pixels.Length / (rows * cols), rows, cols);
        foreach (float p in pixels) stream.WriteByte((byte)Math.Clamp(MathF.Round(p * 255f), 0f, 255f));
    }

    private static Stream Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file not found: {path}", path);
        Stream s = File.OpenRead(path);
        return path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(s, CompressionMode.Decompress) : s;
    }

    private static Stream Create(string path)
    {
        Stream s = File.Create(path);
        return path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(s, CompressionLevel.Optimal) : s;
    }

    private static int[] Header(Stream stream, string path, int magic, int rank)
    {
        var head = ReadExactly(stream, 4 + 4L * rank, path, "header");
        int found = BigEndian(head, 0);
        if (found != magic)
            throw new FormatException($"{path}: magic number 0x{found:X8}, expected 0x{magic:X8} (not an IDX file of this kind).");
        var dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BigEndian(head, 4 + 4 * i);
            if (dims[i] < 1) throw new FormatException($"{path}: dimension {i} is {dims[i]}.");
        }
        return dims;
    }

    private static byte[] ReadExactly(Stream stream, long count, string path, string what = "data")
    {
        var buffer = new byte[count];
        int read = 0;
        while (read < count)
        {
            int n = stream.Read(buffer, read, (int)Math.Min(count - read, 1 << 20));
            if (n == 0)
                throw new FormatException($"{path}: truncated {what}: expected {count} bytes, found {read}.");
            read += n;
        }
        return buffer;
    }

    private static int BigEndian(byte[] b, int at) => b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3];

    private static void WriteHeader(Stream stream, int magic, params int[] dims)
    {
        foreach (int v in new[] { magic }.Concat(dims))
        {
            stream.WriteByte((byte)(v >> 24));
            stream.WriteByte((byte)(v >> 16));
            stream.WriteByte((byte)(v >> 8));
            stream.WriteByte((byte)v);
        }
    }
}
