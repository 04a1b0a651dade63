using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Softmax along <paramref name="axis"/>: e^(x − max) / Σ e^(x − max).</summary>
    public Tensor Softmax(int axis = -1) => SoftmaxAlong("softmax", axis, log: false);

    /// <summary>Log-softmax along <paramref name="axis"/>: x − max − ln Σ e^(x − max).</summary>
    public Tensor LogSoftmax(int axis = -1) => SoftmaxAlong("log_softmax", axis, log: true);

    private Tensor SoftmaxAlong(string op, int axis, bool log)
    {
        CheckOperands(op, this);
        var view = Shapes.Around(shape, Shapes.NormalizeAxis(op, axis, shape));
        var x = this;
        var y = Uninitialized(Device, shape);
        Kernels.Softmax(x.Elements, y.Elements, view, log);
        return Record(y, op, new[] { x }, dy => Kernels.SoftmaxGrad(y.Elements, dy, x.GradTarget(), view, log));
    }
}
