using System.Text.Json;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;

namespace Engine.Tests.Nn;

/// <summary>
/// LSTM, GRU, LSTMCell and GRUCell on the SIMD backend and on the ILGPU kernels: outputs, final states and the
/// gradients of the input, the initial states and every parameter equal PyTorch 1.13's (Golden/rnn.json from
/// make_rnn_golden.py, weights loaded by their torch names); the gradients of a 2-layer bidirectional network match
/// finite differences of the double reference; wrong shapes are refused naming the module and both shapes.
/// </summary>
public class RecurrentTests
{
    private static readonly JsonDocument Golden =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "rnn.json")));

    private static JsonElement Case(string name) =>
        Golden.RootElement.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    private static Tensor? Entry(Device dev, JsonElement e, bool requiresGrad = false) =>
        e.ValueKind == JsonValueKind.Null ? null
            : Tensor.FromArray(dev, Floats(e.GetProperty("values")), Ints(e.GetProperty("shape")), requiresGrad);

    public static IEnumerable<object[]> Cases() =>
        from backend in new[] { "simd", "ilgpu" }
        from c in Golden.RootElement.GetProperty("cases").EnumerateArray()
        select new object[] { backend, c.GetProperty("name").GetString()! };

    private static Module Build(Device dev, JsonElement c)
    {
        bool lstm = c.GetProperty("kind").GetString() == "lstm";
        int input = c.GetProperty("input_size").GetInt32(), hidden = c.GetProperty("hidden_size").GetInt32();
        bool bias = c.GetProperty("bias").GetBoolean();
        if (c.GetProperty("cell").GetBoolean())
            return lstm ? new LSTMCell(dev, input, hidden, bias) : new GRUCell(dev, input, hidden, bias);
        int layers = c.GetProperty("num_layers").GetInt32();
        bool batchFirst = c.GetProperty("batch_first").GetBoolean(), bidirectional = c.GetProperty("bidirectional").GetBoolean();
        return lstm
            ? new LSTM(dev, input, hidden, layers, bias, batchFirst, bidirectional: bidirectional)
            : new GRU(dev, input, hidden, layers, bias, batchFirst, bidirectional: bidirectional);
    }

    /// <summary>Every case's module, initialised by the engine, saved and loaded by PyTorch: the same output (h for cells).</summary>
    [Fact]
    public void PyTorch_loads_the_engines_own_state_dicts_and_computes_the_same_outputs() =>
        TorchLoadsEngineState.Check("rnn.json", files =>
        {
            var dev = TestDevice.Instance;
            foreach (var c in Golden.RootElement.GetProperty("cases").EnumerateArray())
            {
                string name = c.GetProperty("name").GetString()!;
                using var scope = new DisposeScope();
                using var module = Build(dev, c);
                var x = Entry(dev, c.GetProperty("x"))!;
                var h0 = Entry(dev, c.GetProperty("h0"));
                var c0 = Entry(dev, c.GetProperty("c0"));
                Tensor output = module switch
                {
                    LSTM lstm => lstm.Forward(x, h0, c0).Output,
                    GRU gru => gru.Forward(x, h0).Output,
                    LSTMCell cell => cell.Forward(x, h0, c0).H,
                    GRUCell cell => cell.Forward(x, h0),
                    _ => throw new InvalidOperationException(module.GetType().Name),
                };
                var (weights, outputFile) = files(name);
                module.Save(weights);
                TorchLoadsEngineState.WriteFloats(outputFile, output);
            }
        });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Outputs_states_and_gradients_equal_pytorchs(string backend, string name)
    {
        var dev = backend == "simd" ? TestDevice.Simd : TestDevice.Ilgpu;
        var c = Case(name);
        using var module = Build(dev, c);
        var state = c.GetProperty("state").EnumerateObject().ToDictionary(p => p.Name,
            p => new HostTensor(Ints(p.Value.GetProperty("shape")), Floats(p.Value.GetProperty("values"))));
        module.LoadStateDict(state);

        using var scope = new DisposeScope();
        var x = Entry(dev, c.GetProperty("x"), requiresGrad: true)!;
        var h0 = Entry(dev, c.GetProperty("h0"), requiresGrad: true);
        var c0 = Entry(dev, c.GetProperty("c0"), requiresGrad: true);
        Tensor? output = null, cN = null;
        Tensor hN;
        switch (module)
        {
            case LSTM lstm: (output, hN, cN) = lstm.Forward(x, h0, c0); break;
            case GRU gru: (output, hN) = gru.Forward(x, h0); break;
            case LSTMCell cell: (hN, cN) = cell.Forward(x, h0, c0); break;
            case GRUCell cell: hN = cell.Forward(x, h0); break;
            default: throw new InvalidOperationException(module.GetType().Name);
        }
        const double atol = 2e-5, rtol = 1e-4;
        var loss = (hN * Tensor.FromArray(dev, Floats(c.GetProperty("d_h")), hN.Shape)).Sum();
        Expect.Close(Floats(c.GetProperty("h_n").GetProperty("values")), hN.ToArray(), atol, rtol, $"{name}: h_n");
        Assert.Equal(Ints(c.GetProperty("h_n").GetProperty("shape")), hN.Shape);
        if (output != null)
        {
            Expect.Close(Floats(c.GetProperty("output").GetProperty("values")), output.ToArray(), atol, rtol, $"{name}: output");
            Assert.Equal(Ints(c.GetProperty("output").GetProperty("shape")), output.Shape);
            loss += (output * Tensor.FromArray(dev, Floats(c.GetProperty("d_output")), output.Shape)).Sum();
        }
        if (cN != null)
        {
            Expect.Close(Floats(c.GetProperty("c_n").GetProperty("values")), cN.ToArray(), atol, rtol, $"{name}: c_n");
            loss += (cN * Tensor.FromArray(dev, Floats(c.GetProperty("d_c")), cN.Shape)).Sum();
        }
        loss.Backward();
        Expect.Close(Floats(c.GetProperty("dx")), x.Grad!.ToArray(), atol, rtol, $"{name}: dx");
        if (h0 != null) Expect.Close(Floats(c.GetProperty("dh0")), h0.Grad!.ToArray(), atol, rtol, $"{name}: dh0");
        if (c0 != null) Expect.Close(Floats(c.GetProperty("dc0")), c0.Grad!.ToArray(), atol, rtol, $"{name}: dc0");
        var grads = c.GetProperty("grads");
        var named = module.NamedParameters().ToList();
        Assert.Equal(grads.EnumerateObject().Select(p => p.Name), named.Select(p => p.Name));
        foreach (var (pname, p) in named)
            Expect.Close(Floats(grads.GetProperty(pname)), p.Grad!.ToArray(), atol, rtol, $"{name}: grad of {pname}");
    }

    /// <summary>
    /// L = Σ w·output + Σ w·h_n (+ Σ w·c_n) through a 2-layer bidirectional network (T = 3, N = 2, in = 3, H = 4) on the
    /// suite's device: the gradient of the input, h0, c0 and every parameter against central differences of
    /// <see cref="RecurrentReference.Network"/>.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Gradients_match_finite_differences(bool lstm)
    {
        const int steps = 3, batch = 2, inputSize = 3, hidden = 4, layers = 2;
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        using RecurrentBase module = lstm
            ? new LSTM(dev, inputSize, hidden, layers, bidirectional: true, seed: 5)
            : new GRU(dev, inputSize, hidden, layers, bidirectional: true, seed: 5);
        var parameters = module.NamedParameters().ToList();
        var xs = Reference.RandomValues(21, steps * batch * inputSize, -1, 1);
        var h0s = Reference.RandomValues(22, layers * 2 * batch * hidden, -1, 1);
        var c0s = Reference.RandomValues(23, layers * 2 * batch * hidden, -1, 1);
        var x = Tensor.FromArray(dev, xs, new[] { steps, batch, inputSize }, requiresGrad: true);
        var stateShape = new[] { layers * 2, batch, hidden };
        var h0 = Tensor.FromArray(dev, h0s, stateShape, requiresGrad: true);
        var c0 = Tensor.FromArray(dev, c0s, stateShape, requiresGrad: true);
        var (output, hN, cN) = module is LSTM l ? l.Forward(x, h0, c0) : WithoutCell(((GRU)module).Forward(x, h0));
        var wOut = Reference.RandomValues(31, output.Numel, -1, 1);
        var wH = Reference.RandomValues(32, hN.Numel, -1, 1);
        var wC = Reference.RandomValues(33, hN.Numel, -1, 1);
        var loss = (output * Tensor.FromArray(dev, wOut, output.Shape)).Sum() + (hN * Tensor.FromArray(dev, wH, hN.Shape)).Sum();
        if (cN != null) loss += (cN * Tensor.FromArray(dev, wC, cN.Shape)).Sum();
        loss.Backward();

        // Every differentiated input by name: x, h0, (c0,) then the parameters.
        var inputs = new List<(string Name, double[] Values, Tensor Leaf)>
        {
            ("x", Reference.ToDouble(xs), x), ("h0", Reference.ToDouble(h0s), h0),
        };
        if (lstm) inputs.Add(("c0", Reference.ToDouble(c0s), c0));
        inputs.AddRange(parameters.Select(p => (p.Name, Reference.ToDouble(p.Parameter.ToArray()), p.Parameter)));
        double Loss(Dictionary<string, double[]> v)
        {
            var p = parameters.ToDictionary(q => q.Name, q => v[q.Name]);
            var (o, h, c) = RecurrentReference.Network(lstm, p, v["x"], v["h0"], lstm ? v["c0"] : null, steps, batch,
                inputSize, hidden, layers, bidirectional: true);
            double s = 0;
            for (int i = 0; i < o.Length; i++) s += wOut[i] * o[i];
            for (int i = 0; i < h.Length; i++) s += wH[i] * h[i] + (lstm ? wC[i] * c[i] : 0);
            return s;
        }
        var all = inputs.ToDictionary(i => i.Name, i => i.Values);
        foreach (var (name, values, leaf) in inputs)
        {
            var expected = Reference.NumericGradient(xi =>
            {
                var v = new Dictionary<string, double[]>(all) { [name] = xi };
                return Loss(v);
            }, (double[])values.Clone());
            Expect.Close(expected, leaf.Grad!.ToArray(), 2e-3, 2e-3, $"{(lstm ? "LSTM" : "GRU")}: gradient of {name}");
        }
    }

    private static (Tensor Output, Tensor H, Tensor? C) WithoutCell((Tensor Output, Tensor H) r) => (r.Output, r.H, null);

    [Fact]
    public void Parameters_have_torchs_names_shapes_and_initial_range()
    {
        var dev = TestDevice.Instance;
        using var lstm = new LSTM(dev, 3, 4, numLayers: 2, bidirectional: true, seed: 1);
        var names = lstm.NamedParameters().Select(p => $"{p.Name} {Shapes.Format(p.Parameter.Shape)}").ToArray();
        Assert.Equal(new[]
        {
            "weight_ih_l0 [16, 3]", "weight_hh_l0 [16, 4]", "bias_ih_l0 [16]", "bias_hh_l0 [16]",
            "weight_ih_l0_reverse [16, 3]", "weight_hh_l0_reverse [16, 4]", "bias_ih_l0_reverse [16]", "bias_hh_l0_reverse [16]",
            "weight_ih_l1 [16, 8]", "weight_hh_l1 [16, 4]", "bias_ih_l1 [16]", "bias_hh_l1 [16]",
            "weight_ih_l1_reverse [16, 8]", "weight_hh_l1_reverse [16, 4]", "bias_ih_l1_reverse [16]", "bias_hh_l1_reverse [16]",
        }, names);
        var values = lstm.Parameters().SelectMany(p => p.ToArray()).ToArray();
        Assert.All(values, v => Assert.InRange(v, -0.5f, 0.5f));
        Assert.True(values.Distinct().Count() > values.Length * 0.99, "parameters share numbers of the stream");
        using var same = new LSTM(dev, 3, 4, numLayers: 2, bidirectional: true, seed: 1);
        Assert.Equal(values, same.Parameters().SelectMany(p => p.ToArray()).ToArray());

        using var gru = new GRU(dev, 2, 3, bias: false, seed: 2);
        Assert.Equal(new[] { "weight_ih_l0 [9, 2]", "weight_hh_l0 [9, 3]" },
            gru.NamedParameters().Select(p => $"{p.Name} {Shapes.Format(p.Parameter.Shape)}"));
        using var cell = new GRUCell(dev, 2, 3, seed: 3);
        Assert.Equal(new[] { "weight_ih", "weight_hh", "bias_ih", "bias_hh" }, cell.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void Wrong_shapes_are_refused_naming_the_module_and_both_shapes()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        using var lstm = new LSTM(dev, 3, 4, numLayers: 2, seed: 1);
        using var gru = new GRU(dev, 3, 4, batchFirst: true, bidirectional: true, seed: 1);
        var x = Tensor.Zeros(dev, new[] { 5, 2, 3 });

        var e = Assert.Throws<ArgumentException>(() => lstm.Forward(Tensor.Zeros(dev, new[] { 5, 2, 6 })));
        Assert.Contains("LSTM: input has shape [5, 2, 6], expected [T, N, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(Tensor.Zeros(dev, new[] { 1, 5, 2, 3 })));
        Assert.Contains("LSTM: input has shape [1, 5, 2, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            lstm.Forward(x, Tensor.Zeros(dev, new[] { 1, 2, 4 }), Tensor.Zeros(dev, new[] { 2, 2, 4 })));
        Assert.Contains("LSTM: h0 has shape [1, 2, 4], expected [2, 2, 4]", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            lstm.Forward(x, Tensor.Zeros(dev, new[] { 2, 2, 4 }), Tensor.Zeros(dev, new[] { 2, 3, 4 })));
        Assert.Contains("LSTM: c0 has shape [2, 3, 4], expected [2, 2, 4]", e.Message);
        e = Assert.Throws<ArgumentException>(() => lstm.Forward(x, Tensor.Zeros(dev, new[] { 2, 2, 4 }), null));
        Assert.Contains("LSTM: give both h0 and c0", e.Message);

        e = Assert.Throws<ArgumentException>(() => gru.Forward(Tensor.Zeros(dev, new[] { 2, 5, 4 })));
        Assert.Contains("GRU: input has shape [2, 5, 4], expected [N, T, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => gru.Forward(x, Tensor.Zeros(dev, new[] { 1, 5, 4 })));
        Assert.Contains("GRU: h0 has shape [1, 5, 4], expected [2, 5, 4]", e.Message);
        e = Assert.Throws<ArgumentException>(() => gru.Forward(Tensor.Zeros(dev, new[] { 7, 3 }), Tensor.Zeros(dev, new[] { 2, 1, 4 })));
        Assert.Contains("GRU: h0 has shape [2, 1, 4], expected [2, 4]", e.Message);

        using var cell = new LSTMCell(dev, 3, 4, seed: 1);
        e = Assert.Throws<ArgumentException>(() => cell.Forward(Tensor.Zeros(dev, new[] { 2, 5 })));
        Assert.Contains("LSTMCell: input has shape [2, 5], expected [N, 3]", e.Message);
        using var gruCell = new GRUCell(dev, 3, 4, seed: 1);
        e = Assert.Throws<ArgumentException>(() => gruCell.Forward(Tensor.Zeros(dev, new[] { 2, 3 }), Tensor.Zeros(dev, new[] { 3, 4 })));
        Assert.Contains("GRUCell: h has shape [3, 4], expected [2, 4]", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LSTM(dev, 3, 4, dropout: 1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GRU(dev, 0, 4));
    }

    [Fact]
    public void Dropout_acts_between_layers_in_training_only()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        using var plain = new GRU(dev, 3, 8, numLayers: 2, seed: 9);
        using var dropped = new GRU(dev, 3, 8, numLayers: 2, dropout: 0.5f, seed: 9);
        var x = Tensor.FromArray(dev, Reference.RandomValues(3, 4 * 2 * 3), new[] { 4, 2, 3 });
        Assert.Equal(plain.StateDict().Keys, dropped.StateDict().Keys); // torch's keys: the dropout child has no state
        var expected = plain.Forward(x).ToArray();
        Assert.NotEqual(expected, dropped.Forward(x).ToArray());
        dropped.Eval();
        Assert.Equal(expected, dropped.Forward(x).ToArray());
        // One layer: nothing lies between layers, so dropout changes nothing even in training.
        using var single = new LSTM(dev, 3, 8, dropout: 0.5f, seed: 4);
        using var singlePlain = new LSTM(dev, 3, 8, seed: 4);
        Assert.Equal(singlePlain.Forward(x).ToArray(), single.Forward(x).ToArray());
    }

    /// <summary>
    /// Training end to end (parameters in Adam's flat buffer, gradients through every step): an LSTM with a linear
    /// head learns to recall the first value of a 4-step sequence from its last output; the loss falls a hundredfold.
    /// </summary>
    [Fact]
    public void An_lstm_learns_to_recall_the_first_step()
    {
        const int steps = 4, batch = 16;
        var dev = TestDevice.Instance;
        using var lstm = new LSTM(dev, 2, 8, seed: 3);
        using var head = new Linear(dev, 8, 1, seed: 4);
        var opt = new Adam(lstm.Parameters().Concat(head.Parameters()), lr: 0.05f);
        var xs = Reference.RandomValues(41, steps * batch * 2, -1, 1);
        var targets = Enumerable.Range(0, batch).Select(n => xs[n * 2]).ToArray();
        float first = 0f, last = 0f;
        for (int i = 0; i < 80; i++)
        {
            using var scope = new DisposeScope();
            var x = Tensor.FromArray(dev, xs, new[] { steps, batch, 2 });
            var prediction = head.Forward(lstm.Forward(x).Select(0, steps - 1));
            var loss = Loss.Mse(prediction, Tensor.FromArray(dev, targets, new[] { batch, 1 }));
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            last = loss.Item();
            if (i == 0) first = last;
        }
        Assert.True(last < first / 100, $"loss {first} → {last}");
    }
}
