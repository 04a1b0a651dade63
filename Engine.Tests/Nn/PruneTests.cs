using System.Text.Json;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Tests.Nn;

/// <summary>
/// <see cref="Prune"/> against PyTorch 1.13's <c>torch.nn.utils.prune</c> (Golden/prune.json from make_prune_golden.py):
/// the masks L1Unstructured, LnStructured and GlobalUnstructured choose, step by step through iterative pruning and
/// Remove, and the state-dict names; then the reparametrization itself (forward, gradient, optimizers, Remove) and the
/// bad arguments.
/// </summary>
public class PruneTests
{
    private static Device Dev => TestDevice.Instance;
    private static readonly TorchFixture Golden = new("prune.json");

    public static TheoryData<string> Cases => Golden.Names();

    private static Module Build(JsonElement spec)
    {
        Module m = spec.GetProperty("kind").GetString() == "linear"
            ? new Linear(Dev, spec.GetProperty("in").GetInt32(), spec.GetProperty("out").GetInt32(), seed: 1)
            : new Conv2d(Dev, spec.GetProperty("in").GetInt32(), spec.GetProperty("out").GetInt32(), spec.GetProperty("k").GetInt32(), seed: 1);
        m.LoadStateDict(new Dictionary<string, Engine.Serialization.HostTensor>
        {
            ["weight"] = new(m.StateDict()["weight"].Shape, TorchFixture.Floats(spec.GetProperty("weight"))),
            ["bias"] = new(m.StateDict()["bias"].Shape, TorchFixture.Floats(spec.GetProperty("bias"))),
        });
        return m;
    }

    private static PruningAmount Amount(JsonElement e) =>
        e.GetRawText().Contains('.') ? (PruningAmount)e.GetDouble() : (PruningAmount)e.GetInt32();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Masks_match_pytorch_step_by_step(string name)
    {
        var c = Golden.Case(name);
        var modules = c.GetProperty("modules").EnumerateArray().Select(Build).ToArray();
        try
        {
            var steps = c.GetProperty("steps").EnumerateArray().ToArray();
            var after = c.GetProperty("after").EnumerateArray().ToArray();
            for (int s = 0; s < steps.Length; s++)
            {
                var step = steps[s];
                string op = step.GetProperty("op").GetString()!;
                switch (op)
                {
                    case "l1_unstructured":
                        Prune.L1Unstructured(modules[step.GetProperty("module").GetInt32()], step.GetProperty("name").GetString()!,
                            Amount(step.GetProperty("amount")));
                        break;
                    case "ln_structured":
                        var n = step.GetProperty("n");
                        Prune.LnStructured(modules[step.GetProperty("module").GetInt32()], step.GetProperty("name").GetString()!,
                            Amount(step.GetProperty("amount")),
                            n.ValueKind == JsonValueKind.String ? double.PositiveInfinity : n.GetDouble(), step.GetProperty("dim").GetInt32());
                        break;
                    case "global_unstructured":
                        var parameters = step.GetProperty("parameters").EnumerateArray()
                            .Select(p => (modules[p[0].GetInt32()], p[1].GetString()!)).ToList();
                        Prune.GlobalUnstructured(parameters, PruningMethod.L1Unstructured, Amount(step.GetProperty("amount")));
                        break;
                    case "remove":
                        Prune.Remove(modules[step.GetProperty("module").GetInt32()], step.GetProperty("name").GetString()!);
                        break;
                }
                foreach (var entry in after[s].EnumerateObject())
                {
                    int i = int.Parse(entry.Name[..entry.Name.IndexOf('.')]);
                    string key = entry.Name[(entry.Name.IndexOf('.') + 1)..];
                    string what = $"{name}, step {s + 1} ({op}), module {i}: {key}";
                    if (key == "names")
                        Assert.Equal(entry.Value.EnumerateArray().Select(v => v.GetString()).ToArray(), modules[i].StateDict().Keys.ToArray());
                    else if (key == "weight")
                        Assert.Equal(TorchFixture.Floats(entry.Value), Weight(modules[i]).ToArray());
                    else
                        Assert.True(TorchFixture.Floats(entry.Value).SequenceEqual(modules[i].StateDict()[key].Values),
                            $"{what}: the mask differs from PyTorch's");
                }
            }
        }
        finally
        {
            foreach (var m in modules) m.Dispose();
        }
    }

