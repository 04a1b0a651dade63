using Engine.Nn;

namespace Engine.Tests.Nn;

/// <summary>Unseeded layers differ from each other, and ManualSeed makes a run repeat, as torch.manual_seed does.</summary>
public class GeneratorTests
{
    private static float[][] Build()
    {
        var dev = TestDevice.Instance;
        using var a = new Linear(dev, 16, 16);
        using var b = new Linear(dev, 16, 16);
        using var scope = new DisposeScope();
        var r = Tensor.RandN(dev, new[] { 8 });
        return new[] { a.Weight.ToArray(), b.Weight.ToArray(), a.Bias!.ToArray(), r.ToArray() };
    }

    [Fact]
    public void Two_unseeded_layers_differ_and_manual_seed_repeats_everything()
    {
        Generator.ManualSeed(1234);
        var first = Build();
        Assert.NotEqual(first[0], first[1]);
        Assert.Equal(1234, Generator.InitialSeed);
        Generator.ManualSeed(1234);
        var again = Build();
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], again[i]);
        Generator.ManualSeed(99);
        Assert.NotEqual(first[0], Build()[0]);
    }

    [Fact]
    public void An_explicit_seed_ignores_the_generator()
    {
        var dev = TestDevice.Instance;
        Generator.ManualSeed(1);
        using var a = new Linear(dev, 4, 3, seed: 7);
        Generator.ManualSeed(2);
        using var b = new Linear(dev, 4, 3, seed: 7);
        Assert.Equal(a.Weight.ToArray(), b.Weight.ToArray());
        Assert.NotEqual(new Dropout(0.5f).Seed, new Dropout(0.5f).Seed);
    }
}
