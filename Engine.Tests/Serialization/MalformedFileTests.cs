using System.Buffers.Binary;
using System.Text;
using Engine.Nn;
using Engine.Serialization;

namespace Engine.Tests.Serialization;

/// <summary>Every way a safetensors file can be broken gives its own message naming the file and the problem.</summary>
public class MalformedFileTests
{
    private static Device Dev => TestDevice.Instance;

    private static byte[] Good => File.ReadAllBytes(SafeTensorsTests.Fixture("mlp_f32.safetensors"));

    /// <summary>A file with this header JSON (padded) and <paramref name="dataBytes"/> zero bytes of data.</summary>
    private static byte[] WithHeader(string json, int dataBytes)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        return file;
    }

    private static string Problem(byte[] bytes)
    {
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Deserialize(bytes, "model.safetensors"));
        Assert.StartsWith("model.safetensors: not a valid safetensors file: ", e.Message);
        return e.Problem;
    }

    [Fact]
    public void Empty_or_tiny_file() =>
        Assert.Contains("shorter than the 8-byte header length", Problem(new byte[5]));

    [Fact]
    public void Header_length_past_the_end()
    {
        var bytes = Good;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        Assert.Contains($"bad header length {bytes.Length}: the file has only", Problem(bytes));
    }

    [Fact]
    public void Header_length_absurd_as_in_a_non_safetensors_file()
    {
        var pickle = Encoding.ASCII.GetBytes("PK\x03\x04 this is a torch .pt zip archive, not safetensors");
        Assert.Contains("more than the 100,000,000-byte limit (not a safetensors file?)", Problem(pickle));
    }

    [Fact]
    public void Truncated_file()
    {
        var bytes = Good[..^10];
        Assert.Contains("are out of range: the data section has", Problem(bytes));
    }

    [Fact]
    public void Bad_json() => Assert.Contains("bad JSON in the header", Problem(WithHeader("{\"a\":{\"dtype\":", 0)));

    [Fact]
    public void Header_not_an_object() => Assert.Contains("the header is a JSON Array, not an object", Problem(WithHeader("[1,2]", 0)));

    [Fact]
    public void Invalid_utf8()
    {
        var bytes = WithHeader("{\"a\":1}", 0);
        bytes[10] = 0xFF;
        Assert.Contains("not valid UTF-8", Problem(bytes));
    }

    [Fact]
    public void Unknown_dtype() =>
        Assert.Contains("tensor 'w': unknown dtype 'F7'",
            Problem(WithHeader("{\"w\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8)));

    [Fact]
    public void Known_but_unsupported_dtype() =>
        Assert.Contains("tensor 'ids': dtype U16 cannot be loaded",
            Problem(WithHeader("{\"ids\":{\"dtype\":\"U16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8)));

    [Fact]
    public void Offsets_out_of_range() =>
        Assert.Contains("tensor 'w': data_offsets [0, 400] are out of range",
            Problem(WithHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 8)));

    [Fact]
    public void Offsets_that_do_not_match_the_shape() =>
        Assert.Contains("tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8",
            Problem(WithHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8)));

    [Fact]
    public void Overlapping_tensors() =>
        Assert.Contains("overlap the previous tensor",
            Problem(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)));

    [Fact]
    public void Data_left_over_after_the_tensors() =>
        Assert.Contains("the tensors cover 8 bytes but the data section has 12",
            Problem(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12)));

    [Fact]
    public void Negative_or_fractional_shape() =>
        Assert.Contains("is not a list of non-negative integers",
            Problem(WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8)));

    [Fact]
    public void Metadata_that_is_not_strings() =>
        Assert.Contains("__metadata__['epoch'] is a Number, not a string",
            Problem(WithHeader("{\"__metadata__\":{\"epoch\":3}}", 0)));

    [Fact]
    public void Missing_file_names_the_path()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensors.Load("/no/such/model.safetensors"));
        Assert.Contains("/no/such/model.safetensors", e.Message);
    }

    [Fact]
    public void Wrong_names_and_shapes_are_all_listed_and_nothing_is_loaded()
    {
        // A file for a 4→8→3 net loaded into a 4→8→2 net with an extra layer: every problem in one message.
        using var model = new Sequential(new Linear(Dev, 4, 8, seed: 1), new Relu(), new Linear(Dev, 8, 2, seed: 2),
            new Linear(Dev, 2, 2, seed: 3));
        var before = model.Parameters().Select(p => p.ToArray()).ToList();
        var e = Assert.Throws<ArgumentException>(() => model.Load(SafeTensorsTests.Fixture("mlp_f32.safetensors")));
        Assert.Contains("'2.weight' has shape [3, 8] in the file, [2, 8] in the model", e.Message);
        Assert.Contains("'2.bias' has shape [3] in the file, [2] in the model", e.Message);
        Assert.Contains("missing '3.weight' (shape [2, 2])", e.Message);
        Assert.Contains("missing '3.bias' (shape [2])", e.Message);
        Assert.Contains("Nothing was loaded", e.Message);
        Assert.Equal(before, model.Parameters().Select(p => p.ToArray()).ToList());

        using var smaller = new Sequential(new Linear(Dev, 4, 8, seed: 1));
        var unexpected = Assert.Throws<ArgumentException>(() => smaller.Load(SafeTensorsTests.Fixture("mlp_f32.safetensors")));
        Assert.Contains("unexpected '2.bias' (shape [3])", unexpected.Message);
        Assert.Contains("unexpected '2.weight' (shape [3, 8])", unexpected.Message);
        // Non-strict loading takes what matches.
        smaller.Load(SafeTensorsTests.Fixture("mlp_f32.safetensors"), strict: false);
    }
}
