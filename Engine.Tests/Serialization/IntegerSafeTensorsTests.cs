using Engine.Serialization;

namespace Engine.Tests.Serialization;

/// <summary>
/// int64, int32 and bool tensors in safetensors (I64, I32, BOOL): a file PyTorch wrote loads with exact values and its
/// dtypes, and the engine writes the same bytes back (fixture from Golden/make_nd_golden.py).
/// </summary>
public class IntegerSafeTensorsTests
{
    private static string Fixture => Path.Combine(AppContext.BaseDirectory, "Serialization", "Fixtures", "int_tensors.safetensors");

    [Fact]
    public void Integer_and_bool_tensors_load_exactly_and_write_back_byte_for_byte()
    {
        var dev = TestDevice.Instance;
        var file = SafeTensors.Load(Fixture);
        using var scope = new DisposeScope();
        var tensors = file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor(dev));
        Assert.Equal(DType.Int64, tensors["token_ids"].DType);
        Assert.Equal(new long[] { 5, 0, 65535, 7, 2, 1 }, tensors["token_ids"].ToArray<long>());
        Assert.Equal(DType.Int32, tensors["positions"].DType);
        Assert.Equal(Enumerable.Range(-3, 7).ToArray(), tensors["positions"].ToArray<int>());
        Assert.Equal(DType.Bool, tensors["causal_mask"].DType);
        Assert.Equal(new[] { true, false, false, true, true, false, true, true, true }, tensors["causal_mask"].ToArray<bool>());
        Assert.Equal(new[] { 0.5f, -2f }, tensors["scale"].ToArray());
        var written = SafeTensors.Serialize(tensors.ToDictionary(kv => kv.Key, kv => HostTensor.From(kv.Value)));
        Assert.Equal(File.ReadAllBytes(Fixture), written);
    }
}