    private static Tensor Weight(Module m) => m is Linear l ? l.Weight : ((ConvolutionBase)m).Weight;

    private static Tensor Named(Module m, string name) => m.NamedParameters().Single(p => p.Name == name).Parameter;

    [Fact]
    public void A_pruned_layer_computes_with_the_masked_weight_and_its_gradient_is_masked()
    {
        using var scope = new DisposeScope();
        using var layer = new Linear(Dev, 6, 4, seed: 3);
        Prune.L1Unstructured(layer, "weight", 0.5);
        Prune.L1Unstructured(layer, "bias", 1);
        var state = layer.StateDict();
        var mask = state["weight_mask"].Values;
        var masked = state["weight_orig"].Values.Zip(mask, (w, m) => w * m).ToArray();
        var maskedBias = state["bias_orig"].Values.Zip(state["bias_mask"].Values, (b, m) => b * m).ToArray();
        Assert.Equal(12, mask.Count(m => m == 0f));
        Assert.Equal(masked, layer.Weight.ToArray());

        var x = Tensor.RandN(Dev, new[] { 3, 6 }, seed: 4);
        var upstream = Tensor.RandN(Dev, new[] { 3, 4 }, seed: 5);
        var y = layer.Forward(x);
        (y * upstream).Sum().Backward();
        var w = Tensor.FromArray(Dev, masked, new[] { 4, 6 }, requiresGrad: true);
        var dense = Tensor.Linear(x, w, Tensor.FromArray(Dev, maskedBias, new[] { 4 }));
        (dense * upstream).Sum().Backward();

        Expect.Close(dense.ToArray(), y.ToArray(), 1e-6, 1e-6, "output");
        var expected = w.Grad!.ToArray().Zip(mask, (g, m) => g * m).ToArray();
        Expect.Close(expected, Named(layer, "weight_orig").Grad!.ToArray(), 1e-6, 1e-6, "∂L/∂weight_orig = ∂L/∂weight ⊙ mask");
        Assert.All(Enumerable.Range(0, mask.Length).Where(i => mask[i] == 0f),
            i => Assert.Equal(0f, Named(layer, "weight_orig").Grad!.ToArray()[i]));
    }

    [Fact]
    public void An_optimizer_made_before_pruning_trains_weight_orig_as_one_made_after()
    {
        using var scope = new DisposeScope();
        using var before = new Linear(Dev, 5, 3, seed: 8);
        using var after = new Linear(Dev, 5, 3, seed: 8);
        var initial = before.Weight.ToArray();
        using var early = new Sgd(before.Parameters(), lr: 0.1f);
        Prune.L1Unstructured(before, "weight", 0.4);
        Prune.L1Unstructured(after, "weight", 0.4);
        Assert.Equal(new[] { "bias", "weight_orig" }, after.NamedParameters().Select(p => p.Name).ToArray());
        using var late = new Sgd(after.Parameters(), lr: 0.1f);
        var x = Tensor.RandN(Dev, new[] { 4, 5 }, seed: 9);
        var labels = Tensor.FromArray(Dev, new[] { 0, 2, 1, 2 }, new[] { 4 });
        for (int step = 0; step < 3; step++)
            foreach (var (layer, optimizer) in new[] { (before, (Optimizer)early), (after, late) })
            {
                optimizer.ZeroGrad();
                Loss.CrossEntropy(layer.Forward(x), labels).Backward();
                optimizer.Step();
            }
        var mask = after.StateDict()["weight_mask"].Values;
        Assert.Equal(after.StateDict()["weight_orig"].Values, before.StateDict()["weight_orig"].Values);
        var orig = before.StateDict()["weight_orig"].Values;
        for (int i = 0; i < mask.Length; i++)
        {
            if (mask[i] == 0f)
            {
                Assert.Equal(initial[i], orig[i]); // no gradient reached it (plain SGD: no momentum, no decay)
                Assert.Equal(0f, before.Weight.ToArray()[i]);
            }
        }
        Assert.NotEqual(initial, orig);
    }

