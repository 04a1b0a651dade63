using Engine.Data;

namespace Engine.Tests;

/// <summary>The Examples app's bundled MNIST subset (8,000 train / 2,000 test), copied next to the tests.</summary>
public static class BundledMnist
{
    /// <summary>Loads <c>train</c> or <c>t10k</c> as flat rows of 784.</summary>
    public static Dataset Load(string prefix) => IdxLoader.LoadMnist(Images(prefix), Labels(prefix));

    /// <summary>Loads <c>train</c> or <c>t10k</c> as images [1, 28, 28].</summary>
    public static Dataset LoadImages(string prefix) => IdxLoader.LoadMnistImages(Images(prefix), Labels(prefix));

    private static string Images(string prefix) => Path.Combine(AppContext.BaseDirectory, "BundledData", $"{prefix}-images-idx3-ubyte.gz");

    private static string Labels(string prefix) => Path.Combine(AppContext.BaseDirectory, "BundledData", $"{prefix}-labels-idx1-ubyte.gz");

    /// <summary>
    /// Writes an IDX folder (the layout <c>--data</c> takes) with the first <paramref name="train"/> training and
    /// <paramref name="test"/> test digits under <paramref name="parent"/>, and returns it: small runs of the examples,
    /// fast enough on ILGPU's CPU simulator.
    /// </summary>
    public static string WriteSubset(string parent, int train, int test)
    {
        string data = Path.Combine(parent, "data");
        Directory.CreateDirectory(data);
        var (trainSet, testSet) = (Load("train"), Load("t10k"));
        IdxLoader.WriteImages(Path.Combine(data, "train-images-idx3-ubyte"), trainSet.Features[..(train * 784)], 28, 28);
        IdxLoader.WriteLabels(Path.Combine(data, "train-labels-idx1-ubyte"), trainSet.Labels![..train]);
        IdxLoader.WriteImages(Path.Combine(data, "t10k-images-idx3-ubyte"), testSet.Features[..(test * 784)], 28, 28);
        IdxLoader.WriteLabels(Path.Combine(data, "t10k-labels-idx1-ubyte"), testSet.Labels![..test]);
        return data;
    }
}
