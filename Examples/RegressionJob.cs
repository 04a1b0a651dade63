using Engine;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>y = 2x₁ − 3x₂ + 0.5x₃ + 1 + noise, fit by full-batch GD, mini-batch SGD and online SGD.</summary>
public static class RegressionJob
{
    public static int Run(string deviceKind)
    {
        using var dev = Device.Create(deviceKind);
        float[] truth = { 2f, -3f, 0.5f };
        const float bias = 1f;
        var rng = new Random(0);
        int n = 512;
        var x = Enumerable.Range(0, n * 3).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var y = Enumerable.Range(0, n).Select(i => truth[0] * x[3 * i] + truth[1] * x[3 * i + 1] + truth[2] * x[3 * i + 2] + bias
                                                   + (float)(0.05 * (rng.NextDouble() - 0.5))).ToArray();
        var data = Dataset.WithTargets(x, 3, y);
        var table = new Table().AddColumns("method", "w₁", "w₂", "w₃", "b");
        table.AddRow("truth", "2", "-3", "0.5", "1");
        foreach (var (name, batch, epochs, lr) in new[] { ("full-batch GD", 0, 300, 0.5f), ("mini-batch SGD (32)", 32, 30, 0.1f) })
        {
            using var model = new Linear(dev, 3, 1, seed: 1);
            using var sgd = new Sgd(model.Parameters(), lr);
            Trainer.Fit(model, Trainer.Mse, sgd, data, new TrainerOptions { Epochs = epochs, BatchSize = batch });
            table.AddRow(Row(name, model));
        }
        using (var model = new Linear(dev, 3, 1, seed: 1))
        using (var sgd = new Sgd(model.Parameters(), 0.05f))
        using (var online = new OnlineTrainer(model, sgd))
        {
            for (int i = 0; i < n; i++) online.Learn(new Sample(x[(3 * i)..(3 * i + 3)], Target: new[] { y[i] }));
            table.AddRow(Row("online SGD (one pass)", model));
        }
        AnsiConsole.Write(table);
        return 0;
    }

    private static string[] Row(string name, Linear model)
    {
        var w = model.Weight.ToArray();
        return new[] { name, $"{w[0]:F3}", $"{w[1]:F3}", $"{w[2]:F3}", $"{model.Bias!.Item():F3}" };
    }
}