    [Fact]
    public void Remove_makes_the_pruning_permanent_in_the_same_tensor()
    {
        using var scope = new DisposeScope();
        using var model = new Sequential(new Linear(Dev, 6, 5, seed: 11), new Relu(), new Linear(Dev, 5, 2, seed: 12));
        var first = (Linear)model[0];
        var tensor = first.Weight;
        Assert.False(Prune.IsPruned(model));
        Prune.LnStructured(first, "weight", 2, n: 2, dim: 0);
        Assert.True(Prune.IsPruned(model));
        Assert.Equal(new[] { "0.bias", "0.weight_mask", "0.weight_orig", "2.bias", "2.weight" }, model.StateDict().Keys.Order().ToArray());
        var masked = first.Weight.ToArray();
        Assert.Equal(2, Enumerable.Range(0, 5).Count(r => masked.Skip(6 * r).Take(6).All(v => v == 0f)));
        var x = Tensor.RandN(Dev, new[] { 3, 6 }, seed: 13);
        var before = model.Forward(x).ToArray();

        Prune.Remove(first, "weight");
        Assert.False(Prune.IsPruned(model));
        Assert.Same(tensor, first.Weight);
        Assert.Equal(masked, first.Weight.ToArray());
        Assert.Equal(new[] { "0.bias", "0.weight", "2.bias", "2.weight" }, model.StateDict().Keys.Order().ToArray());
        Assert.Equal(before, model.Forward(x).ToArray());
        var e = Assert.Throws<ArgumentException>(() => Prune.Remove(first, "weight"));
        Assert.Contains("'weight'", e.Message);
        Assert.Contains("has to be pruned before", e.Message);
    }

    [Fact]
    public void A_mask_made_inside_a_training_steps_scope_outlives_it()
    {
        using var layer = new Linear(Dev, 5, 4, seed: 71);
        using (new DisposeScope())
        {
            using var sgd = new Sgd(layer.Parameters(), lr: 0.1f);
            Loss.Mse(layer.Forward(Tensor.Ones(Dev, new[] { 2, 5 })), Tensor.Zeros(Dev, new[] { 2, 4 })).Backward();
            sgd.Step();
            Prune.L1Unstructured(layer, "weight", 0.5); // e.g. from an epoch-end callback
        }
        using var scope = new DisposeScope();
        Assert.Equal(new[] { 1, 4 }, layer.Forward(Tensor.Ones(Dev, new[] { 1, 5 })).Shape); // the mask is still there
        Assert.Equal(10, layer.Weight.ToArray().Count(v => v == 0f));
    }

    [Fact]
    public void A_pruned_state_dict_loads_into_a_model_reparametrized_by_identity()
    {
        using var scope = new DisposeScope();
        using var source = new Linear(Dev, 4, 3, seed: 21);
        Prune.RandomUnstructured(source, "weight", 0.5, seed: 3);
        using var target = new Linear(Dev, 4, 3, seed: 22);
        var e = Assert.Throws<ArgumentException>(() => target.LoadStateDict(source.StateDict()));
        Assert.Contains("unexpected 'weight_orig'", e.Message);
        Assert.Contains("unexpected 'weight_mask'", e.Message);
        Prune.Identity(target, "weight");
        Assert.All(target.StateDict()["weight_mask"].Values, v => Assert.Equal(1f, v));
        target.LoadStateDict(source.StateDict());
        Assert.Equal(source.Weight.ToArray(), target.Weight.ToArray());
        Assert.Equal(6, target.StateDict()["weight_mask"].Values.Count(v => v == 0f));
    }

