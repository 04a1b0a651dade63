using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Sum of all elements, a scalar (shape <c>[]</c>).</summary>
    public Tensor Sum() => SumAll("sum", 1f);

    /// <summary>Mean of all elements, a scalar (shape <c>[]</c>).</summary>
    public Tensor Mean() => SumAll("mean", 1f / Numel);

    /// <summary>Sum along <paramref name="axis"/> (negative counts from the end).</summary>
    public Tensor Sum(int axis, bool keepDim = false) => SumAxis("sum", axis, keepDim, mean: false);

    /// <summary>Mean along <paramref name="axis"/> (negative counts from the end).</summary>
    public Tensor Mean(int axis, bool keepDim = false) => SumAxis("mean", axis, keepDim, mean: true);

    /// <summary>
    /// Maximum along <paramref name="axis"/> (the values of PyTorch's <c>max(dim)</c>); the gradient goes to
    /// the first position holding the maximum.
    /// </summary>
    public Tensor Max(int axis, bool keepDim = false)
    {
        CheckOperands("max", this);
        int ax = Shapes.NormalizeAxis("max", axis, shape);
        var view = Shapes.Around(shape, ax);
        var x = this;
        var y = Uninitialized(Device, Shapes.Reduced(shape, ax, keepDim));
        Kernels.AxisMax(x.Elements, y.Elements, view);
        return Record(y, "max", new[] { x }, dy => Kernels.AxisMaxGrad(x.Elements, y.Elements, dy, x.GradTarget(), view));
    }

    private Tensor SumAll(string op, float scale)
    {
        CheckOperands(op, this);
        var x = this;
        var y = Uninitialized(Device, Array.Empty<int>());
        Kernels.SumAll<Identity>(x.Elements, x.Elements, y.Elements, scale);
        return Record(y, op, new[] { x },
            dy => Kernels.SumAllGrad<Identity>(x.Elements, x.Elements, dy, x.GradTarget(), x.GradTarget(), scale, true, false));
    }

    private Tensor SumAxis(string op, int axis, bool keepDim, bool mean)
    {
        CheckOperands(op, this);
        int ax = Shapes.NormalizeAxis(op, axis, shape);
        var view = Shapes.Around(shape, ax);
        float scale = mean ? 1f / view.Len : 1f;
        var x = this;
        var y = Uninitialized(Device, Shapes.Reduced(shape, ax, keepDim));
        Kernels.AxisSum(x.Elements, y.Elements, view, scale);
        return Record(y, op, new[] { x }, dy => Kernels.AxisSumGrad(dy, x.GradTarget(), view, scale));
    }
}
