namespace Engine.Nn;

/// <summary>
/// Gated recurrent unit layers, as <c>torch.nn.GRU</c>: per step, with the gates stacked r, z, n in W_ih [3H, in] and
/// W_hh [3H, H],
/// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz), n = tanh(W_in x + b_in + r∘(W_hn h + b_hn)),
/// h′ = (1 − z)∘n + z∘h.
/// Layers, directions, parameter names and initialisation: <see cref="RecurrentBase"/>.
/// </summary>
public sealed class GRU : RecurrentBase
{
    /// <summary>
    /// torch.nn.GRU's options and defaults; <c>seed</c> names the parameters' random stream, and null (the default)
    /// takes the next seed of <see cref="Generator"/>.
    /// </summary>
    public GRU(Device device, int inputSize, int hiddenSize, int numLayers = 1, bool bias = true,
        bool batchFirst = false, float dropout = 0f, bool bidirectional = false, int? seed = null)
        : base(3, device, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, seed)
    {
    }

    /// <summary>The output sequence [T, N, D·H] from a zero initial state.</summary>
    public override Tensor Forward(Tensor input) => Forward(input, null).Output;

    /// <summary>
    /// input [T, N, input_size] ([N, T, input_size] when batch-first, [T, input_size] unbatched) from the initial state
    /// h0 [L·D, N, H] ([L·D, H] unbatched; null for zeros): the last layer's h at every step, [T, N, D·H] (or
    /// [N, T, D·H], [T, D·H]), and the final h of every layer and direction, [L·D, N, H].
    /// </summary>
    /// <exception cref="ArgumentException">an input or state of the wrong shape.</exception>
    public (Tensor Output, Tensor H) Forward(Tensor input, Tensor? h0)
    {
        var (output, h, _) = Run(input, h0, null, withCell: false);
        return (output, h);
    }

    private protected override Tensor InputGates(Tensor x, RecurrentWeights w) =>
        Tensor.Linear(x, w.WeightIh, w.BiasIh);

    private protected override void Step(Tensor xGates, ref Tensor h, ref Tensor? c, RecurrentWeights w) =>
        h = GRUCell.Step(xGates, h, w.WeightHh, w.BiasHh);
}
