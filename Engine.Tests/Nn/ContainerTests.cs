using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;

namespace Engine.Tests.Nn;

/// <summary>
/// ModuleList and ModuleDict name their children as PyTorch's ("layers.0.weight", "heads.cls.weight"); tied weights
/// (one tensor registered by two modules) are listed and trained once, with the gradient of both uses, and saved under
/// both names, as PyTorch's.
/// </summary>
public class ContainerTests
{
    private static Device Dev => TestDevice.Instance;

    private sealed class Stack : Module
    {
        public Stack()
        {
            Layers = RegisterModule("layers", new ModuleList(new Linear(Dev, 3, 4, seed: 1), new Relu()));
            Layers.Append(new Linear(Dev, 4, 2, seed: 2));
            Heads = RegisterModule("heads", new ModuleDict());
            Heads.Add("cls", new Linear(Dev, 2, 5, bias: false, seed: 3));
            Heads.Add("reg", new Linear(Dev, 2, 1, seed: 4));
        }

        public ModuleList Layers { get; }
        public ModuleDict Heads { get; }

        public override Tensor Forward(Tensor input)
        {
            var x = input;
            foreach (var layer in Layers) x = layer.Forward(x);
            return Heads["cls"].Forward(x);
        }
    }

    [Fact]
    public void Module_lists_and_dicts_name_parameters_as_pytorch()
    {
        using var stack = new Stack();
        Assert.Equal(new[]
        {
            "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "heads.cls.weight",
            "heads.reg.weight", "heads.reg.bias",
        }, stack.NamedParameters().Select(p => p.Name));
        Assert.Equal(3, stack.Layers.Count);
        Assert.IsType<Relu>(stack.Layers[1]);
        Assert.Same(stack.Layers[2], stack.Layers[-1]);
        Assert.Equal(new[] { "Linear", "Relu", "Linear" }, stack.Layers.Select(m => m.GetType().Name));
        Assert.Throws<ArgumentOutOfRangeException>(() => stack.Layers[3]);
        Assert.Equal(new[] { "cls", "reg" }, stack.Heads.Keys);
        Assert.True(stack.Heads.ContainsKey("reg"));
        Assert.Same(stack.Heads["reg"], stack.Heads.Values.Last());
        var missing = Assert.Throws<KeyNotFoundException>(() => stack.Heads["box"]);
        Assert.Contains("cls, reg", missing.Message);
        Assert.Throws<ArgumentException>(() => stack.Heads.Add("reg", new Relu()));
        Assert.Throws<ArgumentException>(() => stack.Heads.Add("a.b", new Relu()));
        Assert.Throws<NotSupportedException>(() => stack.Layers.Forward(Tensor.Zeros(Dev, new[] { 1, 3 })));
        Assert.Throws<NotSupportedException>(() => stack.Heads.Forward(Tensor.Zeros(Dev, new[] { 1, 2 })));

        var x = Tensor.FromArray(Dev, Reference.RandomValues(1, 6, -1, 1), new[] { 2, 3 });
        var expected = stack.Heads["cls"].Forward(stack.Layers[2].Forward(stack.Layers[0].Forward(x).Relu()));
        Assert.Equal(expected.ToArray(), stack.Forward(x).ToArray());
        using var copy = new Stack();
        copy.LoadStateDict(stack.StateDict());
        Assert.Equal(expected.ToArray(), copy.Forward(x).ToArray());
    }

    /// <summary>A language model whose output projection is its embedding table (GPT-2's wte / lm_head).</summary>
    private sealed class TinyLm : Module
    {
        public TinyLm(bool tie)
        {
            Wte = RegisterModule("wte", new Embedding(Dev, 7, 4, seed: 11));
            LmHead = RegisterModule("lm_head", new Linear(Dev, 4, 7, bias: false, seed: 12));
            if (tie) LmHead.Weight = Wte.Weight;
        }

        public Embedding Wte { get; }
        public Linear LmHead { get; }

        public override Tensor Forward(Tensor input) => LmHead.Forward(Wte.Forward(input));
    }

    private static readonly int[] Tokens = { 1, 5, 5, 0, 6, 2 };

