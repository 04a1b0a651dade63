using System.Globalization;
using System.Text.Json;
using Engine.Nn;
using Engine.Serialization;

namespace Engine.Tests.Nn;

/// <summary>
/// MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer and TransformerEncoder: outputs, attention
/// weights and every input and parameter gradient equal PyTorch 1.13's (Golden/transformer.json from
/// make_transformer_golden.py) after loading PyTorch's state dict by name; state dicts have PyTorch's keys in PyTorch's
/// order and round-trip; gradients match finite differences of a double reference; bad shapes are refused naming the
/// module and the shape.
/// </summary>
public class AttentionModuleTests
{
    private static readonly TorchFixture Golden = new("transformer.json");

    public static TheoryData<string> Cases() => Golden.Names();

    private static Device Dev => TestDevice.Instance;

    // ---- reading the fixture -----------------------------------------------------------------------------------

    private static float[] Values(JsonElement e) => e.EnumerateArray()
        .Select(v => v.ValueKind == JsonValueKind.String
            ? float.Parse(v.GetString()!, CultureInfo.InvariantCulture)
            : (float)v.GetDouble())
        .ToArray();

    private static Tensor Load(JsonElement entry, bool requiresGrad = false)
    {
        var shape = TorchFixture.Ints(entry.GetProperty("shape"));
        var values = entry.GetProperty("values");
        if (entry.GetProperty("dtype").GetString() == "bool")
            return Tensor.FromArray(Dev, values.EnumerateArray().Select(v => v.GetBoolean()).ToArray(), shape);
        return Tensor.FromArray(Dev, Values(values), shape, requiresGrad);
    }

    private static Dictionary<string, HostTensor> State(JsonElement c)
    {
        var state = new Dictionary<string, HostTensor>();
        foreach (var p in c.GetProperty("state").EnumerateObject())
            state[p.Name] = new HostTensor(TorchFixture.Ints(p.Value.GetProperty("shape")), Values(p.Value.GetProperty("values")));
        return state;
    }

    private static int? OptionalInt(JsonElement c, string name) =>
        c.GetProperty(name).ValueKind == JsonValueKind.Null ? null : c.GetProperty(name).GetInt32();

    private static TransformerEncoderLayer EncoderLayer(JsonElement c) =>
        new(Dev, c.GetProperty("d_model").GetInt32(), c.GetProperty("nhead").GetInt32(),
            c.GetProperty("dim_feedforward").GetInt32(), dropout: 0f, c.GetProperty("activation").GetString()!,
            batchFirst: c.GetProperty("batch_first").GetBoolean(), normFirst: c.GetProperty("norm_first").GetBoolean());

    private static Module Build(JsonElement c) => c.GetProperty("kind").GetString() switch
    {
        "mha" => new MultiheadAttention(Dev, c.GetProperty("embed_dim").GetInt32(), c.GetProperty("num_heads").GetInt32(),
            bias: c.GetProperty("bias").GetBoolean(), batchFirst: c.GetProperty("batch_first").GetBoolean(),
            kdim: OptionalInt(c, "kdim"), vdim: OptionalInt(c, "vdim")),
        "encoder_layer" => EncoderLayer(c),
        "encoder" => new TransformerEncoder(EncoderLayer(c), c.GetProperty("num_layers").GetInt32(),
            new LayerNorm(Dev, c.GetProperty("d_model").GetInt32())),
        "decoder_layer" => new TransformerDecoderLayer(Dev, c.GetProperty("d_model").GetInt32(),
            c.GetProperty("nhead").GetInt32(), c.GetProperty("dim_feedforward").GetInt32(), dropout: 0f,
            c.GetProperty("activation").GetString()!, batchFirst: c.GetProperty("batch_first").GetBoolean(),
            normFirst: c.GetProperty("norm_first").GetBoolean()),
        var kind => throw new ArgumentException(kind),
    };

