using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Tests;

/// <summary>
/// NaN goes through ReLU, clamp and max as it does in PyTorch (on the SIMD backend and on the ILGPU kernels), so a NaN
/// input makes the loss NaN where the trainers see it; the data paths reject non-finite features up front.
/// </summary>
public class NanPropagationTests
{
    public static IEnumerable<object[]> Devices() => new[] { new object[] { "simd" }, new object[] { "ilgpu" } };

    private static Device On(string which) => which == "simd" ? TestDevice.Simd : TestDevice.Ilgpu;

    [Theory]
    [MemberData(nameof(Devices))]
    public void Relu_clamp_and_max_keep_nan(string which)
    {
        var dev = On(which);
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(dev, new[] { float.NaN, -1f, 1f, 0.5f }, new[] { 1, 4 });
        var relu = x.Relu().ToArray();
        Assert.True(float.IsNaN(relu[0]));
        Assert.Equal(new[] { 0f, 1f, 0.5f }, relu[1..]);
        var clamp = x.Clamp(-0.5f, 0.75f).ToArray();
        Assert.True(float.IsNaN(clamp[0]));
        Assert.Equal(new[] { -0.5f, 0.75f, 0.5f }, clamp[1..]);
        Assert.True(float.IsNaN(x.Max(1).Item()));
        Assert.True(float.IsNaN(Tensor.FromArray(dev, new[] { 1f, 2f, float.NaN }, new[] { 3 }).Max(0).Item()));
        Assert.Equal(new[] { -1f, 1f }, x.LeakyRelu(1f).ToArray()[1..3]);
        Assert.True(float.IsNaN(x.LeakyRelu(0.1f).ToArray()[0]));
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void A_nan_feature_makes_the_loss_nan_instead_of_vanishing_behind_a_relu(string which)
    {
        var dev = On(which);
        using var model = new Sequential(new Linear(dev, 4, 8, seed: 1), new Engine.Nn.Relu(), new Linear(dev, 8, 3, seed: 2));
        using var scope = new DisposeScope();
        var x = Tensor.FromArray(dev, new[] { 0.5f, float.NaN, -1f, 2f }, new[] { 1, 4 });
        Assert.True(float.IsNaN(Loss.CrossEntropy(model.Forward(x), new[] { 1 }).Item()));
    }

    [Fact]
    public void A_dataset_names_the_row_and_column_of_a_non_finite_value()
    {
        var features = new float[12];
        features[7] = float.PositiveInfinity;
        var e = Assert.Throws<ArgumentException>(() => Dataset.WithLabels(features, 4, new[] { 0, 1, 0 }));
        Assert.Contains("row 1, column 3", e.Message);
        Assert.Contains("∞", e.Message.Replace("Infinity", "∞"));
        var t = Assert.Throws<ArgumentException>(() => Dataset.WithTargets(new float[4], 2, new[] { 1f, float.NaN }));
        Assert.Contains("target at row 1, column 0", t.Message);
    }

    [Fact]
    public void The_online_trainer_names_the_sample_and_feature_and_learns_nothing_from_it()
    {
        var dev = TestDevice.Instance;
        using var model = new Sequential(new Linear(dev, 3, 2, seed: 1));
        using var trainer = new OnlineTrainer(model, new Sgd(model.Parameters(), lr: 0.1f));
        trainer.Learn(new Sample(new[] { 1f, 2f, 3f }, 1));
        var before = model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        var e = Assert.Throws<ArgumentException>(() => trainer.Learn(new Sample(new[] { 1f, float.NaN, 3f }, 0)));
        Assert.Contains("sample 1", e.Message);
        Assert.Contains("feature 1", e.Message);
        Assert.Equal(before, model.Parameters().SelectMany(p => p.ToArray()).ToArray());
    }

    [Fact]
    public void A_csv_names_the_line_and_column_of_a_non_finite_value()
    {
        var e = Assert.Throws<FormatException>(() =>
            CsvLoader.Parse(new StringReader("x1,x2,y\n1,2,0\n3,NaN,1\n"), "y", source: "data.csv"));
        Assert.Contains("data.csv: line 3, column 2 ('x2'): 'NaN' is not a finite number", e.Message);
        Assert.Throws<FormatException>(() => CsvLoader.Parse(new StringReader("x1,y\ninf,1\n"), "y"));
    }
}
