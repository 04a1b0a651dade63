using System.IO.Compression;

namespace Examples.Gpt;

/// <summary>The tiny-shakespeare text as character ids: the sorted distinct characters are the vocabulary.</summary>
public sealed class Corpus
{
    private readonly Dictionary<char, int> ids;

    private Corpus(string text)
    {
        Vocabulary = text.Distinct().OrderBy(c => c).ToArray();
        ids = Vocabulary.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        var all = Encode(text);
        int split = (int)(all.Length * 0.9);
        Train = all[..split];
        Val = all[split..];
    }

    public char[] Vocabulary { get; }
    public int[] Train { get; }
    public int[] Val { get; }

    /// <summary>The bundled gzip (Examples/data/tinyshakespeare.txt.gz), or a text file (or .gz) given with --data.</summary>
    public static Corpus Load(string? path)
    {
        path ??= Path.Combine(AppContext.BaseDirectory, "data", "tinyshakespeare.txt.gz");
        if (!path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) return new Corpus(File.ReadAllText(path));
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        return new Corpus(reader.ReadToEnd());
    }

    /// <summary>A text of the caller's, split the same way (the first 90 % to train on).</summary>
    public static Corpus FromText(string text) => new(text);

    public int[] Encode(string text) => text.Select(c => ids.TryGetValue(c, out int id)
        ? id
        : throw new ArgumentException($"gpt: the character '{c}' (U+{(int)c:X4}) is not in the vocabulary.")).ToArray();

    public string Decode(IEnumerable<int> tokens) => new(tokens.Select(t => Vocabulary[t]).ToArray());
}
