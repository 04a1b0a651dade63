namespace Engine.Tests;

/// <summary>
/// Checks an op's analytic gradient (the engine's backward kernels) against central finite differences of a
/// double-precision reference of the same op. Both differentiate L = Σ wᵢ·outᵢ with fixed random weights w,
/// so every element of the output's gradient matters.
/// </summary>
public static class GradCheck
{
    public static void Run(
        Func<Tensor[], Tensor> op,
        Func<double[][], double[]> reference,
        float[][] inputs,
        int[][] shapes,
        double atol = 2e-3,
        double rtol = 2e-3,
        int seed = 7)
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var leaves = inputs.Select((x, i) => Tensor.FromArray(dev, x, shapes[i], requiresGrad: true)).ToArray();
        var output = op(leaves);
        var weights = Reference.RandomValues(seed, output.Numel, -1, 1);
        var w = Tensor.FromArray(dev, weights, output.Shape);
        (output * w).Sum().Backward();

        var x = inputs.Select(Reference.ToDouble).ToArray();
        for (int which = 0; which < inputs.Length; which++)
        {
            int index = which;
            double Loss(double[] xi)
            {
                var all = (double[][])x.Clone();
                all[index] = xi;
                var y = reference(all);
                double s = 0;
                for (int i = 0; i < y.Length; i++) s += weights[i] * y[i];
                return s;
            }
            var expected = Reference.NumericGradient(Loss, (double[])x[index].Clone());
            Assert.NotNull(leaves[index].Grad);
            Expect.Close(expected, leaves[index].Grad!.ToArray(), atol, rtol, $"gradient of input {index}");
        }
    }
}