    /// <summary>The case's forward on <paramref name="module"/>: its inputs (as gradient leaves) and output and weights.</summary>
    private static (Dictionary<string, Tensor> Inputs, Tensor Output, Tensor? Weights) Run(Module module, JsonElement c)
    {
        var inputs = c.GetProperty("inputs").EnumerateObject().ToDictionary(p => p.Name, p => Load(p.Value, requiresGrad: true));
        var masks = c.GetProperty("masks").EnumerateObject().ToDictionary(p => p.Name, p => Load(p.Value));
        Tensor? Mask(string name) => masks.GetValueOrDefault(name);
        switch (module)
        {
            case MultiheadAttention mha:
            {
                var (q, k, v) = inputs.TryGetValue("x", out var x) ? (x, x, x) : (inputs["query"], inputs["key"], inputs["value"]);
                var (output, weights) = mha.Forward(q, k, v, Mask("key_padding_mask"), c.GetProperty("need_weights").GetBoolean(),
                    Mask("attn_mask"), c.GetProperty("average_attn_weights").GetBoolean());
                return (inputs, output, weights);
            }
            case TransformerEncoderLayer layer:
                return (inputs, layer.Forward(inputs["src"], Mask("src_mask"), Mask("src_key_padding_mask")), null);
            case TransformerEncoder encoder:
                return (inputs, encoder.Forward(inputs["src"], Mask("src_mask"), Mask("src_key_padding_mask")), null);
            case TransformerDecoderLayer decoder:
                return (inputs, decoder.Forward(inputs["tgt"], inputs["memory"], Mask("tgt_mask"), Mask("memory_mask"),
                    Mask("tgt_key_padding_mask"), Mask("memory_key_padding_mask")), null);
            default:
                throw new ArgumentException(module.GetType().Name);
        }
    }

