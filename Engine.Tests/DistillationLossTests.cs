namespace Engine.Tests;

/// <summary>
/// <see cref="Loss.Distillation(Tensor, Tensor, int[], float, float)"/> against PyTorch 1.13 (Golden/distillation.json from
/// make_distillation_golden.py: value and the student's gradient), against central finite differences of a double
/// reference, the teacher getting no gradient, and the bad values.
/// </summary>
public class DistillationLossTests
{
    private static Device Dev => TestDevice.Instance;
    private static readonly TorchFixture Golden = new("distillation.json");

    public static TheoryData<string> Cases => Golden.Names();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Value_and_gradient_match_pytorch(string name)
    {
        var c = Golden.Case(name);
        using var scope = new DisposeScope();
        int[] shape = { c.GetProperty("n").GetInt32(), c.GetProperty("c").GetInt32() };
        var student = Tensor.FromArray(Dev, TorchFixture.Floats(c.GetProperty("student")), shape, requiresGrad: true);
        var teacher = Tensor.FromArray(Dev, TorchFixture.Floats(c.GetProperty("teacher")), shape);
        var labels = TorchFixture.Ints(c.GetProperty("labels"));
        var loss = Loss.Distillation(student, teacher, labels, (float)c.GetProperty("temperature").GetDouble(),
            (float)c.GetProperty("alpha").GetDouble());
        Expect.Close(new[] { c.GetProperty("loss").GetDouble() }, new[] { loss.Item() }, 1e-5, 1e-5, $"{name}: loss");
        loss.Backward();
        Expect.Close(TorchFixture.Floats(c.GetProperty("grad")), student.Grad!.ToArray(), 1e-6, 1e-4, $"{name}: ∂L/∂student");

        // The same through the labels-in-a-tensor overload.
        var again = Loss.Distillation(student.Detach(), teacher, Tensor.FromArray(Dev, labels, new[] { labels.Length }),
            (float)c.GetProperty("temperature").GetDouble(), (float)c.GetProperty("alpha").GetDouble());
        Assert.Equal(loss.Item(), again.Item());
    }

    /// <summary>The loss in double precision: α·T²·Σ_rows KL(p_t ‖ p_s)/N + (1 − α)·mean CE.</summary>
    private static double Reference(double[] s, float[] t, int[] y, int n, int c, double temperature, double alpha)
    {
        double kl = 0, ce = 0;
        for (int r = 0; r < n; r++)
        {
            var row = s.Skip(r * c).Take(c).ToArray();
            var trow = t.Skip(r * c).Take(c).Select(v => (double)v).ToArray();
            double LogSumExp(IEnumerable<double> xs) { var a = xs.ToArray(); double m = a.Max(); return m + Math.Log(a.Sum(x => Math.Exp(x - m))); }
            double zs = LogSumExp(row.Select(v => v / temperature)), zt = LogSumExp(trow.Select(v => v / temperature));
            for (int k = 0; k < c; k++)
            {
                double logP = trow[k] / temperature - zt, logQ = row[k] / temperature - zs;
                kl += Math.Exp(logP) * (logP - logQ);
            }
            ce += LogSumExp(row) - row[y[r]];
        }
        return alpha * temperature * temperature * kl / n + (1 - alpha) * ce / n;
    }

    [Theory]
    [InlineData(1f, 0.5f)]
    [InlineData(3f, 0.8f)]
    [InlineData(0.5f, 1f)]
    public void Gradient_matches_finite_differences(float temperature, float alpha)
    {
        const int n = 3, c = 4;
        var s = Engine.Tests.Reference.RandomValues(11, n * c, -2, 2);
        var t = Engine.Tests.Reference.RandomValues(12, n * c, -3, 3);
        int[] y = { 2, 0, 3 };
        GradCheck.Run(x => Loss.Distillation(x[0], Tensor.FromArray(Dev, t, new[] { n, c }), y, temperature, alpha),
            r => new[] { Reference(r[0], t, y, n, c, temperature, alpha) }, new[] { s }, new[] { new[] { n, c } });
    }

    [Fact]
    public void The_teacher_gets_no_gradient()
    {
        using var scope = new DisposeScope();
        var student = Tensor.RandN(Dev, new[] { 2, 3 }, seed: 1, requiresGrad: true);
        var teacher = Tensor.RandN(Dev, new[] { 2, 3 }, seed: 2, requiresGrad: true);
        Loss.Distillation(student, teacher, new[] { 0, 2 }, 2f, 0.5f).Backward();
        Assert.NotNull(student.Grad);
        Assert.True(teacher.Grad == null || teacher.Grad.ToArray().All(v => v == 0f));
    }

    [Fact]
    public void Bad_values_are_refused_naming_them()
    {
        using var scope = new DisposeScope();
        var s = Tensor.Zeros(Dev, new[] { 2, 3 });
        var t = Tensor.Zeros(Dev, new[] { 2, 3 });
        Assert.Contains("temperature = 0", Assert.Throws<ArgumentOutOfRangeException>(() => Loss.Distillation(s, t, new[] { 0, 1 }, 0f, 0.5f)).Message);
        Assert.Contains("temperature = -1", Assert.Throws<ArgumentOutOfRangeException>(() => Loss.Distillation(s, t, new[] { 0, 1 }, -1f, 0.5f)).Message);
        Assert.Contains("temperature = NaN", Assert.Throws<ArgumentOutOfRangeException>(() => Loss.Distillation(s, t, new[] { 0, 1 }, float.NaN, 0.5f)).Message);
        Assert.Contains("alpha = 1.5", Assert.Throws<ArgumentOutOfRangeException>(() => Loss.Distillation(s, t, new[] { 0, 1 }, 2f, 1.5f)).Message);
        Assert.Contains("alpha = -0.1", Assert.Throws<ArgumentOutOfRangeException>(() => Loss.Distillation(s, t, new[] { 0, 1 }, 2f, -0.1f)).Message);
        Assert.Contains("[2, 4]", Assert.Throws<ArgumentException>(() => Loss.Distillation(s, Tensor.Zeros(Dev, new[] { 2, 4 }), new[] { 0, 1 }, 2f, 0.5f)).Message);
        Assert.Contains("3 labels", Assert.Throws<ArgumentException>(() => Loss.Distillation(s, t, new[] { 0, 1, 2 }, 2f, 0.5f)).Message);
    }
}