    [Fact]
    public void Random_unstructured_prunes_the_amount_reproducibly()
    {
        using var a = new Linear(Dev, 10, 10, seed: 1);
        using var b = new Linear(Dev, 10, 10, seed: 1);
        using var c = new Linear(Dev, 10, 10, seed: 1);
        Prune.RandomUnstructured(a, "weight", 0.25, seed: 7);
        Prune.RandomUnstructured(b, "weight", 0.25, seed: 7);
        Prune.RandomUnstructured(c, "weight", 0.25, seed: 8);
        var mask = a.StateDict()["weight_mask"].Values;
        Assert.Equal(25, mask.Count(v => v == 0f));
        Assert.Equal(mask, b.StateDict()["weight_mask"].Values);
        Assert.NotEqual(mask, c.StateDict()["weight_mask"].Values);
        Prune.RandomUnstructured(a, "weight", 30, seed: 9); // 30 more of the 75 left
        Assert.Equal(55, a.StateDict()["weight_mask"].Values.Count(v => v == 0f));
    }

    [Fact]
    public void Random_structured_prunes_whole_slices_reproducibly_and_composes()
    {
        using var a = new Conv2d(Dev, 3, 8, 3, seed: 1);
        using var b = new Conv2d(Dev, 3, 8, 3, seed: 1);
        Prune.RandomStructured(a, "weight", 0.25, dim: 0, seed: 4);
        Prune.RandomStructured(b, "weight", 0.25, dim: 0, seed: 4);
        int[] PrunedChannels(Conv2d c)
        {
            var mask = c.StateDict()["weight_mask"].Values;
            Assert.All(Enumerable.Range(0, 8), ch => Assert.True(mask.Skip(27 * ch).Take(27).Distinct().Count() == 1, "a whole channel"));
            return Enumerable.Range(0, 8).Where(ch => mask[27 * ch] == 0f).ToArray();
        }
        var first = PrunedChannels(a);
        Assert.Equal(2, first.Length);
        Assert.Equal(first, PrunedChannels(b));
        Prune.RandomStructured(a, "weight", 0.5, dim: 0, seed: 5); // 3 of the 6 channels left
        var second = PrunedChannels(a);
        Assert.Equal(5, second.Length);
        Assert.Subset(second.ToHashSet(), first.ToHashSet());
    }

    [Fact]
    public void Importance_scores_rank_in_place_of_the_weights()
    {
        using var scope = new DisposeScope();
        using var a = new Linear(Dev, 4, 3, seed: 61);
        using var b = new Linear(Dev, 4, 2, seed: 62);
        // Scores 0 for every entry of a's weight: a count of 12 prunes all of a and none of b, whatever the weights.
        var scores = new Dictionary<(Module, string), Tensor>
        {
            [(a, "weight")] = Tensor.Zeros(Dev, new[] { 3, 4 }),
            [(b, "weight")] = Tensor.Ones(Dev, new[] { 2, 4 }),
        };
        Prune.GlobalUnstructured(new[] { ((Module)a, "weight"), (b, "weight") }, PruningMethod.L1Unstructured, 12, scores);
        Assert.All(a.StateDict()["weight_mask"].Values, m => Assert.Equal(0f, m));
        Assert.All(b.StateDict()["weight_mask"].Values, m => Assert.Equal(1f, m));
        // Per layer: scores 0, 1, … 7 prune the first entries in flat order.
        using var c = new Linear(Dev, 4, 2, seed: 63);
        Prune.L1Unstructured(c, "weight", 3, Tensor.Arange(Dev, 0f, 8f).Reshape(2, 4));
        Assert.Equal(new[] { 0f, 0f, 0f, 1f, 1f, 1f, 1f, 1f }, c.StateDict()["weight_mask"].Values);
        Assert.Throws<ArgumentException>(() => Prune.L1Unstructured(c, "weight", 1, Tensor.Zeros(Dev, new[] { 8 })));
    }

