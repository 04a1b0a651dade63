using Engine.Optim;
using Engine.Tests.Optim;
using FsCheck.Xunit;

namespace Engine.Tests.Simd;

/// <summary>
/// The same optimizer steps on the SIMD backend and on the ILGPU kernels: every update rule with every option (FsCheck
/// draws them), on lengths that end in a partial register, and Adam on a buffer long enough to be split over the threads.
/// </summary>
[Properties(Arbitrary = new[] { typeof(OptimizerCases) }, MaxTest = 60)]
public class BackendAgreementTests
{
    private static float[] Run(Device dev, OptimizerCase c, float[] theta, float[][] grads, int[] shapes)
    {
        using var scope = new DisposeScope();
        var parameters = new List<Tensor>();
        int at = 0;
        foreach (int n in shapes)
        {
            parameters.Add(Tensor.FromArray(dev, theta.Skip(at).Take(n).ToArray(), new[] { n }, requiresGrad: true));
            at += n;
        }
        using var opt = c.Create(parameters);
        foreach (var g in grads)
        {
            at = 0;
            foreach (var p in parameters)
            {
                p.Grad!.CopyFrom(g.Skip(at).Take(p.Numel).ToArray());
                at += p.Numel;
            }
            opt.Step();
        }
        return parameters.SelectMany(p => p.ToArray()).ToArray();
    }

    [Property]
    public void Every_update_rule_gives_the_same_parameters_on_both_backends(OptimizerCase c)
    {
        int[] shapes = { 37, 16, 1, 130 };
        int total = shapes.Sum();
        var theta = Reference.RandomValues(3, total);
        var grads = Enumerable.Range(0, 3).Select(s => Reference.RandomValues(10 + s, total)).ToArray();
        Expect.Close(Run(TestDevice.Ilgpu, c, theta, grads, shapes), Run(TestDevice.Simd, c, theta, grads, shapes),
            1e-6, 1e-5, c.ToString());
    }

    /// <summary>Every length 1..257 (vector bodies and every tail) for the rule loop and for LAMB's own two passes.</summary>
    [Theory]
    [InlineData("Adam")]
    [InlineData("Lamb")]
    [InlineData("RMSprop")]
    public void Update_rules_agree_at_every_length(string name)
    {
        var c = OptimizerCase.Plain(name, 1e-2f) with { Momentum = 0.9f, WeightDecay = 0.01f, Centered = true };
        for (int n = 1; n <= 257; n++)
        {
            var theta = Reference.RandomValues(n, n);
            var grads = new[] { Reference.RandomValues(n + 300, n), Reference.RandomValues(n + 600, n) };
            Expect.Close(Run(TestDevice.Ilgpu, c, theta, grads, new[] { n }), Run(TestDevice.Simd, c, theta, grads, new[] { n }),
                1e-6, 1e-5, $"{name} n={n}");
        }
    }

    [Fact]
    public void Adam_on_a_long_buffer_split_over_the_threads_agrees()
    {
        int n = (1 << 21) + 37;
        var theta = Reference.RandomValues(5, n);
        var grads = new[] { Reference.RandomValues(6, n), Reference.RandomValues(7, n) };
        var c = OptimizerCase.Plain("Adam", 1e-2f);
        Expect.Close(Run(TestDevice.Ilgpu, c, theta, grads, new[] { n }), Run(TestDevice.Simd, c, theta, grads, new[] { n }),
            1e-6, 1e-5, "Adam, 2M elements");
    }
}
