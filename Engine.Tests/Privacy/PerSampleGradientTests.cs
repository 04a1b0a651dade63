using Engine.Nn;
using Engine.Privacy;
using FsCheck;
using FsCheck.Xunit;

namespace Engine.Tests.Privacy;

/// <summary>
/// Per-sample gradients of each supported layer equal a batch-1 loop's: sample i run alone through the model, its own
/// loss lᵢ = Σ yᵢ ⊙ rᵢ (fixed random rᵢ) back-propagated, the parameters' gradients read. The batched run back-propagates
/// the mean (1/B)·Σᵢ lᵢ, as training does. On the suite's device, so on every backend.
/// </summary>
public sealed class PerSampleGradientTests
{
    private static Device Dev => TestDevice.Instance;

    public static TheoryData<string> Models() => new() { "linear-2d", "linear-3d", "conv2d", "conv2d-groups-same-reflect",
        "conv2d-strided-dilated", "embedding", "layernorm", "mixed" };

    /// <summary>A model, its input for a batch of B (sample shape after B), and whether the input is indices.</summary>
    private static (Module Model, int[] SampleShape, bool Indices) Build(string name) => name switch
    {
        "linear-2d" => (new Sequential(new Linear(Dev, 5, 4, seed: 1), new Tanh(), new Linear(Dev, 4, 3, seed: 2)), new[] { 5 }, false),
        "linear-3d" => (new Sequential(new Linear(Dev, 5, 3, seed: 3)), new[] { 2, 5 }, false),
        "conv2d" => (new Sequential(new Conv2d(Dev, 2, 3, (3, 2), padding: 1, seed: 4)), new[] { 2, 5, 4 }, false),
        "conv2d-groups-same-reflect" => (new Sequential(new Conv2d(Dev, 4, 2, 3, padding: "same", groups: 2,
            paddingMode: "reflect", seed: 5)), new[] { 4, 4, 5 }, false),
        "conv2d-strided-dilated" => (new Sequential(new Conv2d(Dev, 1, 2, (2, 3), stride: (2, 1), dilation: (1, 2),
            bias: false, seed: 6)), new[] { 1, 6, 7 }, false),
        "embedding" => (new Sequential(new Embedding(Dev, 6, 3, seed: 7, paddingIdx: 0)), new[] { 4 }, true),
        "layernorm" => (new Sequential(new Linear(Dev, 3, 6, seed: 8), new Unflatten(2, 2, 3), new LayerNorm(Dev, new[] { 2, 3 })),
            new[] { 2, 3 }, false),
        "mixed" => (new Sequential(new Embedding(Dev, 5, 4, seed: 9), new LayerNorm(Dev, 4), new Linear(Dev, 4, 2, seed: 10)),
            new[] { 3 }, true),
        _ => throw new ArgumentException(name),
    };

    private static Tensor Input(int[] shape, bool indices, int seed)
    {
        var rng = new Random(seed);
        int n = shape.Aggregate(1, (a, b) => a * b);
        if (indices)
        {
            var idx = new long[n];
            for (int i = 0; i < n; i++) idx[i] = rng.Next(0, 5); // repeats and the padding row 0 included
            return Tensor.FromArray(Dev, idx, shape);
        }
        return Tensor.FromArray(Dev, Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), shape);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void PerSampleGradientsEqualABatchOneLoop(string name)
    {
        using var scope = new DisposeScope();
        var (model, sampleShape, indices) = Build(name);
        using var _ = model;
        CheckAgainstTheLoop(model, Input(sampleShape.Prepend(3).ToArray(), indices, 11), name);
    }

    /// <summary>Linear (over 2-D or 3-D input) then LayerNorm, random sizes and batches: the same equality (FsCheck).</summary>
    [Property(MaxTest = 20)]
    public void LinearAndLayerNormAgreeWithTheLoopForRandomShapes(PositiveInt batch, PositiveInt inputs, PositiveInt outputs,
        PositiveInt steps, bool sequence, int seed)
    {
        int b = 1 + batch.Get % 4, i = 1 + inputs.Get % 5, o = 1 + outputs.Get % 4, t = 1 + steps.Get % 3;
        using var scope = new DisposeScope();
        using var model = new Sequential(new Linear(Dev, i, o, seed: seed), new Tanh(), new LayerNorm(Dev, o));
        var shape = sequence ? new[] { b, t, i } : new[] { b, i };
        CheckAgainstTheLoop(model, Input(shape, false, seed), $"batch {b}, in {i}, out {o}, {(sequence ? $"T {t}" : "2-D")}");
    }