    [Fact]
    public void Bad_arguments_are_refused_naming_the_value()
    {
        using var layer = new Linear(Dev, 4, 3, seed: 1);
        using var norm = new LayerNorm(Dev, 4);
        void Refused<TException>(Action act, params string[] parts) where TException : Exception
        {
            var e = Assert.Throws<TException>(act);
            foreach (var part in parts) Assert.Contains(part, e.Message);
        }
        Refused<ArgumentOutOfRangeException>(() => Prune.L1Unstructured(layer, "weight", 1.5), "amount = 1.5", "[0, 1]");
        Refused<ArgumentOutOfRangeException>(() => Prune.L1Unstructured(layer, "weight", -0.1), "amount = -0.1");
        Refused<ArgumentOutOfRangeException>(() => Prune.L1Unstructured(layer, "weight", double.NaN), "amount = NaN");
        Refused<ArgumentOutOfRangeException>(() => Prune.L1Unstructured(layer, "weight", -2), "amount = -2");
        Refused<ArgumentException>(() => Prune.L1Unstructured(layer, "weight", 13), "amount = 13", "= 12");
        Refused<ArgumentException>(() => Prune.LnStructured(layer, "weight", 4, 2, 0), "amount = 4", "= 3");
        Refused<ArgumentException>(() => Prune.L1Unstructured(layer, "wieght", 0.5), "'wieght'", "weight, bias");
        Refused<ArgumentOutOfRangeException>(() => Prune.LnStructured(layer, "weight", 0.5, 0, 0), "n = 0");
        Refused<ArgumentOutOfRangeException>(() => Prune.LnStructured(layer, "weight", 0.5, double.NaN, 0), "n = NaN");
        Refused<ArgumentOutOfRangeException>(() => Prune.LnStructured(layer, "weight", 0.5, 2, 2), "dim = 2", "[3, 4]");
        Refused<ArgumentOutOfRangeException>(() => Prune.LnStructured(layer, "weight", 0.5, 2, -3), "dim = -3");
        Refused<ArgumentException>(() => Prune.LnStructured(layer, "bias", 0.5, 2, 0), "multidimensional", "[3]");
        Refused<NotSupportedException>(() => Prune.L1Unstructured(norm, "weight", 0.5), "LayerNorm.weight");
        Refused<ArgumentException>(() => Prune.GlobalUnstructured(new[] { ((Module)layer, "weight") },
            a => new LnStructured(a, 2, 0), 0.5), "unstructured", "LnStructured");
        Refused<ArgumentException>(() => Prune.GlobalUnstructured(new[] { ((Module)layer, "weight"), (layer, "weight") },
            PruningMethod.L1Unstructured, 0.5), "listed twice");
        Refused<ArgumentException>(() => Prune.GlobalUnstructured(new[] { ((Module)layer, "weight"), (layer, "bias") },
            PruningMethod.L1Unstructured, 16), "amount = 16", "= 15");
        Assert.False(Prune.IsPruned(layer)); // nothing above changed the layer
        Assert.Equal(new[] { "weight", "bias" }, layer.StateDict().Keys.ToArray());
    }

