namespace Engine.Nn;

/// <summary>
/// One GRU step, as <c>torch.nn.GRUCell</c>: the math of <see cref="GRU"/> for a single time step. Parameters
/// <c>weight_ih</c> [3H, in], <c>weight_hh</c> [3H, H], <c>bias_ih</c>, <c>bias_hh</c> [3H] (gates r, z, n), all
/// U(−1/√H, 1/√H) from one seeded stream in that order.
/// </summary>
public sealed class GRUCell : Module
{
    /// <summary>A cell; <c>seed</c> names its random stream, and null (the default) takes the next seed of <see cref="Generator"/>.</summary>
    public GRUCell(Device device, int inputSize, int hiddenSize, bool bias = true, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        RecurrentBase.CheckSizes(nameof(GRUCell), inputSize, hiddenSize);
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        var stream = new SeededUniform(device, Generator.SeedOrNext(seed), 1f / MathF.Sqrt(hiddenSize));
        WeightIh = RegisterParameter("weight_ih", stream.Next(3 * hiddenSize, inputSize));
        WeightHh = RegisterParameter("weight_hh", stream.Next(3 * hiddenSize, hiddenSize));
        if (bias)
        {
            BiasIh = RegisterParameter("bias_ih", stream.Next(3 * hiddenSize));
            BiasHh = RegisterParameter("bias_hh", stream.Next(3 * hiddenSize));
        }
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public Tensor WeightIh { get; }
    public Tensor WeightHh { get; }
    public Tensor? BiasIh { get; }
    public Tensor? BiasHh { get; }

    /// <summary>h′ from a zero state.</summary>
    public override Tensor Forward(Tensor input) => Forward(input, null);

    /// <summary>input [N, input_size] (or [input_size] unbatched) and the state h [N, H] ([H]; null for zeros) → h′.</summary>
    /// <exception cref="ArgumentException">an input or state of the wrong shape.</exception>
    public Tensor Forward(Tensor input, Tensor? h)
    {
        var (x, batched) = CellInput.Check(nameof(GRUCell), input, InputSize);
        var h0 = CellInput.State(nameof(GRUCell), "h", h, x.Shape[0], HiddenSize, batched, input.Device);
        var hNext = Step(Tensor.Linear(x, WeightIh, BiasIh), h0, WeightHh, BiasHh);
        return batched ? hNext : hNext.Squeeze(0);
    }

    /// <summary>The step the GRU layers share: xGates [N, 3H] = x·W_ihᵀ + b_ih; adds h·W_hhᵀ + b_hh and runs the fused kernel.</summary>
    internal static Tensor Step(Tensor xGates, Tensor h, Tensor weightHh, Tensor? biasHh) =>
        Tensor.GruCellState(xGates, Tensor.Linear(h, weightHh, biasHh), h);
}