    private static Tensor Loss(Module model, int seed)
    {
        var logits = model.Forward(Tensor.FromArray(Dev, Tokens, new[] { 2, 3 }));
        return (logits * Tensor.FromArray(Dev, Reference.RandomValues(seed, logits.Numel, -1, 1), logits.Shape)).Sum();
    }

    [Fact]
    public void A_tied_weight_is_listed_once_and_saved_under_both_names()
    {
        using var model = new TinyLm(tie: true);
        Assert.Same(model.Wte.Weight, model.LmHead.Weight);
        Assert.Equal(new[] { "wte.weight" }, model.NamedParameters().Select(p => p.Name));
        Assert.Equal(new[] { "wte.weight", "lm_head.weight" },
            model.NamedParameters(removeDuplicate: false).Select(p => p.Name));
        Assert.Single(model.Parameters());
        var state = model.StateDict();
        Assert.Equal(new[] { "wte.weight", "lm_head.weight" }, state.Keys);
        Assert.Equal(state["wte.weight"].Values, state["lm_head.weight"].Values);

        // Loading writes the one tensor (the later name wins, as PyTorch's load_state_dict).
        var values = Reference.RandomValues(5, 28, -1, 1);
        model.LoadStateDict(new Dictionary<string, HostTensor>
        {
            ["wte.weight"] = new(new[] { 7, 4 }, new float[28]),
            ["lm_head.weight"] = new(new[] { 7, 4 }, values),
        });
        Assert.Equal(values, model.Wte.Weight.ToArray());
        var missing = Assert.Throws<ArgumentException>(() => model.LoadStateDict(new Dictionary<string, HostTensor>
        {
            ["wte.weight"] = new(new[] { 7, 4 }, values),
        }));
        Assert.Contains("lm_head.weight", missing.Message);
    }

    [Fact]
    public void A_tied_model_trains_with_the_sum_of_both_uses_gradients_and_one_step_per_parameter()
    {
        const float lr = 0.1f;
        using var tied = new TinyLm(tie: true);
        using var untied = new TinyLm(tie: false);
        using var optimizer = new Sgd(tied.Parameters(), lr);
        var w = tied.Wte.Weight.ToArray();
        for (int step = 0; step < 3; step++)
        {
            // Reference: an untied copy holding the same table in both places; the tied gradient is the sum of its two.
            untied.Wte.Weight.CopyFrom(w);
            untied.LmHead.Weight.CopyFrom(w);
            foreach (var p in untied.Parameters()) p.Grad = null;
            Loss(untied, 20 + step).Backward();
            var gEmbedding = untied.Wte.Weight.Grad!.ToArray();
            var gHead = untied.LmHead.Weight.Grad!.ToArray();
            var sum = gEmbedding.Select((g, i) => (double)g + gHead[i]).ToArray();
            Assert.Contains(gEmbedding, g => g == 0f); // token 3 and 4 are unused: only the head reaches their rows
            Assert.DoesNotContain(gHead, g => g == 0f);

            optimizer.ZeroGrad();
            Loss(tied, 20 + step).Backward();
            Expect.Close(sum, tied.Wte.Weight.Grad!.ToArray(), 1e-5, 1e-5, $"step {step}: tied gradient");
            optimizer.Step();
            w = w.Select((v, i) => (float)(v - lr * sum[i])).ToArray();
            Expect.Close(w.Select(v => (double)v).ToArray(), tied.Wte.Weight.ToArray(), 1e-5, 1e-5, $"step {step}: weight");
            Assert.Same(tied.Wte.Weight, tied.LmHead.Weight);
        }
    }

    [Fact]
    public void Tying_is_refused_for_another_shape_or_once_an_optimizer_holds_the_weight()
    {
        using var model = new TinyLm(tie: false);
        using var other = new Linear(Dev, 7, 4);
        var shape = Assert.Throws<ArgumentException>(() => model.LmHead.Weight = other.Weight);
        Assert.Contains("[4, 7]", shape.Message);
        Assert.Contains("[7, 4]", shape.Message);
        using var optimizer = new Sgd(model.Parameters(), 0.1f);
        var held = Assert.Throws<InvalidOperationException>(() => model.LmHead.Weight = model.Wte.Weight);
        Assert.Contains("optimizer", held.Message);
        Assert.Throws<ArgumentException>(() => model.LmHead.Weight = model.Wte.Weight * 2f);
    }
}