    [Fact]
    public void A_pruned_model_resumes_from_a_checkpoint_and_online_learning_keeps_the_zeros()
    {
        using var scope = new DisposeScope();
        Sequential Model() => new(new Linear(Dev, 8, 6, seed: 51), new Relu(), new Linear(Dev, 6, 3, seed: 52));
        var rng = new Random(53);
        var samples = Enumerable.Range(0, 40).Select(_ => new Engine.Training.Sample(
            Enumerable.Range(0, 8).Select(_ => (float)rng.NextDouble()).ToArray(), rng.Next(3))).ToList();
        using var model = Model();
        Prune.GlobalUnstructured(new[] { (model[0], "weight"), (model[2], "weight") }, PruningMethod.L1Unstructured, 0.5);
        using var sgd = new Sgd(model.Parameters(), lr: 0.1f, momentum: 0.9f);
        // The online trainer's fused dense step reads Linear weights directly; a pruned model takes the general path.
        using (var online = new Engine.Training.OnlineTrainer(model, sgd))
            foreach (var sample in samples.Take(20)) online.Learn(sample);
        var zeros = model.StateDict()["0.weight_mask"].Values.Select((m, i) => (m, i)).Where(p => p.m == 0f).Select(p => p.i).ToArray();
        Assert.Equal(33, zeros.Length + model.StateDict()["2.weight_mask"].Values.Count(m => m == 0f)); // half of 48 + 18
        var w0 = ((Linear)model[0]).Weight.ToArray();
        Assert.All(zeros, i => Assert.Equal(0f, w0[i]));

        string file = Path.Combine(Path.GetTempPath(), $"pruned-{Guid.NewGuid():N}.safetensors");
        try
        {
            Engine.Serialization.Checkpoint.Save(file, model, sgd);
            using var resumed = Model();
            Prune.Identity(resumed[0], "weight");
            Prune.Identity(resumed[2], "weight");
            using var sgd2 = new Sgd(resumed.Parameters(), lr: 0.1f, momentum: 0.9f);
            Engine.Serialization.Checkpoint.Load(file, resumed, sgd2);
            using (var a = new Engine.Training.OnlineTrainer(model, sgd))
            using (var b = new Engine.Training.OnlineTrainer(resumed, sgd2))
                foreach (var sample in samples.Skip(20))
                {
                    a.Learn(sample);
                    b.Learn(sample);
                }
            foreach (var (name, values) in model.StateDict())
                Assert.Equal(values.Values, resumed.StateDict()[name].Values);
            Assert.All(zeros, i => Assert.Equal(0f, ((Linear)resumed[0]).Weight.ToArray()[i]));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Pruned_state_dicts_load_in_pytorch_and_back()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"prune-torch-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            using var scope = new DisposeScope();
            Sequential Model(int seed) => new(new Linear(Dev, 6, 5, seed: seed), new Relu(), new Linear(Dev, 5, 3, seed: seed + 1));
            var x = Tensor.RandN(Dev, new[] { 4, 6 }, seed: 31);
            TorchLoadsEngineState.WriteFloats(Path.Combine(folder, "input.f32"), x);
            using var engine = Model(32);
            Prune.L1Unstructured(engine[0], "weight", 0.5);
            Prune.LnStructured(engine[2], "weight", 1, n: 2, dim: 0);
            Prune.L1Unstructured(engine[2], "bias", 1);
            engine.Save(Path.Combine(folder, "engine.safetensors"));
            TorchLoadsEngineState.WriteFloats(Path.Combine(folder, "engine.output"), engine.Forward(x));

            TorchLoadsEngineState.RunScript("prune_state_dicts.py", folder);

            using var loaded = Model(40);
            Prune.Identity(loaded[0], "weight");
            Prune.Identity(loaded[2], "weight");
            loaded.Load(Path.Combine(folder, "torch.safetensors"));
            var bytes = File.ReadAllBytes(Path.Combine(folder, "torch.output"));
            var expected = new float[bytes.Length / 4];
            Buffer.BlockCopy(bytes, 0, expected, 0, bytes.Length);
            Expect.Close(expected, loaded.Forward(x).ToArray(), 1e-6, 1e-5, "PyTorch's pruned model in the engine");
            Assert.Equal(12, ((Linear)loaded[0]).Weight.ToArray().Count(v => v == 0f));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
