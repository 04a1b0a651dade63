using Engine.Nn;

namespace Engine.Tests.Nn;

/// <summary>
/// <see cref="Embedding"/>'s max_norm against PyTorch 1.13 (Golden/embedding.json from make_embedding_golden.py): the
/// looked-up rows renormalised in place before the lookup (repeated indices, the 1-norm, a padding row), the output and
/// the weight's gradient; and the bad values.
/// </summary>
public class EmbeddingMaxNormTests
{
    private static Device Dev => TestDevice.Instance;
    private static readonly TorchFixture Golden = new("embedding.json");

    public static TheoryData<string> Cases => Golden.Names();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Max_norm_matches_pytorch(string name)
    {
        var c = Golden.Case(name);
        using var scope = new DisposeScope();
        int? padding = c.GetProperty("padding_idx").ValueKind == System.Text.Json.JsonValueKind.Null
            ? null : c.GetProperty("padding_idx").GetInt32();
        using var embedding = new Embedding(Dev, c.GetProperty("num").GetInt32(), c.GetProperty("dim").GetInt32(), seed: 1,
            paddingIdx: padding, maxNorm: (float)c.GetProperty("max_norm").GetDouble(),
            normType: (float)c.GetProperty("norm_type").GetDouble());
        embedding.Weight.CopyFrom(TorchFixture.Floats(c.GetProperty("weight")));
        var indices = Tensor.FromArray(Dev, TorchFixture.Ints(c.GetProperty("indices")),
            TorchFixture.Ints(c.GetProperty("indices_shape")));
        var output = embedding.Forward(indices);
        Expect.Close(TorchFixture.Floats(c.GetProperty("weight_after")), embedding.Weight.ToArray(), 1e-6, 1e-5,
            $"{name}: weight after the renorm");
        Expect.Close(TorchFixture.Floats(c.GetProperty("output")), output.ToArray(), 1e-6, 1e-5, $"{name}: output");
        output.Backward(Tensor.FromArray(Dev, TorchFixture.Floats(c.GetProperty("grad_output")), output.Shape));
        Expect.Close(TorchFixture.Floats(c.GetProperty("weight_grad")), embedding.Weight.Grad!.ToArray(), 1e-6, 1e-5,
            $"{name}: weight gradient");
    }

    [Fact]
    public void Rows_not_looked_up_are_untouched_and_a_second_lookup_changes_nothing()
    {
        using var scope = new DisposeScope();
        using var embedding = new Embedding(Dev, 6, 3, seed: 2, maxNorm: 0.1f);
        var before = embedding.Weight.ToArray();
        embedding.Forward(Tensor.FromArray(Dev, new[] { 4, 1, 4 }, new[] { 3 }));
        var after = embedding.Weight.ToArray();
        for (int row = 0; row < 6; row++)
        {
            var r = after.Skip(row * 3).Take(3).ToArray();
            if (row is 1 or 4) Assert.InRange(MathF.Sqrt(r.Sum(v => v * v)), 0.0999f, 0.1f);
            else Assert.Equal(before.Skip(row * 3).Take(3), r);
        }
        embedding.Forward(Tensor.FromArray(Dev, new[] { 1, 4 }, new[] { 2 }));
        Assert.Equal(after, embedding.Weight.ToArray());
    }

    [Fact]
    public void Bad_max_norm_or_norm_type_names_the_value()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(Dev, 4, 2, maxNorm: 0f));
        Assert.Contains("max_norm must be > 0, got 0", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(Dev, 4, 2, maxNorm: 1f, normType: -1f));
        Assert.Contains("norm_type must be > 0, got -1", e.Message);
    }
}
