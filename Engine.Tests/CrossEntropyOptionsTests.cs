namespace Engine.Tests;

/// <summary>
/// Cross-entropy's ignore index, class weights and label smoothing, on the SIMD backend and on the ILGPU kernels:
/// values and gradients equal PyTorch 1.13's (<c>torch.nn.functional.cross_entropy</c> on the same numbers, printed into
/// this file), and the gradients match finite differences.
/// </summary>
public class CrossEntropyOptionsTests
{
    private static readonly float[] Logits = { 1f, -2f, 0.5f, 3f, 0.2f, 0.1f, -0.3f, 0f, 2f, 2f, -1f, 0.5f };
    private static readonly int[] Labels = { 3, -100, 1 };
    private static readonly float[] Weight = { 0.5f, 2f, 1f, 1.5f };

    public static IEnumerable<object[]> Cases() => new[]
    {
        new object[] { "simd", "plain", 0.5116588473320007, new[] { 0.055276867, 0.0027520738, 0.033527113, -0.091556072, 0, 0, 0, 0, 0.21998161, -0.28001839, 0.010952239, 0.049084529 } },
        new object[] { "simd", "weight", 0.5558596253395081, new[] { 0.047380175, 0.0023589206, 0.028737528, -0.078476638, 0, 0, 0, 0, 0.25140756, -0.32002103, 0.012516845, 0.056096606 } },
        new object[] { "simd", "smoothing", 0.8616588115692139, new[] { 0.030276867, -0.022247927, 0.0085271131, -0.016556084, 0, 0, 0, 0, 0.19498160, -0.20501840, -0.014047761, 0.024084529 } },
        new object[] { "simd", "both", 0.7856389880180359, new[] { 0.038657978, -0.026291139, 0.013493896, -0.025860740, 0, 0, 0, 0, 0.22540915, -0.25316226, -0.0027076320, 0.030460794 } },
    }.SelectMany(c => new[] { c, new[] { "ilgpu" }.Concat(c.Skip(1)).ToArray() });

    private static Tensor Loss(Tensor x, string options) => options switch
    {
        "weight" => Engine.Loss.CrossEntropy(x, Labels, weight: Weight),
        "smoothing" => Engine.Loss.CrossEntropy(x, Labels, labelSmoothing: 0.2f),
        "both" => Engine.Loss.CrossEntropy(x, Labels, weight: Weight, labelSmoothing: 0.2f),
        _ => Engine.Loss.CrossEntropy(x, Labels),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Values_and_gradients_equal_pytorchs(string backend, string options, double loss, double[] grad)
    {
        var dev = backend == "simd" ? TestDevice.Simd : TestDevice.Ilgpu;
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(dev, Logits, new[] { 3, 4 }, requiresGrad: true);
        var l = Loss(x, options);
        Expect.Close(new[] { loss }, new[] { l.Item() }, 1e-6, 1e-5, $"{options} loss");
        l.Backward();
        Expect.Close(grad, x.Grad!.ToArray(), 1e-6, 1e-5, $"{options} gradient");
    }

    /// <summary>The same loss in double: −(1 − ε)·w_y·log p_y − (ε/C)·Σ_c w_c·log p_c per row, mean over Σ w_y.</summary>
    private static double ReferenceLoss(double[] x, bool weighted, double smoothing)
    {
        const int classes = 4;
        double total = 0, count = 0;
        for (int r = 0; r < Labels.Length; r++)
        {
            int y = Labels[r];
            if (y == -100) continue;
            var row = x.Skip(r * classes).Take(classes).ToArray();
            double max = row.Max(), lse = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            double W(int c) => weighted ? Weight[c] : 1;
            total += (1 - smoothing) * W(y) * (lse - row[y]);
            for (int c = 0; c < classes; c++) total += smoothing / classes * W(c) * (lse - row[c]);
            count += W(y);
        }
        return total / count;
    }

    [Theory]
    [InlineData("weight")]
    [InlineData("both")]
    public void Gradients_match_finite_differences(string options) =>
        GradCheck.Run(t => Loss(t[0], options),
            r => new[] { ReferenceLoss(r[0], weighted: true, smoothing: options == "both" ? 0.2 : 0) },
            new[] { Logits }, new[] { new[] { 3, 4 } });

    [Fact]
    public void Bad_options_are_named()
    {
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(TestDevice.Instance, Logits, new[] { 3, 4 });
        Assert.Contains("3 class weights", Assert.Throws<ArgumentException>(() =>
            Engine.Loss.CrossEntropy(x, Labels, weight: new[] { 1f, 1f, 1f })).Message);
        Assert.Contains("class weight 1 is -1", Assert.Throws<ArgumentOutOfRangeException>(() =>
            Engine.Loss.CrossEntropy(x, Labels, weight: new[] { 1f, -1f, 1f, 1f })).Message);
        Assert.Contains("labelSmoothing", Assert.Throws<ArgumentOutOfRangeException>(() =>
            Engine.Loss.CrossEntropy(x, Labels, labelSmoothing: 1.5f)).Message);
        Assert.Contains("label at index 1 is -100", Assert.Throws<ArgumentOutOfRangeException>(() =>
            Engine.Loss.CrossEntropy(x, Labels, ignoreIndex: -1)).Message);
        Assert.True(float.IsNaN(Engine.Loss.CrossEntropy(x, new[] { -100, -100, -100 }).Item())); // as PyTorch: 0/0
    }
}