    /// <summary>
    /// Runs each sample of <paramref name="x"/> alone (its loss Σ yᵢ ⊙ rᵢ back-propagated), then the batch with the hooks
    /// (the mean loss), and compares every parameter's per-sample gradients and the squared norms.
    /// </summary>
    private static void CheckAgainstTheLoop(Module model, Tensor x, string what)
    {
        int b = x.Shape[0];
        var parameters = model.Parameters().ToArray();
        var expected = parameters.Select(p => new float[b * p.Numel]).ToArray();
        Tensor? r = null;
        for (int i = 0; i < b; i++)
        {
            var y = model.Forward(x.Narrow(0, i, 1).Contiguous());
            r ??= Tensor.RandN(Dev, new[] { b }.Concat(y.Shape.Skip(1)).ToArray(), seed: 12);
            (y * r.Narrow(0, i, 1)).Sum().Backward();
            for (int k = 0; k < parameters.Length; k++)
            {
                Array.Copy(parameters[k].Grad!.ToArray(), 0, expected[k], i * parameters[k].Numel, parameters[k].Numel);
                parameters[k].ZeroGrad();
            }
        }
        using var perSample = new PerSampleGradients(model);
        ((model.Forward(x) * r!).Sum() / b).Backward();
        Assert.Equal(b, perSample.BatchSize);
        var norms = perSample.SquaredNorms.ToArray();
        var expectedNorms = new double[b];
        for (int k = 0; k < parameters.Length; k++)
        {
            var actual = perSample.GradSample(parameters[k]);
            Assert.Equal(parameters[k].Shape.Prepend(b), actual.Shape);
            AssertClose(expected[k], actual.ToArray(), $"{what} parameter {k}");
            for (int i = 0; i < b; i++)
                for (int j = 0; j < parameters[k].Numel; j++) expectedNorms[i] += Math.Pow(expected[k][i * parameters[k].Numel + j], 2);
        }
        AssertClose(expectedNorms.Select(v => (float)v).ToArray(), norms, $"{what} squared norms");
    }

    [Fact]
    public void ForwardAndBackwardHooksSeeTheLayersInputAndOutputGradient()
    {
        using var scope = new DisposeScope();
        using var layer = new Linear(Dev, 3, 2, seed: 1);
        Tensor? seenInput = null;
        float[]? seenGrad = null;
        using var f = layer.RegisterForwardHook((_, input, _) => seenInput = input);
        var b = layer.RegisterFullBackwardHook((_, g) => seenGrad = g.ToArray());
        var x = Tensor.FromArray(Dev, new[] { 1f, 2, 3, 4, 5, 6 }, new[] { 2, 3 });
        (layer.Forward(x) * 3f).Sum().Backward();
        Assert.Same(x, seenInput);
        Assert.Equal(new[] { 3f, 3, 3, 3 }, seenGrad);
        b.Dispose();
        seenGrad = null;
        layer.Forward(x).Sum().Backward();
        Assert.Null(seenGrad);
    }

    /// <summary>Disposing removes the hooks and gives Linear and Conv2d their ordinary weight gradient back.</summary>
    [Fact]
    public void AfterDisposeThePlainGradientsComeBack()
    {
        using var scope = new DisposeScope();
        using var model = new Sequential(new Conv2d(Dev, 1, 2, 2, seed: 1), new Flatten(), new Linear(Dev, 8, 2, seed: 2));
        var x = Input(new[] { 2, 1, 3, 3 }, false, 5);
        float[] Grads()
        {
            model.Forward(x).Sum().Backward();
            var g = model.Parameters().SelectMany(p => p.Grad!.ToArray()).ToArray();
            foreach (var p in model.Parameters()) p.ZeroGrad();
            return g;
        }
        var before = Grads();
        var perSample = new PerSampleGradients(model);
        var during = Grads();
        Assert.Equal(0f, during.Take(8).Select(Math.Abs).Sum()); // the conv weight's batch gradient is left to the hooks
        perSample.Dispose();
        Assert.Equal(before, Grads());
    }

    [Fact]
    public void AModelWithAnUnsupportedTrainableLayerIsRefusedNamingIt()
    {
        using var model = new Sequential(new Linear(Dev, 2, 4, seed: 1), new BatchNorm1d(Dev, 4), new Linear(Dev, 4, 2, seed: 2));
        var e = Assert.Throws<NotSupportedException>(() => new PerSampleGradients(model));
        Assert.Contains("BatchNorm1d", e.Message);
        Assert.Contains("'1'", e.Message);
    }

    [Fact]
    public void AFrozenUnsupportedLayerIsAccepted()
    {
        using var model = new Sequential(new Linear(Dev, 2, 4, seed: 1), new BatchNorm1d(Dev, 4), new Linear(Dev, 4, 2, seed: 2));
        foreach (var (name, p) in model.NamedParameters()) if (name.StartsWith("1.")) p.RequiresGrad = false;
        using var perSample = new PerSampleGradients(model);
        Assert.Equal(4, perSample.Parameters.Count);
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 + 1e-4 * Math.Abs(expected[i]),
                $"{what}: element {i} is {actual[i]}, the batch-1 loop gave {expected[i]}");
    }
}
