namespace Engine.Nn;

/// <summary>The input and state checks of <see cref="LSTMCell"/> and <see cref="GRUCell"/> (batched [N, ·] or unbatched [·]).</summary>
internal static class CellInput
{
    /// <summary>The input as [N, in] and whether it came batched; throws unless it is [N, in] or [in].</summary>
    public static (Tensor X, bool Batched) Check(string module, Tensor input, int inputSize)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank is not (1 or 2) || input.Shape[^1] != inputSize)
            throw new ArgumentException(
                $"{module}: input has shape {Shapes.Format(input.Shape)}, expected [N, {inputSize}] (or unbatched " +
                $"[{inputSize}]) with input_size = {inputSize}.");
        return input.Rank == 2 ? (input, true) : (input.Unsqueeze(0), false);
    }

    /// <summary>A state as [N, H] (zeros when null); throws unless it is [N, H] (batched) or [H].</summary>
    public static Tensor State(string module, string name, Tensor? state, int batch, int hidden, bool batched,
        Device device)
    {
        var expected = batched ? new[] { batch, hidden } : new[] { hidden };
        if (state == null) return Tensor.Zeros(device, new[] { batch, hidden });
        if (!state.Shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"{module}: {name} has shape {Shapes.Format(state.Shape)}, expected {Shapes.Format(expected)}.");
        return batched ? state : state.Unsqueeze(0);
    }
}
