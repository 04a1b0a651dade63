using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Engine.Nn;
using Engine.Serialization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Engine.Tests.Serialization;

public class SafeTensorsTests
{
    private static Device Dev => TestDevice.Instance;

    internal static string Fixture(string name) =>
        Path.Combine(AppContext.BaseDirectory, "Serialization", "Fixtures", name);

    /// <summary>The torch model the fixtures hold: Sequential(Linear(4, 8), ReLU, Linear(8, 3)).</summary>
    private static Sequential Mlp() => new(new Linear(Dev, 4, 8, seed: 5), new Relu(), new Linear(Dev, 8, 3, seed: 6));

    [Fact]
    public void Writer_reproduces_the_reference_bytes()
    {
        // The reference implementation's own serialization test: "attn.0", F32 [1, 2, 3] holding 0..5.
        var bytes = SafeTensors.Serialize(new Dictionary<string, HostTensor>
        {
            ["attn.0"] = new(new[] { 1, 2, 3 }, new[] { 0f, 1, 2, 3, 4, 5 }),
        });
        Assert.Equal(File.ReadAllBytes(Fixture("reference_attn.safetensors")), bytes);
        Assert.Equal(64UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        // An empty file with and without metadata, as the reference writes them.
        Assert.Equal(new byte[] { 8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}', 32, 32, 32, 32, 32, 32 },
            SafeTensors.Serialize(new Dictionary<string, HostTensor>()));
        var withMetadata = SafeTensors.Serialize(new Dictionary<string, HostTensor>(),
            new Dictionary<string, string> { ["framework"] = "pt" });
        Assert.Equal("{\"__metadata__\":{\"framework\":\"pt\"}}     ", Encoding.UTF8.GetString(withMetadata, 8, 40));
    }

    /// <summary>
    /// Files are written and read a chunk of values at a time (so a file past 2 GB never needs an array of it): with the
    /// chunk cut to 3 values, every dtype of the mixed reference file, written to disk and loaded back tensor by tensor
    /// from the stream, gives the reference bytes and values.
    /// </summary>
    [Theory]
    [InlineData("mlp_f32.safetensors")]
    [InlineData("mixed.safetensors")]
    public void Writing_and_loading_in_chunks_gives_the_reference_bytes_and_values(string name)
    {
        var original = File.ReadAllBytes(Fixture(name));
        var expected = SafeTensors.Deserialize(original, name);
        string path = Path.Combine(Path.GetTempPath(), $"chunked-{Guid.NewGuid():N}.safetensors");
        int saved = SafeTensors.ChunkElements;
        SafeTensors.ChunkElements = 3;
        try
        {
            SafeTensors.Save(path, expected.Tensors, expected.Metadata);
            Assert.Equal(original, File.ReadAllBytes(path));
            var loaded = SafeTensors.Load(path);
            Assert.Equal(expected.Tensors.Keys, loaded.Tensors.Keys);
            foreach (var (key, tensor) in expected.Tensors)
            {
                Assert.Equal(tensor.Values, loaded.Tensors[key].Values);
                Assert.Equal(tensor.Integers, loaded.Tensors[key].Integers);
                Assert.Equal(tensor.DType, loaded.Tensors[key].DType);
            }
        }
        finally
        {
            SafeTensors.ChunkElements = saved;
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("mlp_f32.safetensors")]
    [InlineData("mixed.safetensors")]
    public void Rewriting_a_reference_file_gives_the_same_bytes(string name)
    {
        var original = File.ReadAllBytes(Fixture(name));
        var file = SafeTensors.Deserialize(original, name);
        Assert.Equal(original, SafeTensors.Serialize(file.Tensors, file.Metadata));
    }

    [Fact]
    public void Mixed_file_reads_every_dtype_and_the_metadata()
    {
        var file = SafeTensors.Load(Fixture("mixed.safetensors"));
        Assert.Equal("mixed dtypes", file.Metadata["note"]);
        Assert.Equal(SafeTensorsDType.F64, file.Tensors["a.double"].DType);
        Assert.Equal(SafeTensorsDType.F16, file.Tensors["b.half"].DType);
        Assert.Equal(SafeTensorsDType.BF16, file.Tensors["d.bf16"].DType);
        Assert.Equal(Array.Empty<int>(), file.Tensors["scalar"].Shape);
        Assert.Equal(new[] { 3.5f }, file.Tensors["scalar"].Values);
        Assert.Equal(new[] { 2, 2 }, file.Tensors["a.double"].Shape);
    }

    [Theory]
    [InlineData("F32", 1e-6)]
    [InlineData("F64", 1e-6)]
    [InlineData("F16", 1e-6)]
    [InlineData("BF16", 1e-6)]
    public void PyTorch_file_loads_and_predicts_as_PyTorch(string dtype, double atol)
    {
        using var model = Mlp();
        model.Load(Fixture($"mlp_{dtype.ToLowerInvariant()}.safetensors"));
        using var expected = JsonDocument.Parse(File.ReadAllText(Fixture("mlp_expected.json")));
        var input = expected.RootElement.GetProperty("input").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var outputs = expected.RootElement.GetProperty("outputs").GetProperty(dtype).EnumerateArray()
            .Select(e => e.GetDouble()).ToArray();
        using var x = Tensor.FromArray(Dev, input, new[] { 5, 4 });
        using var y = model.Forward(x);
        Expect.Close(outputs, y.ToArray(), atol, 1e-5, $"{dtype} predictions");
    }

    [Fact]
    public void Model_saved_here_loads_back_and_matches_the_reference_layout()
    {
        using var source = Mlp();
        string path = Path.Combine(Path.GetTempPath(), $"engine-mlp-{Guid.NewGuid():N}.safetensors");
        try
        {
            source.Save(path, new Dictionary<string, string> { ["format"] = "pt" });
            // Same names, shapes ([out, in]) and order as torch's state_dict, so torch's load_state_dict takes it.
            var file = SafeTensors.Load(path);
            var torchFile = SafeTensors.Load(Fixture("mlp_f32.safetensors"));
            Assert.Equal(torchFile.Tensors.Keys.Order(), file.Tensors.Keys.Order());
            foreach (var (name, t) in torchFile.Tensors) Assert.Equal(t.Shape, file.Tensors[name].Shape);
            using var copy = new Sequential(new Linear(Dev, 4, 8, seed: 1), new Relu(), new Linear(Dev, 8, 3, seed: 2));
            copy.Load(path);
            foreach (var ((_, a), (_, b)) in source.NamedParameters().Zip(copy.NamedParameters()))
                Assert.Equal(a.ToArray(), b.ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static Arbitrary<HostTensor> Tensors() => Arb.From(
        from rank in Gen.Choose(0, 4)
        from shape in Gen.Choose(0, 5).ArrayOf(rank)
        from dtype in Gen.Elements(Enum.GetValues<SafeTensorsDType>())
        from seed in Gen.Choose(0, 1 << 20)
        select Make(shape, dtype, seed));

    private static HostTensor Make(int[] shape, SafeTensorsDType dtype, int seed)
    {
        var random = new Random(seed);
        int n = shape.Aggregate(1, (a, d) => a * d);
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = dtype is SafeTensorsDType.I64 or SafeTensorsDType.I32 ? random.Next(-1 << 24, 1 << 24)
                : dtype == SafeTensorsDType.BOOL ? random.Next(2) : random.Next(12) switch
            {
                0 => float.NaN,
                1 => float.PositiveInfinity,
                2 => -0f,
                3 => 1e-40f, // subnormal in F32, flushes or rounds in F16/BF16
                _ => (float)(random.NextDouble() * 2000 - 1000),
            };
        }
        return new HostTensor(shape, values, dtype);
    }

    /// <summary>What a value becomes once stored as <paramref name="dtype"/> (the conversion torch makes).</summary>
    private static float Rounded(float v, SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F16 => (float)(Half)v,
        SafeTensorsDType.BF16 => SafeTensorsDTypes.FromBFloat16(SafeTensorsDTypes.ToBFloat16(v)),
        _ => v,
    };

    [Property(Arbitrary = new[] { typeof(SafeTensorsTests) }, MaxTest = 60)]
    public void Round_trip_keeps_every_dtype_and_shape(HostTensor[] tensors)
    {
        var named = tensors.Select((t, i) => ($"layer{i}.weight", t)).ToDictionary(p => p.Item1, p => p.t);
        var bytes = SafeTensors.Serialize(named, new Dictionary<string, string> { ["k"] = "v\"\\\n" });
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(bytes) % 8);
        var back = SafeTensors.Deserialize(bytes);
        Assert.Equal("v\"\\\n", back.Metadata["k"]);
        Assert.Equal(named.Count, back.Tensors.Count);
        foreach (var (name, t) in named)
        {
            var b = back.Tensors[name];
            Assert.Equal(t.Shape, b.Shape);
            Assert.Equal(t.DType, b.DType);
            Assert.Equal(t.Values.Select(v => Rounded(v, t.DType)), b.Values);
        }
        // Writing what was read gives the same file again.
        Assert.Equal(bytes, SafeTensors.Serialize(back.Tensors, back.Metadata));
    }

    [Fact]
    public void BFloat16_rounds_to_nearest_even_like_torch()
    {
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even mantissa (1.0).
        Assert.Equal(1f, SafeTensorsDTypes.FromBFloat16(SafeTensorsDTypes.ToBFloat16(1f + 1f / 256)));
        Assert.Equal(1f + 2f / 128, SafeTensorsDTypes.FromBFloat16(SafeTensorsDTypes.ToBFloat16(1f + 3f / 256)));
        Assert.True(float.IsNaN(SafeTensorsDTypes.FromBFloat16(SafeTensorsDTypes.ToBFloat16(float.NaN))));
    }
}
