namespace Engine;

/// <summary>
/// A per-axis pair of sizes for 2-D layers (PyTorch's <c>_size_2_t</c>): an <c>int</c> means the same on both axes,
/// a tuple <c>(h, w)</c> gives each: <c>stride: 2</c> or <c>stride: (2, 1)</c>.
/// </summary>
public readonly record struct Pair(int H, int W)
{
    public static implicit operator Pair(int both) => new(both, both);

    public static implicit operator Pair((int H, int W) pair) => new(pair.H, pair.W);

    public override string ToString() => $"({H}, {W})";
}

/// <summary>
/// A convolution's padding: a size per axis (an <c>int</c> or a tuple, as <see cref="Pair"/>), or PyTorch's strings
/// <c>"valid"</c> (none) and <c>"same"</c> (the output as large as the input; stride 1 only).
/// </summary>
public readonly struct ConvPadding
{
    private ConvPadding(int h, int w, string? mode)
    {
        H = h;
        W = w;
        Mode = mode;
    }

    public int H { get; }
    public int W { get; }

    /// <summary>"same" or "valid" when given as a string; null for explicit sizes.</summary>
    public string? Mode { get; }

    public static implicit operator ConvPadding(int both) => new(both, both, null);

    public static implicit operator ConvPadding((int H, int W) pair) => new(pair.H, pair.W, null);

    public static implicit operator ConvPadding(string mode) => mode switch
    {
        "same" or "valid" => new(0, 0, mode),
        _ => throw new ArgumentException($"padding: expected \"same\", \"valid\" or sizes, got \"{mode}\"."),
    };

    public override string ToString() => Mode != null ? $"'{Mode}'" : $"({H}, {W})";
}
