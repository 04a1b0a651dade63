namespace Engine.Nn;

/// <summary>
/// Stacked, optionally bidirectional recurrent layers, as <c>torch.nn.RNNBase</c> (the base of <see cref="LSTM"/> and
/// <see cref="GRU"/>). Layer k (0-based) of direction d has parameters <c>weight_ih_l{k}</c> [G·H, in_k],
/// <c>weight_hh_l{k}</c> [G·H, H], <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c> [G·H], with the suffix <c>_reverse</c>
/// for the backward direction; in_0 = input_size and in_k = D·H above it. Every parameter starts U(−1/√H, 1/√H),
/// drawn from the module's seeded stream in registration order (layer, direction, then ih, hh weights and biases).
/// </summary>
/// <remarks>
/// A layer direction runs x·W_ihᵀ + b_ih for all T steps as one product, then per step one product h·W_hhᵀ and one
/// fused element-wise kernel (<see cref="Engine.Kernels.RecurrentKernels"/>); the backward direction walks time from
/// T − 1 down to 0. Its outputs are stacked in time order, the two directions concatenated on the feature axis, and in
/// training <see cref="Dropout"/> applies to every layer's output but the last (through a child <see cref="Nn.Dropout"/>
/// module named <c>dropout</c>, so checkpoints keep its random stream's position).
/// </remarks>
public abstract class RecurrentBase : Module
{
    private readonly RecurrentWeights[] weights;
    private readonly Dropout? betweenLayers;

