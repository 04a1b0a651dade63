using Engine.Kernels;

namespace Engine;

/// <summary>
/// The fused element-wise halves of LSTM and GRU time steps (<see cref="RecurrentKernels"/> states the math), as
/// recorded ops: the layers in <c>Engine.Nn</c> run the matrix products as <see cref="Linear"/> and step these.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>
    /// One LSTM step from the gate pre-activations a = <paramref name="xGates"/> + <paramref name="hGates"/> [N, 4H]
    /// (i, f, g, o) and the cell state <paramref name="c"/> [N, H]: the new state [h′; c′] as one [2, N, H] tensor
    /// (its <see cref="LeadingSlice"/>s 0 and 1 are h′ and c′). Backward: the gates' gradients into both addends and
    /// dc, one fused kernel.
    /// </summary>
    internal static Tensor LstmCellState(Tensor xGates, Tensor hGates, Tensor c)
    {
        const string op = "lstm_cell";
        CheckOperands(op, xGates, hGates, c);
        int n = c.shape[0], h = c.shape[^1];
        CheckCellShapes(op, 4, c, xGates, hGates);
        var device = c.Device;
        var k = device.Kernels;
        var shape = new RecurrentCellShape(n, h);
        var state = Uninitialized(device, new[] { 2, n, h });
        var saved = device.Pool.Rent<float>(5 * shape.Units);
        var keep = saved.View.SubView(0, 5 * shape.Units);
        k.LstmCellForward(xGates.Elements, hGates.Elements, c.Elements, state.Elements, keep, shape);
        return Record(state, op, new[] { xGates, hGates, c }, dState =>
        {
            var none = keep.SubView(0, 0);
            k.LstmCellBackward(keep, c.Elements, dState, xGates.requiresGrad ? xGates.GradTarget() : none,
                hGates.requiresGrad ? hGates.GradTarget() : none, c.requiresGrad ? c.GradTarget() : none, shape);
        }, onRelease: () => device.Pool.Return(saved));
    }

    /// <summary>
    /// One GRU step from <paramref name="xGates"/> = x·W_ihᵀ + b_ih and <paramref name="hGates"/> = h·W_hhᵀ + b_hh
    /// [N, 3H] (r, z, n) and the state <paramref name="h"/> [N, H]: h′ [N, H]. Backward: one fused kernel.
    /// </summary>
    internal static Tensor GruCellState(Tensor xGates, Tensor hGates, Tensor h)
    {
        const string op = "gru_cell";
        CheckOperands(op, xGates, hGates, h);
        int n = h.shape[0], hidden = h.shape[^1];
        CheckCellShapes(op, 3, h, xGates, hGates);
        var device = h.Device;
        var k = device.Kernels;
        var shape = new RecurrentCellShape(n, hidden);
        var next = Uninitialized(device, new[] { n, hidden });
        var saved = device.Pool.Rent<float>(4 * shape.Units);
        var keep = saved.View.SubView(0, 4 * shape.Units);
        k.GruCellForward(xGates.Elements, hGates.Elements, h.Elements, next.Elements, keep, shape);
        return Record(next, op, new[] { xGates, hGates, h }, dNext =>
        {
            var none = keep.SubView(0, 0);
            k.GruCellBackward(keep, h.Elements, dNext, xGates.requiresGrad ? xGates.GradTarget() : none,
                hGates.requiresGrad ? hGates.GradTarget() : none, h.requiresGrad ? h.GradTarget() : none, shape);
        }, onRelease: () => device.Pool.Return(saved));
    }

    private static void CheckCellShapes(string op, int gates, Tensor state, Tensor xGates, Tensor hGates)
    {
        if (state.Rank != 2)
            throw new ArgumentException($"{op}: the state must be [N, H], got {Shapes.Format(state.shape)}.");
        var expected = new[] { state.shape[0], gates * state.shape[1] };
        foreach (var (name, t) in new[] { ("xGates", xGates), ("hGates", hGates) })
            if (!t.shape.SequenceEqual(expected))
                throw new ArgumentException(
                    $"{op}: {name} has shape {Shapes.Format(t.shape)}, expected {Shapes.Format(expected)} ([N, {gates}·H]).");
    }

    /// <summary>
    /// x[<paramref name="index"/>] along the first axis as a view of this tensor's memory (a contiguous block, so no
    /// copy, unlike <see cref="Select"/>); backward adds the gradient into that block of this tensor's.
    /// </summary>
    internal Tensor LeadingSlice(int index)
    {
        CheckOperands("leading_slice", this);
        if (Rank < 1 || index < 0 || index >= shape[0])
            throw new ArgumentOutOfRangeException(nameof(index),
                $"leading_slice: index {index} is out of range for shape {Shapes.Format(shape)}.");
        EnsureMaterialized();
        var rest = shape[1..];
        int block = Shapes.Numel(rest);
        storage!.Retain();
        var x = this;
        var y = new Tensor(Device, rest, storage, offset + index * block, register: true, DType);
        return Record(y, "leading_slice", new[] { x },
            dy => Kernels.Accumulate(dy, x.GradTarget().SubView(index * block, block)));
    }
}
