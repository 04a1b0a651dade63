using System.Text.Json;

namespace Engine.Tests;

/// <summary>
/// Convolution, pooling, normalization and resampling against PyTorch 1.13 (Golden/conv_ops.json from
/// make_conv_golden.py): outputs, max-pool indices, running statistics and the gradients of Σ out·w, on every backend.
/// </summary>
public class ConvTorchFixtureTests
{
    private static readonly TorchFixture Fixture = new("conv_ops.json");

    public static TheoryData<string> Names() => Fixture.Names();

    private static int[] Ints(JsonElement e) => TorchFixture.Ints(e);

    private static float[] Floats(JsonElement e) => TorchFixture.Floats(e);

    private static Pair PairOf(JsonElement args, string key)
    {
        var v = Ints(args.GetProperty(key));
        return (v[0], v[1]);
    }

    private static int Last(JsonElement args, string key) => Ints(args.GetProperty(key))[^1];

    /// <summary>The engine's call for a case; max pools also give their indices, batch norm its running statistics.</summary>
    private static Tensor Run(string op, JsonElement a, Tensor[] x, out Tensor? indices, out Tensor[]? running)
    {
        indices = null;
        running = null;
        var dev = x[0].Device;
        Tensor? bias = x.Length > 2 ? x[2] : null;
        switch (op)
        {
            case "conv1d":
            case "conv2d":
            {
                var pad = a.GetProperty("padding");
                string mode = a.GetProperty("padding_mode").GetString()!;
                int groups = a.GetProperty("groups").GetInt32();
                if (op == "conv1d")
                {
                    ConvPadding p1 = pad.ValueKind == JsonValueKind.String ? pad.GetString()! : Last(a, "padding");
                    return Tensor.Conv1d(x[0], x[1], bias, Last(a, "stride"), p1, Last(a, "dilation"), groups);
                }
                var w = x[1];
                int kh = w.Shape[2], kw = w.Shape[3];
                var module = new Engine.Nn.Conv2d(dev, x[0].Shape[1], w.Shape[0], (kh, kw), PairOf(a, "stride"),
                    pad.ValueKind == JsonValueKind.String ? pad.GetString()! : (ConvPadding)(PairOf(a, "padding").H, PairOf(a, "padding").W),
                    PairOf(a, "dilation"), groups, bias != null, mode);
                // The module's own parameters replaced by the case's leaves, so their gradients are the ones checked.
                return mode == "zeros"
                    ? Tensor.Conv2d(x[0], w, bias, module.Stride, module.Padding, module.Dilation, groups)
                    : ModuleWithWeights(module, x[0], w, bias);
            }
            case "conv_transpose2d":
                return Tensor.ConvTranspose2d(x[0], x[1], bias, PairOf(a, "stride"), PairOf(a, "padding"),
                    PairOf(a, "output_padding"), a.GetProperty("groups").GetInt32(), PairOf(a, "dilation"));
            case "max_pool1d":
            {
                var (v, i) = Tensor.MaxPool1dWithIndices(x[0], Last(a, "kernel_size"), Last(a, "stride"),
                    Last(a, "padding"), Last(a, "dilation"), a.GetProperty("ceil_mode").GetBoolean());
                indices = i;
                return v;
            }
            case "max_pool2d":
            {
                var (v, i) = Tensor.MaxPool2dWithIndices(x[0], PairOf(a, "kernel_size"), PairOf(a, "stride"),
                    PairOf(a, "padding"), PairOf(a, "dilation"), a.GetProperty("ceil_mode").GetBoolean());
                indices = i;
                return v;
            }
            case "avg_pool1d":
                return Tensor.AvgPool1d(x[0], Last(a, "kernel_size"), Last(a, "stride"), Last(a, "padding"),
                    a.GetProperty("ceil_mode").GetBoolean(), a.GetProperty("count_include_pad").GetBoolean());
            case "avg_pool2d":
            {
                var d = a.GetProperty("divisor_override");
                return Tensor.AvgPool2d(x[0], PairOf(a, "kernel_size"), PairOf(a, "stride"), PairOf(a, "padding"),
                    a.GetProperty("ceil_mode").GetBoolean(), a.GetProperty("count_include_pad").GetBoolean(),
                    d.ValueKind == JsonValueKind.Null ? null : d.GetInt32());
            }
            case "adaptive_avg_pool2d": return Tensor.AdaptiveAvgPool2d(x[0], PairOf(a, "output_size"));
            case "adaptive_max_pool2d":
            {
                var (v, i) = Tensor.AdaptiveMaxPool2dWithIndices(x[0], PairOf(a, "output_size"));
                indices = i;
                return v;
            }
            case "group_norm":
                return Tensor.GroupNorm(x[0], a.GetProperty("num_groups").GetInt32(), x[1], x[2],
                    (float)a.GetProperty("eps").GetDouble());
            case "batch_norm2d":
            {
                int c = x[0].Shape[1];
                var mean = Tensor.Zeros(dev, new[] { c });
                var variance = Tensor.Ones(dev, new[] { c });
                running = new[] { mean, variance };
                return Tensor.BatchNorm(x[0], mean, variance, x[1], x[2], training: true,
                    momentum: (float)a.GetProperty("momentum").GetDouble(), eps: (float)a.GetProperty("eps").GetDouble());
            }
            case "upsample_nearest":
            case "upsample_bilinear":
            {
                var size = a.GetProperty("size");
                var scale = a.GetProperty("scale_factor");
                var corners = a.GetProperty("align_corners");
                return Tensor.Interpolate(x[0], size.ValueKind == JsonValueKind.Null ? null : PairOf(a, "size"),
                    scale.ValueKind == JsonValueKind.Null ? null : scale.GetDouble(), a.GetProperty("mode").GetString()!,
                    corners.ValueKind == JsonValueKind.Null ? null : corners.GetBoolean());
            }
            default: throw new ArgumentException($"no engine call for fixture op '{op}'");
        }
    }