    private protected RecurrentBase(int gates, Device device, int inputSize, int hiddenSize, int numLayers, bool bias,
        bool batchFirst, float dropout, bool bidirectional, int? seed)
    {
        ArgumentNullException.ThrowIfNull(device);
        string name = GetType().Name;
        CheckSizes(name, inputSize, hiddenSize);
        if (numLayers < 1)
            throw new ArgumentOutOfRangeException(nameof(numLayers), $"{name}: num_layers must be ≥ 1, got {numLayers}.");
        if (!(dropout >= 0f && dropout < 1f))
            throw new ArgumentOutOfRangeException(nameof(dropout), $"{name}: dropout must be in [0, 1), got {dropout}.");
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        HasBias = bias;
        BatchFirst = batchFirst;
        Dropout = dropout;
        Bidirectional = bidirectional;
        Seed = Generator.SeedOrNext(seed);
        // A child module (no parameters, so the state dict is torch's) whose call count checkpoints keep.
        if (dropout > 0f && numLayers > 1)
            betweenLayers = RegisterModule("dropout", new Nn.Dropout(dropout, seed: unchecked(Seed * 31 + 17)));
        var stream = new SeededUniform(device, Seed, 1f / MathF.Sqrt(hiddenSize));
        weights = new RecurrentWeights[numLayers * NumDirections];
        for (int layer = 0; layer < numLayers; layer++)
        {
            int layerInput = layer == 0 ? inputSize : hiddenSize * NumDirections;
            for (int direction = 0; direction < NumDirections; direction++)
            {
                string suffix = $"_l{layer}" + (direction == 1 ? "_reverse" : "");
                var wIh = RegisterParameter("weight_ih" + suffix, stream.Next(gates * hiddenSize, layerInput));
                var wHh = RegisterParameter("weight_hh" + suffix, stream.Next(gates * hiddenSize, hiddenSize));
                Tensor? bIh = bias ? RegisterParameter("bias_ih" + suffix, stream.Next(gates * hiddenSize)) : null;
                Tensor? bHh = bias ? RegisterParameter("bias_hh" + suffix, stream.Next(gates * hiddenSize)) : null;
                weights[layer * NumDirections + direction] = new RecurrentWeights(wIh, wHh, bIh, bHh);
            }
        }
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public int NumLayers { get; }

    /// <summary>Whether the layers have biases (torch's <c>bias</c> argument).</summary>
    public bool HasBias { get; }

    /// <summary>Input and output are [N, T, features] instead of [T, N, features] (the states stay [L·D, N, H]).</summary>
    public bool BatchFirst { get; }

    /// <summary>Probability of zeroing each output of every layer but the last, in training mode.</summary>
    public float Dropout { get; }

    public bool Bidirectional { get; }

    /// <summary>D: 2 when bidirectional, else 1.</summary>
    public int NumDirections => Bidirectional ? 2 : 1;

    /// <summary>The random stream the parameters were drawn from (the inter-layer dropout's seed is derived from it).</summary>
    public int Seed { get; }

    /// <summary>x·W_ihᵀ + b_ih (and whatever bias the cell folds in) for every step: [T, N, in] → [T, N, G·H].</summary>
    private protected abstract Tensor InputGates(Tensor x, RecurrentWeights w);

    /// <summary>One time step from that step's input gates [N, G·H]: h (and c for an LSTM) become the new state.</summary>
    private protected abstract void Step(Tensor xGates, ref Tensor h, ref Tensor? c, RecurrentWeights w);

    /// <summary>
    /// The whole forward: input [T, N, in] ([N, T, in] when batch-first, [T, in] unbatched), the initial states
    /// [L·D, N, H] ([L·D, H] unbatched) or null for zeros; returns the last layer's outputs [T, N, D·H] and the final
    /// states [L·D, N, H] (c only when <paramref name="withCell"/>).
    /// </summary>
    private protected (Tensor Output, Tensor H, Tensor? C) Run(Tensor input, Tensor? h0, Tensor? c0, bool withCell)
    {
        string name = GetType().Name;
        ArgumentNullException.ThrowIfNull(input);
        string layout = BatchFirst ? $"[N, T, {InputSize}]" : $"[T, N, {InputSize}]";
        if (input.Rank is not (2 or 3) || input.Shape[^1] != InputSize)
            throw new ArgumentException(
                $"{name}: input has shape {Shapes.Format(input.Shape)}, expected {layout} (or unbatched " +
                $"[T, {InputSize}]) with input_size = {InputSize}.");
        bool batched = input.Rank == 3;
        var x = !batched ? input.Unsqueeze(1) : BatchFirst ? input.Transpose(0, 1) : input;
        int steps = x.Shape[0], batch = x.Shape[1], states = NumLayers * NumDirections;
        var stateShape = batched ? new[] { states, batch, HiddenSize } : new[] { states, HiddenSize };
        var hInit = InitialState(name, "h0", h0, stateShape, batched);
        var cInit = withCell ? InitialState(name, "c0", c0, stateShape, batched) : null;

        var hFinal = new Tensor[states];
        var cFinal = new Tensor[states];
        var layerInput = x;
        for (int layer = 0; layer < NumLayers; layer++)
        {
            var outputs = new Tensor[NumDirections];
            for (int direction = 0; direction < NumDirections; direction++)
            {
                int index = layer * NumDirections + direction;
                var w = weights[index];
                var h = hInit?.LeadingSlice(index) ?? Tensor.Zeros(input.Device, new[] { batch, HiddenSize });
                Tensor? c = !withCell ? null
                    : cInit?.LeadingSlice(index) ?? Tensor.Zeros(input.Device, new[] { batch, HiddenSize });
                var xGates = InputGates(layerInput, w);
                var hs = new Tensor[steps];
                for (int s = 0; s < steps; s++)
                {
                    int time = direction == 0 ? s : steps - 1 - s;
                    Step(xGates.LeadingSlice(time), ref h, ref c, w);
                    hs[time] = h;
                }
                outputs[direction] = Tensor.Stack(hs);
                hFinal[index] = h;
                if (c != null) cFinal[index] = c;
            }
            layerInput = NumDirections == 1 ? outputs[0] : Tensor.Cat(outputs, 2);
            if (betweenLayers != null && layer < NumLayers - 1) layerInput = betweenLayers.Forward(layerInput);
        }
        var output = layerInput;
        var hN = Tensor.Stack(hFinal);
        var cN = withCell ? Tensor.Stack(cFinal) : null;
        if (!batched) return (output.Squeeze(1), hN.Squeeze(1), cN?.Squeeze(1));
        return (BatchFirst ? output.Transpose(0, 1) : output, hN, cN);
    }

    /// <summary>An initial state as [L·D, N, H] after checking it has <paramref name="expected"/>'s shape; null stays null.</summary>
    private static Tensor? InitialState(string module, string name, Tensor? state, int[] expected, bool batched)
    {
        if (state == null) return null;
        if (!state.Shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"{module}: {name} has shape {Shapes.Format(state.Shape)}, expected {Shapes.Format(expected)} " +
                (batched ? "([num_layers·num_directions, N, hidden_size])." : "([num_layers·num_directions, hidden_size], unbatched)."));
        return batched ? state : state.Unsqueeze(1);
    }

    /// <summary>The size checks every recurrent module's constructor makes.</summary>
    internal static void CheckSizes(string module, int inputSize, int hiddenSize)
    {
        if (inputSize < 1 || hiddenSize < 1)
            throw new ArgumentOutOfRangeException(nameof(inputSize),
                $"{module}: input_size and hidden_size must be ≥ 1, got {inputSize} and {hiddenSize}.");
    }
}
