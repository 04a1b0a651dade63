namespace Engine.Nn;

/// <summary>
/// One LSTM step, as <c>torch.nn.LSTMCell</c>: the math of <see cref="LSTM"/> for a single time step. Parameters
/// <c>weight_ih</c> [4H, in], <c>weight_hh</c> [4H, H], <c>bias_ih</c>, <c>bias_hh</c> [4H] (gates i, f, g, o), all
/// U(−1/√H, 1/√H) from one seeded stream in that order.
/// </summary>
public sealed class LSTMCell : Module
{
    /// <summary>A cell; <c>seed</c> names its random stream, and null (the default) takes the next seed of <see cref="Generator"/>.</summary>
    public LSTMCell(Device device, int inputSize, int hiddenSize, bool bias = true, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        RecurrentBase.CheckSizes(nameof(LSTMCell), inputSize, hiddenSize);
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        var stream = new SeededUniform(device, Generator.SeedOrNext(seed), 1f / MathF.Sqrt(hiddenSize));
        WeightIh = RegisterParameter("weight_ih", stream.Next(4 * hiddenSize, inputSize));
        WeightHh = RegisterParameter("weight_hh", stream.Next(4 * hiddenSize, hiddenSize));
        if (bias)
        {
            BiasIh = RegisterParameter("bias_ih", stream.Next(4 * hiddenSize));
            BiasHh = RegisterParameter("bias_hh", stream.Next(4 * hiddenSize));
        }
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public Tensor WeightIh { get; }
    public Tensor WeightHh { get; }
    public Tensor? BiasIh { get; }
    public Tensor? BiasHh { get; }

    /// <summary>h′ from zero states.</summary>
    public override Tensor Forward(Tensor input) => Forward(input, null, null).H;

    /// <summary>
    /// input [N, input_size] (or [input_size] unbatched) and the state h, c [N, H] ([H]; both or neither, null for
    /// zeros) → (h′, c′) of the same shape as the state.
    /// </summary>
    /// <exception cref="ArgumentException">an input or state of the wrong shape, or only one of h and c.</exception>
    public (Tensor H, Tensor C) Forward(Tensor input, Tensor? h, Tensor? c)
    {
        if ((h == null) != (c == null))
            throw new ArgumentException("LSTMCell: give both h and c, or neither (as torch's (h_0, c_0) pair).");
        var (x, batched) = CellInput.Check(nameof(LSTMCell), input, InputSize);
        int batch = x.Shape[0];
        var h0 = CellInput.State(nameof(LSTMCell), "h", h, batch, HiddenSize, batched, input.Device);
        var c0 = CellInput.State(nameof(LSTMCell), "c", c, batch, HiddenSize, batched, input.Device);
        var gates = Tensor.Linear(x, WeightIh, BiasIh);
        if (BiasHh != null) gates += BiasHh;
        var (hNext, cNext) = Step(gates, h0, c0, WeightHh);
        return batched ? (hNext, cNext) : (hNext.Squeeze(0), cNext.Squeeze(0));
    }

    /// <summary>
    /// The step the LSTM layers share: xGates [N, 4H] holds x·W_ihᵀ and both biases; adds h·W_hhᵀ and runs the fused
    /// kernel. Returns views of the one [2, N, H] state tensor.
    /// </summary>
    internal static (Tensor H, Tensor C) Step(Tensor xGates, Tensor h, Tensor c, Tensor weightHh)
    {
        var state = Tensor.LstmCellState(xGates, Tensor.Linear(h, weightHh), c);
        return (state.LeadingSlice(0), state.LeadingSlice(1));
    }
}
