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
        using (var images = new BinaryWriter(File.Create(Path.Combine(folder, $"{prefix}-images-idx3-ubyte"))))
        {
            foreach (int v in new[] { 0x803, count, 28, 28 }) images.Write(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v));
            for (int i = 0; i < count * 784; i++) images.Write((byte)MathF.Round(data.Features[i] * 255f));
        }
        using var labels = new BinaryWriter(File.Create(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte")));
        foreach (int v in new[] { 0x801, count }) labels.Write(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v));
        for (int i = 0; i < count; i++) labels.Write((byte)data.Labels![i]);
    }

    [Theory]
    [InlineData("online", "online mode (sgd, lr 0.03, one pass)")]
    [InlineData("batch", "batch mode (adam, lr 0.001, batch 64)")]
    public void Each_mode_defaults_to_the_main_jobs_recipe(string mode, string expected)
    {
        string bundled = Path.Combine(AppContext.BaseDirectory, "BundledData");
        var train = IdxLoader.LoadMnist(Path.Combine(bundled, "train-images-idx3-ubyte.gz"), Path.Combine(bundled, "train-labels-idx1-ubyte.gz"));
        var test = IdxLoader.LoadMnist(Path.Combine(bundled, "t10k-images-idx3-ubyte.gz"), Path.Combine(bundled, "t10k-labels-idx1-ubyte.gz"));
        WriteIdx(folder, "train", train, 256);
        WriteIdx(folder, "t10k", test, 64);

        string output = ExamplesProcess.Run("mnist", "--mode", mode, "--epochs", "1", "--data", folder);
        Assert.Contains(expected, output);
        Assert.Contains("MNIST 256 train / 64 test", output);
        Assert.Contains($"{mode}: test accuracy", output);
    }
}
