using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests.Training;

/// <summary>Bad data reaches the user as the dataset's own terms: its row, the epoch and step, or that it is empty.</summary>
public class TrainerErrorTests
{
    private static Dataset Data(int rows, Func<int, int> label)
    {
        var x = Reference.RandomValues(rows, rows * 3);
        return Dataset.WithLabels(x, 3, Enumerable.Range(0, rows).Select(label).ToArray());
    }

    [Fact]
    public void A_bad_label_names_its_dataset_row_epoch_and_step()
    {
        var dev = TestDevice.Instance;
        using var model = new Sequential(new Linear(dev, 3, 4, seed: 1));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var data = Data(40, i => i == 29 ? 7 : i % 4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Trainer.Fit(model, Trainer.CrossEntropy, sgd, data, new TrainerOptions { Epochs = 2, BatchSize = 16, Seed = 3 }));
        Assert.Contains("dataset row 29 has label 7", e.Message);
        Assert.Contains("outside [0, 4)", e.Message);
        Assert.Matches(@"epoch 1, step [123]\)", e.Message);
    }

    [Fact]
    public void An_empty_dataset_is_named_as_such()
    {
        var dev = TestDevice.Instance;
        using var model = new Sequential(new Linear(dev, 3, 4, seed: 1));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var empty = Dataset.WithLabels(Array.Empty<float>(), 3, Array.Empty<int>());
        var e = Assert.Throws<ArgumentException>(() =>
            Trainer.Fit(model, Trainer.CrossEntropy, sgd, empty, new TrainerOptions { BatchSize = 16 }));
        Assert.Contains("training set is empty", e.Message);
        Assert.Contains("empty dataset", Assert.Throws<InvalidOperationException>(() => empty.ClassCount).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() =>
            Trainer.Evaluate(model, Trainer.CrossEntropy, empty, dev)).Message);
    }

    [Fact]
    public void A_validation_fraction_that_leaves_no_validation_rows_is_refused()
    {
        var dev = TestDevice.Instance;
        using var model = new Sequential(new Linear(dev, 3, 4, seed: 1));
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Trainer.Fit(model, Trainer.CrossEntropy, sgd,
            Data(10, i => i % 4), new TrainerOptions { BatchSize = 4, ValidationFraction = 0.01 }));
        Assert.Contains("leaves 0 validation", e.Message);
    }
}