    // ---- PyTorch's numbers -------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases))]
    public void Outputs_weights_and_gradients_equal_pytorchs(string name)
    {
        const double atol = 2e-5, rtol = 1e-4;
        var c = Golden.Case(name);
        using var scope = new DisposeScope();
        using var module = Build(c);
        module.LoadStateDict(State(c));
        var (inputs, output, weights) = Run(module, c);
        Assert.Equal(TorchFixture.Ints(c.GetProperty("output").GetProperty("shape")), output.Shape);
        Expect.Close(Values(c.GetProperty("output").GetProperty("values")), output.ToArray(), atol, rtol, $"{name}: output");
        var loss = (output * Tensor.FromArray(Dev, Values(c.GetProperty("grad_output")), output.Shape)).Sum();
        if (c.TryGetProperty("weights", out var expectedWeights))
        {
            Assert.NotNull(weights);
            Assert.Equal(TorchFixture.Ints(expectedWeights.GetProperty("shape")), weights!.Shape);
            Expect.Close(Values(expectedWeights.GetProperty("values")), weights.ToArray(), atol, rtol, $"{name}: weights");
            loss = loss + (weights * Tensor.FromArray(Dev, Values(c.GetProperty("grad_weights")), weights.Shape)).Sum();
        }
        else
        {
            Assert.Null(weights);
        }
        loss.Backward();
        foreach (var g in c.GetProperty("input_grads").EnumerateObject())
            Expect.Close(Values(g.Value), inputs[g.Name].Grad!.ToArray(), atol, rtol, $"{name}: d{g.Name}");
        var parameters = module.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        Assert.Equal(c.GetProperty("param_grads").EnumerateObject().Select(p => p.Name), parameters.Keys);
        foreach (var g in c.GetProperty("param_grads").EnumerateObject())
            Expect.Close(Values(g.Value), parameters[g.Name].Grad!.ToArray(), atol, rtol, $"{name}: d{g.Name}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void State_dicts_have_pytorchs_keys_in_order_and_round_trip(string name)
    {
        var c = Golden.Case(name);
        using var scope = new DisposeScope();
        using var first = Build(c);
        var torchState = State(c);
        Assert.Equal(torchState.Keys, first.StateDict().Keys);
        first.LoadStateDict(torchState);
        var saved = first.StateDict();
        foreach (var (key, tensor) in torchState)
            Assert.Equal(tensor.Values, saved[key].Values);

        // A second model (initialised afresh) given the first's state dict computes the same numbers.
        using var second = Build(c);
        second.LoadStateDict(saved);
        Assert.Equal(Run(first, c).Output.ToArray(), Run(second, c).Output.ToArray());
    }

    /// <summary>Every case's module, initialised by the engine (not from PyTorch's state), saved and loaded by PyTorch.</summary>
    [Fact]
    public void PyTorch_loads_the_engines_own_state_dicts_and_computes_the_same_outputs() =>
        TorchLoadsEngineState.Check("transformer.json", files =>
        {
            foreach (var name in Cases().Select(row => row.Data))
            {
                var c = Golden.Case(name);
                using var scope = new DisposeScope();
                using var module = Build(c);
                var (weights, output) = files(name);
                module.Save(weights);
                TorchLoadsEngineState.WriteFloats(output, Run(module, c).Output);
            }
        });

    [Fact]
    public void A_saved_encoder_loads_back_from_a_safetensors_file()
    {
        var c = Golden.Case("encoder_stack");
        using var scope = new DisposeScope();
        using var saved = Build(c);
        saved.LoadStateDict(State(c));
        var path = Path.Combine(Path.GetTempPath(), $"encoder-{Guid.NewGuid():N}.safetensors");
        try
        {
            saved.Save(path);
            using var loaded = Build(c);
            loaded.Load(path);
            Expect.Close(Values(c.GetProperty("output").GetProperty("values")), Run(loaded, c).Output.ToArray(), 2e-5, 1e-4,
                "output after loading the file");
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- paths agree -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_fused_path_equals_the_composition_that_returns_weights(bool causal)
    {
        using var scope = new DisposeScope();
        using var mha = new MultiheadAttention(Dev, 12, 3, seed: 5);
        var x = Tensor.FromArray(Dev, Reference.RandomValues(1, 5 * 2 * 12, -1, 1), new[] { 5, 2, 12 });
        var fused = mha.Forward(x, x, x, needWeights: false, isCausal: causal);
        var composed = mha.Forward(x, x, x, needWeights: true, isCausal: causal);
        Assert.Null(fused.Weights);
        Expect.Close(composed.Output.ToArray(), fused.Output.ToArray(), 1e-5, 1e-4, "fused vs composed");
        if (!causal) Expect.Close(fused.Output.ToArray(), mha.Forward(x).ToArray(), 0, 0, "Forward(x) is self-attention");
        else
        {
            // Query i gives no weight to keys after i, and the hint's output equals the explicit bool mask's.
            var w = composed.Weights!.ToArray();
            for (int n = 0; n < 2; n++)
                for (int i = 0; i < 5; i++)
                    for (int j = i + 1; j < 5; j++) Assert.Equal(0f, w[(n * 5 + i) * 5 + j]);
            var future = Tensor.Ones(Dev, new[] { 5, 5 }).Triu(1).Ne(0f);
            Expect.Close(fused.Output.ToArray(), mha.Forward(x, x, x, needWeights: false, attnMask: future).Output.ToArray(),
                1e-5, 1e-4, "is_causal vs bool mask");
        }
    }

    [Fact]
    public void Attention_dropout_acts_in_training_only()
    {
        using var scope = new DisposeScope();
        using var dropped = new MultiheadAttention(Dev, 8, 2, dropout: 0.5f, seed: 4);
        using var plain = new MultiheadAttention(Dev, 8, 2, seed: 4);
        var x = Tensor.FromArray(Dev, Reference.RandomValues(2, 6 * 8, -1, 1), new[] { 6, 1, 8 });
        var (_, weights) = dropped.Forward(x, x, x, averageAttnWeights: false);
        var (_, kept) = plain.Forward(x, x, x, averageAttnWeights: false);
        var w = weights!.ToArray();
        var k = kept!.ToArray();
        // Each weight is dropped (0) or kept and scaled by 1/(1 − p), as torch returns them after dropout.
        Assert.All(w.Select((v, i) => (v, i)), p => Assert.True(p.v == 0f || Math.Abs(p.v - 2 * k[p.i]) <= 1e-5,
            $"weight {p.i}: {p.v} is neither 0 nor 2 × {k[p.i]}"));
        Assert.InRange(w.Count(v => v == 0f), w.Length / 5, 4 * w.Length / 5);
        dropped.Eval();
        Expect.Close(plain.Forward(x).ToArray(), dropped.Forward(x).ToArray(), 1e-6, 1e-6, "eval: no dropout");
        Expect.Close(k, dropped.Forward(x, x, x, averageAttnWeights: false).Weights!.ToArray(), 1e-6, 1e-6, "eval weights");
    }

    // ---- finite differences ------------------------------------------------------------------------------------

    [Fact]
    public void Multihead_attention_gradients_match_finite_differences()
    {
        const int n = 2, l = 3, s = 4, e = 6, h = 2;
        using var scope = new DisposeScope();
        using var mha = new MultiheadAttention(Dev, e, h, batchFirst: true, seed: 3);
        Randomize(mha, 30);
        var padding = new[] { false, false, true, false, true, false, false, false };
        var floatMask = Reference.RandomValues(31, l * s, -1, 1);
        var additive = new double[n * h * l * s];
        for (int b = 0; b < n; b++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < l; i++)
                    for (int j = 0; j < s; j++)
                        additive[((b * h + hh) * l + i) * s + j] = floatMask[i * s + j] + (padding[b * s + j] ? double.NegativeInfinity : 0);
        var kpm = Tensor.FromArray(Dev, padding, new[] { n, s });
        var attnMask = Tensor.FromArray(Dev, floatMask, new[] { l, s });
        CheckFiniteDifferences(mha,
            new[] { Reference.RandomValues(32, n * l * e, -1, 1), Reference.RandomValues(33, n * s * e, -1, 1),
                Reference.RandomValues(34, n * s * e, -1, 1) },
            new[] { new[] { n, l, e }, new[] { n, s, e }, new[] { n, s, e } },
            t =>
            {
                var (output, weights) = mha.Forward(t[0], t[1], t[2], kpm, needWeights: true, attnMask: attnMask);
                return Tensor.Cat(new[] { output.Reshape(-1), weights!.Reshape(-1) });
            },
            (p, x) =>
            {
                var (output, weights) = TransformerReference.Attention(p, "", x[0], x[1], x[2], n, l, s, e, h, additive);
                return output.Concat(weights).ToArray();
            });
    }

    [Theory]
    [InlineData(false, "relu")]
    [InlineData(true, "gelu")]
    public void Encoder_layer_gradients_match_finite_differences(bool normFirst, string activation)
    {
        const int n = 2, s = 3, d = 4, h = 2, ff = 6;
        using var scope = new DisposeScope();
        using var layer = new TransformerEncoderLayer(Dev, d, h, ff, dropout: 0f, activation, batchFirst: true,
            normFirst: normFirst);
        Randomize(layer, 40);
        CheckFiniteDifferences(layer, new[] { Reference.RandomValues(41, n * s * d, -1, 1) },
            new[] { new[] { n, s, d } },
            t => layer.Forward(t[0]),
            (p, x) => TransformerReference.EncoderLayer(p, x[0], n, s, d, h, ff, normFirst, activation));
    }

    /// <summary>Non-trivial values in every parameter (the modules start with zero biases and unit norms).</summary>
    private static void Randomize(Module module, int seed)
    {
        foreach (var (name, p) in module.NamedParameters())
            p.CopyFrom(name.Contains("norm", StringComparison.Ordinal) && name.EndsWith("weight", StringComparison.Ordinal)
                ? Reference.RandomValues(seed++, p.Numel, 0.7, 1.3)
                : Reference.RandomValues(seed++, p.Numel, -0.6, 0.6));
    }

    /// <summary>
    /// Every input's and parameter's gradient of L = Σ wᵢ·outᵢ against central differences of the double reference,
    /// which takes the parameters by name and the inputs.
    /// </summary>
    private static void CheckFiniteDifferences(Module module, float[][] inputs, int[][] shapes, Func<Tensor[], Tensor> forward,
        Func<Dictionary<string, double[]>, double[][], double[]> reference)
    {
        var leaves = inputs.Select((x, i) => Tensor.FromArray(Dev, x, shapes[i], requiresGrad: true)).ToArray();
        var output = forward(leaves);
        var w = Reference.RandomValues(7, output.Numel, -1, 1);
        (output * Tensor.FromArray(Dev, w, output.Shape)).Sum().Backward();

        var parameters = module.NamedParameters().ToList();
        var p0 = parameters.ToDictionary(p => p.Name, p => Reference.ToDouble(p.Parameter.ToArray()));
        var x0 = inputs.Select(Reference.ToDouble).ToArray();
        double Loss(Dictionary<string, double[]> p, double[][] x)
        {
            var y = reference(p, x);
            Assert.Equal(w.Length, y.Length);
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += w[i] * (double.IsFinite(y[i]) ? y[i] : 0);
            return sum;
        }
        Expect.Close(reference(p0, x0), output.ToArray(), 1e-4, 1e-4, "forward vs the double reference");
        for (int i = 0; i < inputs.Length; i++)
        {
            int which = i;
            var numeric = Reference.NumericGradient(xi =>
            {
                var x = (double[][])x0.Clone();
                x[which] = xi;
                return Loss(p0, x);
            }, (double[])x0[which].Clone());
            Expect.Close(numeric, leaves[which].Grad!.ToArray(), 2e-3, 2e-3, $"input {which}");
        }
        foreach (var (name, tensor) in parameters)
        {
            var numeric = Reference.NumericGradient(pi =>
            {
                var p = new Dictionary<string, double[]>(p0) { [name] = pi };
                return Loss(p, x0);
            }, (double[])p0[name].Clone());
            Expect.Close(numeric, tensor.Grad!.ToArray(), 2e-3, 2e-3, name);
        }
    }

    // ---- bad input ---------------------------------------------------------------------------------------------

    [Fact]
    public void Bad_shapes_are_refused_naming_the_module_and_the_shape()
    {
        using var scope = new DisposeScope();
        var heads = Assert.Throws<ArgumentException>(() => new MultiheadAttention(Dev, 10, 3));
        Assert.Contains("MultiheadAttention", heads.Message);
        Assert.Contains("10", heads.Message);
        Assert.Contains("3", heads.Message);
        var layerHeads = Assert.Throws<ArgumentException>(() => new TransformerEncoderLayer(Dev, 10, 4));
        Assert.Contains("TransformerEncoderLayer", layerHeads.Message);
        Assert.Contains("10", layerHeads.Message);

        using var mha = new MultiheadAttention(Dev, 8, 2);
        var x = Tensor.Zeros(Dev, new[] { 3, 2, 8 });
        var narrow = Tensor.Zeros(Dev, new[] { 3, 2, 7 });
        var width = Assert.Throws<ArgumentException>(() => mha.Forward(x, narrow, narrow));
        Assert.Contains("MultiheadAttention", width.Message);
        Assert.Contains("[3, 2, 7]", width.Message);
        var rank = Assert.Throws<ArgumentException>(() => mha.Forward(Tensor.Zeros(Dev, new[] { 8 })));
        Assert.Contains("[8]", rank.Message);
        var batch = Assert.Throws<ArgumentException>(() => mha.Forward(x, Tensor.Zeros(Dev, new[] { 4, 3, 8 }), Tensor.Zeros(Dev, new[] { 4, 3, 8 })));
        Assert.Contains("batch", batch.Message);
        var mask = Assert.Throws<ArgumentException>(() =>
            mha.Forward(x, x, x, attnMask: Tensor.Zeros(Dev, new[] { 3, 4 })));
        Assert.Contains("attn_mask", mask.Message);
        Assert.Contains("[3, 4]", mask.Message);
        var padding = Assert.Throws<ArgumentException>(() =>
            mha.Forward(x, x, x, keyPaddingMask: Tensor.Zeros(Dev, new[] { 3, 2 }, dtype: DType.Bool)));
        Assert.Contains("key_padding_mask", padding.Message);
        Assert.Contains("[3, 2]", padding.Message);
        var dtype = Assert.Throws<ArgumentException>(() =>
            mha.Forward(x, x, x, attnMask: Tensor.Zeros(Dev, new[] { 3, 3 }, dtype: DType.Int32)));
        Assert.Contains("int32", dtype.Message);

        using var layer = new TransformerEncoderLayer(Dev, 8, 2, 16);
        var src = Assert.Throws<ArgumentException>(() => layer.Forward(narrow));
        Assert.Contains("TransformerEncoderLayer", src.Message);
        Assert.Contains("[3, 2, 7]", src.Message);
        var layerMask = Assert.Throws<ArgumentException>(() => layer.Forward(x, Tensor.Zeros(Dev, new[] { 3, 2 }, dtype: DType.Bool)));
        Assert.Contains("TransformerEncoderLayer.self_attn", layerMask.Message);
        Assert.Contains("attn_mask", layerMask.Message);
        Assert.Contains("[3, 2]", layerMask.Message);
        using var decoder = new TransformerDecoderLayer(Dev, 8, 2, 16);
        var memoryMask = Assert.Throws<ArgumentException>(() =>
            decoder.Forward(x, Tensor.Zeros(Dev, new[] { 5, 2, 8 }), memoryMask: Tensor.Zeros(Dev, new[] { 3, 3 })));
        Assert.Contains("TransformerDecoderLayer.multihead_attn", memoryMask.Message);
        Assert.Contains("[3, 5]", memoryMask.Message);
        var memory = Assert.Throws<ArgumentException>(() => decoder.Forward(x, narrow));
        Assert.Contains("TransformerDecoderLayer", memory.Message);
        Assert.Contains("memory", memory.Message);
    }

    [Fact]
    public void Initialisation_is_pytorchs_xavier_and_zero_biases()
    {
        using var mha = new MultiheadAttention(Dev, 16, 4, seed: 9);
        var w = mha.InProjWeight!.ToArray();
        float bound = MathF.Sqrt(6f / (16 + 48));
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.True(w.Max() > 0.8f * bound && w.Min() < -0.8f * bound, "xavier_uniform should fill its range");
        Assert.All(mha.InProjBias!.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(mha.OutProj.Bias!.ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(new[] { "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias" },
            mha.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void An_encoder_of_copies_starts_with_equal_layers_and_a_factory_with_fresh_ones()
    {
        using var scope = new DisposeScope();
        using var layer = new TransformerEncoderLayer(Dev, 8, 2, 16, dropout: 0f);
        using var copies = new TransformerEncoder(layer, 3);
        Assert.Equal(3, copies.NumLayers);
        Assert.Equal(layer.Linear1.Weight.ToArray(), copies.Layers[2].Linear1.Weight.ToArray());
        Assert.NotSame(copies.Layers[0].Linear1.Weight, copies.Layers[1].Linear1.Weight);
        Assert.Contains("layers.2.self_attn.out_proj.weight", copies.StateDict().Keys);
        using var fresh = new TransformerEncoder(() => new TransformerEncoderLayer(Dev, 8, 2, 16, dropout: 0f), 2);
        Assert.NotEqual(fresh.Layers[0].Linear1.Weight.ToArray(), fresh.Layers[1].Linear1.Weight.ToArray());
        Assert.Null(fresh.Norm);
        var x = Tensor.FromArray(Dev, Reference.RandomValues(3, 4 * 2 * 8, -1, 1), new[] { 4, 2, 8 });
        var expected = fresh.Layers[1].Forward(fresh.Layers[0].Forward(x));
        Assert.Equal(expected.ToArray(), fresh.Forward(x).ToArray());
    }
}
