namespace Engine.Nn;

/// <summary>
/// Long short-term memory layers, as <c>torch.nn.LSTM</c>: per step, with the gates stacked i, f, g, o in W_ih
/// [4H, in] and W_hh [4H, H],
/// i = σ(W_ii x + b_ii + W_hi h + b_hi), f = σ(W_if x + b_if + W_hf h + b_hf), g = tanh(W_ig x + b_ig + W_hg h + b_hg),
/// o = σ(W_io x + b_io + W_ho h + b_ho), c′ = f∘c + i∘g, h′ = o∘tanh(c′).
/// Layers, directions, parameter names and initialisation: <see cref="RecurrentBase"/>.
/// </summary>
public sealed class LSTM : RecurrentBase
{
    /// <summary>
    /// torch.nn.LSTM's options and defaults; <c>seed</c> names the parameters' random stream, and null (the default)
    /// takes the next seed of <see cref="Generator"/>.
    /// </summary>
    public LSTM(Device device, int inputSize, int hiddenSize, int numLayers = 1, bool bias = true,
        bool batchFirst = false, float dropout = 0f, bool bidirectional = false, int? seed = null)
        : base(4, device, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, seed)
    {
    }

    /// <summary>The output sequence [T, N, D·H] from zero initial states.</summary>
    public override Tensor Forward(Tensor input) => Forward(input, null, null).Output;

    /// <summary>
    /// input [T, N, input_size] ([N, T, input_size] when batch-first, [T, input_size] unbatched) from the initial
    /// states h0, c0 [L·D, N, H] ([L·D, H] unbatched; both or neither, null for zeros): the last layer's h at every
    /// step, [T, N, D·H] (or [N, T, D·H], [T, D·H]), and the final h and c of every layer and direction, [L·D, N, H].
    /// </summary>
    /// <exception cref="ArgumentException">an input or state of the wrong shape, or only one of h0 and c0.</exception>
    public (Tensor Output, Tensor H, Tensor C) Forward(Tensor input, Tensor? h0, Tensor? c0)
    {
        if ((h0 == null) != (c0 == null))
            throw new ArgumentException("LSTM: give both h0 and c0, or neither (as torch's (h_0, c_0) pair).");
        var (output, h, c) = Run(input, h0, c0, withCell: true);
        return (output, h, c!);
    }

    /// <summary>Both biases are added to the input projection once for all steps, leaving each step one product.</summary>
    private protected override Tensor InputGates(Tensor x, RecurrentWeights w)
    {
        var gates = Tensor.Linear(x, w.WeightIh, w.BiasIh);
        return w.BiasHh == null ? gates : gates + w.BiasHh;
    }

    private protected override void Step(Tensor xGates, ref Tensor h, ref Tensor? c, RecurrentWeights w) =>
        (h, c) = LSTMCell.Step(xGates, h, c!, w.WeightHh);
}
