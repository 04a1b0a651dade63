using Engine.Data;

namespace Engine.Tests.Data;

/// <summary>
/// The Examples app's <c>mnist</c> command on a small IDX folder written from the bundled digits: each mode, given no
/// optimizer or lr, runs the main job's recipe for that mode (Adam 1e-3 batch, SGD 0.03 online).
/// </summary>
public sealed class MnistCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-mnist-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static void WriteIdx(string folder, string prefix, Dataset data, int count)
    {
        IdxLoader.WriteImages(Path.Combine(folder, $"{prefix}-images-idx3-ubyte"), data.Features[..(count * 784)], 28, 28);
        IdxLoader.WriteLabels(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte"), data.Labels![..count]);
    }

    [Theory]
    [InlineData("online", "online mode (sgd, lr 0.03, one pass)")]
    [InlineData("batch", "batch mode (adam, lr 0.001, batch 64)")]
    public void Each_mode_defaults_to_the_main_jobs_recipe(string mode, string expected)
    {
        WriteIdx(folder, "train", BundledMnist.Load("train"), 256);
        WriteIdx(folder, "t10k", BundledMnist.Load("t10k"), 64);

        string output = ExamplesProcess.Run("mnist", "--mode", mode, "--epochs", "1", "--data", folder);
        Assert.Contains(expected, output);
        Assert.Contains("MNIST 256 train / 64 test", output);
        Assert.Contains($"{mode}: test accuracy", output);
    }
}
