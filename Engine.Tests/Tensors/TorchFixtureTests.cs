using System.Text.Json;

namespace Engine.Tests;

/// <summary>
/// A representative set of the N-d ops against PyTorch 1.13 (Golden/nd_ops.json from make_nd_golden.py): outputs, the
/// indices of sort/topk, and the gradients of Σ out·w for a stored w, on every backend.
/// </summary>
public class TorchFixtureTests
{
    private static readonly TorchFixture Fixture = new("nd_ops.json");

    public static TheoryData<string> Names() => Fixture.Names();

    private static int[] Ints(JsonElement e) => TorchFixture.Ints(e);

    private static float[] Floats(JsonElement e) => TorchFixture.Floats(e);

    /// <summary>The engine's call for a case; <paramref name="indices"/> gets sort/topk's positions.</summary>
    private static Tensor Run(string name, Tensor[] x, Tensor[] i, out Tensor? indices)
    {
        indices = null;
        switch (name)
        {
            case "permute": return x[0].Permute(2, 0, 3, 1);
            case "transpose_matmul": return x[0].MatMul(x[1].Transpose(-2, -1));
            case "matmul_broadcast":
            case "matmul_vector": return x[0].MatMul(x[1]);
            case "broadcast_mul": return x[0] * x[1];
            case "expand_repeat": return x[0].Expand(3, 2, 4).Repeat(1, 2, 1);
            case "cat_stack": return Tensor.Cat(new[] { Tensor.Stack(new[] { x[0], x[1] }, 1), x[0].Unsqueeze(1) }, 1);
            case "slice_step_flip": return x[0].Slice(1, 1, null, 2).Flip(0);
            case "roll": return x[0].Roll(3, 1);
            case "pad_reflect": return x[0].Pad(new[] { 2, 1, 1, 2 }, "reflect");
            case "pad_replicate": return x[0].Pad(new[] { 2, 1 }, "replicate");
            case "pad_constant": return x[0].Pad(new[] { 1, 2, 0, 1 }, value: 0.5f);
            case "sum_dims": return x[0].Sum(new[] { 0, 2 }, keepDim: true);
            case "var_dims": return x[0].Var(new[] { 1, 2 });
            case "std_dim": return x[0].Std(new[] { 0 }, keepDim: true);
            case "logsumexp": return x[0].LogSumExp(new[] { 0, 2 });
            case "norm": return x[0].Norm(3f, new[] { 1 });
            case "softmax_dim0": return x[0].Softmax(0);
            case "prod": return x[0].Prod(1);
            case "gather": return x[0].Gather(1, i[0]);
            case "index_select": return x[0].IndexSelect(0, i[0]);
            case "embedding": return Tensor.Embedding(i[0], x[0]);
            case "scatter_add": return x[0].ScatterAdd(0, i[0], x[1]);
            case "topk":
            {
                var (v, k) = x[0].TopK(3, 1);
                indices = k;
                return v;
            }
            case "sort_desc":
            {
                var (v, k) = x[0].Sort(0, descending: true);
                indices = k;
                return v;
            }
            case "where": return Tensor.Where(x[0].Gt(0f), x[0], x[1]);
            case "tril": return x[0].Tril(-1);
            case "cross_entropy_nd": return Loss.CrossEntropy(x[0], i[0]);
            case "nll": return Loss.Nll(x[0].LogSoftmax(1), i[0]);
            case "huber": return Loss.Huber(x[0] * 2f, x[1], 0.7f);
            case "smooth_l1": return Loss.SmoothL1(x[0] * 2f, x[1], 0.5f);
            case "l1": return Loss.L1(x[0], x[1]);
            case "bce": return Loss.Bce(x[0].Sigmoid(), x[1].Sigmoid());
            case "kl_div": return Loss.KlDiv(x[0].LogSoftmax(1), x[1].Softmax(1), batchMean: true);
            case "silu_mish_elu": return x[0].Silu() + x[0].Mish() + x[0].Elu(0.7f) + x[0].Hardtanh(-0.5f, 0.8f);
            case "sin_cos_erf": return x[0].Sin() * x[0].Cos() + x[0].Erf();
            case "rsqrt_reciprocal": return x[0].Rsqrt() + x[0].Reciprocal() + x[0].Square();
            case "maximum": return Tensor.Maximum(x[0], x[1]) + Tensor.Minimum(x[0], x[1] * 0.5f);
            default: throw new ArgumentException($"no engine call for fixture case '{name}'");
        }
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
        var i = c.GetProperty("ints").EnumerateArray()
            .Select(e => Tensor.FromArray(dev, Ints(e.GetProperty("values")).Select(v => (long)v).ToArray(), Ints(e.GetProperty("shape"))))
            .ToArray();
        var y = Run(name, x, i, out var indices);
        Assert.Equal(Ints(c.GetProperty("shape")), y.Shape);
        Expect.Close(Floats(c.GetProperty("out")), y.ToArray(), 1e-5, 1e-4, $"{name}: output");
        if (indices != null)
            Assert.Equal(Ints(c.GetProperty("indices")).Select(v => (long)v).ToArray(), indices.ToArray<long>());
        (y * Tensor.FromArray(dev, Floats(c.GetProperty("w")), y.Shape)).Sum().Backward();
        var grads = c.GetProperty("grads").EnumerateArray().ToArray();
        for (int k = 0; k < x.Length; k++)
            Expect.Close(Floats(grads[k]), x[k].Grad?.ToArray() ?? new float[x[k].Numel], 1e-5, 1e-4, $"{name}: gradient of input {k}");
    }
}
