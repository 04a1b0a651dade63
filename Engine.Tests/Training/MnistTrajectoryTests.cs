using System.Text.Json;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests.Training;

/// <summary>
/// The main example's batch recipe (784→256→10 ReLU MLP, mean cross-entropy, Adam lr 1e-3, batch 64) on the bundled
/// MNIST, trained by <see cref="Trainer.Fit"/> and by PyTorch 1.13 from the same initial weights (the engine's
/// Linear init, recomputed bit for bit in Golden/make_mnist_trajectory.py) and the same batch order (torch.randperm,
/// stored in the file): every step's loss, sampled final parameters, test logits and test accuracy agree. This
/// checks the whole loop end to end — loading, layout, init, loss, backward, optimizer, batching — against the peer.
/// </summary>
public class MnistTrajectoryTests
{
    private static readonly JsonElement Golden = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "mnist_trajectory.json"))).RootElement;

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static void ExpectSamples(JsonElement expected, Dictionary<string, float[]> actual, double atol, string when)
    {
        foreach (var p in expected.EnumerateObject())
        {
            var values = actual[p.Name];
            var index = p.Value.GetProperty("index").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            Expect.Close(Doubles(p.Value.GetProperty("value")), index.Select(i => values[i]).ToArray(), atol, 0,
                $"{when} {p.Name}");
            double sum = values.Sum(v => (double)v), absSum = values.Sum(v => Math.Abs((double)v));
            Assert.True(Math.Abs(sum - p.Value.GetProperty("sum").GetDouble()) <= atol * Math.Sqrt(values.Length) + 1e-4,
                $"{when} {p.Name}: sum {sum:G9}, PyTorch {p.Value.GetProperty("sum").GetDouble():G9}");
            double torchAbs = p.Value.GetProperty("abs_sum").GetDouble();
            Assert.True(Math.Abs(absSum - torchAbs) <= 1e-4 * torchAbs,
                $"{when} {p.Name}: Σ|w| {absSum:G9}, PyTorch {torchAbs:G9}");
        }
    }

    private static Dictionary<string, float[]> Parameters(Module model) =>
        model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray());

    [Fact]
    public void Batch_recipe_follows_pytorch_step_by_step_from_the_same_start()
    {
        var dev = TestDevice.Instance;
        var train = BundledMnist.Load("train");
        var test = BundledMnist.Load("t10k");
        var seeds = Golden.GetProperty("seeds").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        int hidden = Golden.GetProperty("hidden").GetInt32();
        using var model = new Sequential(new Linear(dev, 784, hidden, seed: seeds[0]), new Relu(),
            new Linear(dev, hidden, 10, seed: seeds[1]));
        ExpectSamples(Golden.GetProperty("initial"), Parameters(model), 0, "initial");

        using var adam = new Adam(model.Parameters(), Golden.GetProperty("lr").GetSingle());
        var losses = new List<double>();
        foreach (var epochOrder in Golden.GetProperty("order").EnumerateArray())
        {
            // The stored permutation is the batch order: feed it unshuffled, one epoch per call (Adam keeps its state).
            var ordered = train.Subset(epochOrder.EnumerateArray().Select(v => v.GetInt32()).ToArray());
            Trainer.Fit(model, Trainer.CrossEntropy, adam, ordered, new TrainerOptions
            {
                Epochs = 1,
                BatchSize = Golden.GetProperty("batch_size").GetInt32(),
                Shuffle = false,
                OnBatchEnd = b => losses.Add(b.Loss),
            });
        }

        var torchLosses = Doubles(Golden.GetProperty("losses"));
        Assert.Equal(torchLosses.Length, losses.Count);
        for (int i = 0; i < losses.Count; i++)
            Assert.True(Math.Abs(losses[i] - torchLosses[i]) <= 1e-5 + 1e-4 * torchLosses[i],
                $"step {i + 1}: loss {losses[i]:G7}, PyTorch {torchLosses[i]:G7}");
        ExpectSamples(Golden.GetProperty("final"), Parameters(model), 2e-5, "final");

        using var scope = new DisposeScope();
        using (Autograd.NoGrad())
        {
            var first8 = Tensor.FromArray(dev, test.Features[..(8 * 784)], new[] { 8, 784 });
            Expect.Close(Doubles(Golden.GetProperty("test_logits_first8")), model.Forward(first8).ToArray(), 2e-4, 1e-4,
                "test logits");
        }
        double accuracy = Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value;
        Assert.InRange(accuracy, Golden.GetProperty("test_accuracy").GetDouble() - 0.001,
            Golden.GetProperty("test_accuracy").GetDouble() + 0.001);
    }
}
