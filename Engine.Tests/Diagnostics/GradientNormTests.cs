using Engine.Data;
using Engine.Diagnostics;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests.Diagnostics;

public class GradientNormTests
{
    private static Device Dev => TestDevice.Instance;

    private static double Norm(IEnumerable<float> values) => Math.Sqrt(values.Sum(v => (double)v * v));

    [Fact]
    public void Norms_equal_the_norms_of_the_gradients_read_back()
    {
        using var model = new Sequential(new Linear(Dev, 5, 7, seed: 1), new Tanh(), new Linear(Dev, 7, 3, seed: 2),
            new BatchNorm1d(Dev, 3));
        using var scope = new DisposeScope();
        var x = Tensor.RandN(Dev, new[] { 6, 5 }, seed: 3);
        Loss.CrossEntropy(model.Forward(x), new[] { 0, 1, 2, 0, 1, 2 }).Backward();
        var report = GradientNorms.Measure(model);

        var named = model.NamedParameters().ToList();
        Assert.Equal(named.Select(p => p.Name), report.Parameters.Select(p => p.Name));
        foreach (var (name, p) in named)
            Assert.Equal(Norm(p.Grad!.ToArray()), report[name], 4);
        Assert.Equal(new[] { "0", "2", "3" }, report.Layers.Select(l => l.Name));
        foreach (var layer in report.Layers)
        {
            var values = named.Where(p => GradientNorms.LayerOf(p.Name) == layer.Name).SelectMany(p => p.Parameter.Grad!.ToArray());
            Assert.Equal(Norm(values), layer.Norm, 4);
        }
        Assert.Equal(Norm(named.SelectMany(p => p.Parameter.Grad!.ToArray())), report.Total, 4);
        Assert.True(report.Total > 0);
    }

    [Fact]
    public void A_parameter_without_a_gradient_counts_as_zero()
    {
        using var model = new Sequential(new Linear(Dev, 3, 2, seed: 1), new Linear(Dev, 2, 2, seed: 2));
        using var scope = new DisposeScope();
        model[0].Parameters().ToList().ForEach(p => p.RequiresGrad = false);
        model.Forward(Tensor.Ones(Dev, new[] { 2, 3 })).Sum().Backward();
        var report = GradientNorms.Measure(model);
        Assert.False(report.Parameters[0].HasGradient);
        Assert.Equal(0, report["0"]);
        Assert.True(report["1"] > 0);
    }

    [Fact]
    public void Recorder_sees_the_gradients_after_backward_and_before_the_step()
    {
        var rng = new Random(1);
        var x = Enumerable.Range(0, 40 * 2).Select(_ => (float)rng.NextDouble()).ToArray();
        var data = Dataset.WithTargets(x, 2, Enumerable.Range(0, 40).Select(i => x[2 * i] - x[2 * i + 1] + 0.5f).ToArray());
        using var model = new Sequential(new Linear(Dev, 2, 1, seed: 1));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var every = new GradientNormRecorder(model);
        var second = new GradientNormRecorder(model, everySteps: 2);
        Trainer.Fit(model, Trainer.Mse, sgd, data, new TrainerOptions
        {
            Epochs = 2, BatchSize = 8, OnAfterBackward = p => { every.Record(p); second.Record(p); },
        });
        Assert.Equal(10, every.Records.Count);
        Assert.Equal(5, second.Records.Count);
        Assert.All(every.Records, r => Assert.True(r.Norms.Total > 0)); // not yet zeroed by the step
        Assert.Equal((1, 1), (every.Records[0].Epoch, every.Records[0].Step));
        Assert.Equal((2, 5), (every.Records[^1].Epoch, every.Records[^1].Step));
        Assert.Equal(new[] { "0" }, every.Layers);
        Assert.Single(every.MeanLayerNorms());
    }

    [Fact]
    public void A_deep_sigmoid_network_shows_vanishing_gradients_layer_by_layer()
    {
        var layers = new List<Module>();
        for (int i = 0; i < 10; i++)
        {
            layers.Add(new Linear(Dev, 16, 16, seed: 100 + i));
            layers.Add(new Sigmoid());
        }
        using var model = new Sequential(layers.ToArray());
        using var scope = new DisposeScope();
        Loss.Mse(model.Forward(Tensor.RandN(Dev, new[] { 32, 16 }, seed: 1)), Tensor.Zeros(Dev, new[] { 32, 16 })).Backward();
        var norms = GradientNorms.Measure(model).Layers.Select(l => l.Norm).ToArray();
        Assert.True(norms[0] < 1e-3 * norms[^1], $"first layer {norms[0]:E2}, last {norms[^1]:E2}");
        for (int i = 1; i < norms.Length; i++) Assert.True(norms[i - 1] < norms[i], $"layer {i - 1} vs {i}");
    }
}
