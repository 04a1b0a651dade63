using System.Diagnostics;
using Engine;

namespace Examples;

/// <summary>
/// The starter example: a 2 → 64 → 3 MLP (tanh) learns a three-armed spiral (a classic non-linearly-separable
/// set, generated with a fixed seed) by full-batch gradient descent on softmax cross-entropy. Parameters are
/// updated by hand inside <see cref="Autograd.NoGrad"/>, as one would in PyTorch without an optimizer.
/// </summary>
public static class SpiralClassifier
{
    public static int Run(string deviceKind, int epochs, float lr)
    {
        using var dev = Device.Create(deviceKind);
        Console.WriteLine($"device: {dev}");
        const int perClass = 100, classes = 3, hidden = 64;
        var (features, labels) = Spiral(perClass, classes, seed: 0);
        int n = labels.Length;

        using var x = Tensor.FromArray(dev, features, new[] { n, 2 });
        using var w1 = Tensor.RandN(dev, new[] { 2, hidden }, seed: 1, requiresGrad: true, std: 1f);
        using var b1 = Tensor.Zeros(dev, new[] { hidden }, requiresGrad: true);
        using var w2 = Tensor.RandN(dev, new[] { hidden, classes }, seed: 2, requiresGrad: true,
            std: 1f / MathF.Sqrt(hidden));
        using var b2 = Tensor.Zeros(dev, new[] { classes }, requiresGrad: true);
        var parameters = new[] { w1, b1, w2, b2 };
        Tensor Forward() => (x.MatMul(w1) + b1).Tanh().MatMul(w2) + b2;

        var clock = Stopwatch.StartNew();
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            using var scope = new DisposeScope();
            var loss = Loss.CrossEntropy(Forward(), labels);
            loss.Backward();
            using (Autograd.NoGrad())
            {
                foreach (var p in parameters)
                {
                    p.AddInPlace(p.Grad!, -lr);
                    p.ZeroGrad();
                }
            }
            if (epoch == 1 || epoch % Math.Max(1, epochs / 10) == 0)
                Console.WriteLine($"epoch {epoch,5}  loss {loss.Item():F4}");
        }
        dev.Synchronize();
        double seconds = clock.Elapsed.TotalSeconds;

        float[] logits;
        using (var scope = new DisposeScope())
        using (Autograd.NoGrad())
            logits = Forward().ToArray();
        int correct = Enumerable.Range(0, n).Count(i => ArgMax(logits, i * classes, classes) == labels[i]);
        Console.WriteLine($"train accuracy {100.0 * correct / n:F1}% ({correct}/{n}) after {epochs} full-batch " +
                          $"steps in {seconds:F2} s ({epochs / seconds:F0} steps/s)");
        return 0;
    }

    /// <summary>Points r·(sin t, cos t) on <paramref name="classes"/> interleaved arms with Gaussian jitter.</summary>
    public static (float[] Features, int[] Labels) Spiral(int perClass, int classes, int seed)
    {
        var rng = new Random(seed);
        var features = new float[perClass * classes * 2];
        var labels = new int[perClass * classes];
        for (int c = 0; c < classes; c++)
        {
            for (int i = 0; i < perClass; i++)
            {
                int k = c * perClass + i;
                double r = (double)i / perClass;
                double t = c * 4 + 4 * r + 0.2 * Gaussian(rng);
                features[2 * k] = (float)(r * Math.Sin(t));
                features[2 * k + 1] = (float)(r * Math.Cos(t));
                labels[k] = c;
            }
        }
        return (features, labels);
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static int ArgMax(float[] v, int offset, int count)
    {
        int best = 0;
        for (int i = 1; i < count; i++)
            if (v[offset + i] > v[offset + best]) best = i;
        return best;
    }
}
