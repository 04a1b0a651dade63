using Engine.Data;

namespace Engine.Tests;

/// <summary>The Examples app's bundled MNIST subset (8,000 train / 2,000 test), copied next to the tests.</summary>
public static class BundledMnist
{
    /// <summary>Loads <c>train</c> or <c>t10k</c>.</summary>
    public static Dataset Load(string prefix)
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "BundledData");
        return IdxLoader.LoadMnist(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"),
            Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz"));
    }
}