    /// <summary>A padding-mode Conv2d run with the case's weight and bias (its forward pads, then convolves).</summary>
    private static Tensor ModuleWithWeights(Engine.Nn.Conv2d module, Tensor x, Tensor w, Tensor? bias)
    {
        var p = module.Padding;
        var padded = x.Pad(new[] { p.W, p.W, p.H, p.H }, module.PaddingMode);
        return Tensor.Conv2d(padded, w, bias, module.Stride, 0, module.Dilation, module.Groups);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Matches_pytorch(string name)
    {
        var c = Fixture.Case(name);
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var x = c.GetProperty("inputs").EnumerateArray()
            .Select(e => Tensor.FromArray(dev, Floats(e.GetProperty("values")), Ints(e.GetProperty("shape")), requiresGrad: true))
            .ToArray();
        var y = Run(c.GetProperty("op").GetString()!, c.GetProperty("args"), x, out var indices, out var running);
        Assert.Equal(Ints(c.GetProperty("shape")), y.Shape);
        Expect.Close(Floats(c.GetProperty("out")), y.ToArray(), 1e-5, 1e-4, $"{name}: output");
        if (indices != null)
            Assert.Equal(Ints(c.GetProperty("indices")).Select(v => (long)v).ToArray(), indices.ToArray<long>());
        if (running != null)
        {
            Expect.Close(Floats(c.GetProperty("running_mean")), running[0].ToArray(), 1e-5, 1e-4, $"{name}: running_mean");
            Expect.Close(Floats(c.GetProperty("running_var")), running[1].ToArray(), 1e-5, 1e-4, $"{name}: running_var");
        }
        (y * Tensor.FromArray(dev, Floats(c.GetProperty("w")), y.Shape)).Sum().Backward();
        var grads = c.GetProperty("grads").EnumerateArray().ToArray();
        for (int k = 0; k < x.Length; k++)
            Expect.Close(Floats(grads[k]), x[k].Grad?.ToArray() ?? new float[x[k].Numel], 1e-5, 1e-4, $"{name}: gradient of input {k}");
    }
}
