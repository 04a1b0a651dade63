using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// 2-D max pooling, PyTorch's <c>F.max_pool2d</c>: over [N, C, H, W] (or [C, H, W]) windows of
    /// <paramref name="kernelSize"/> taps <paramref name="dilation"/> apart, every <paramref name="stride"/> (default:
    /// the kernel size), with implicit −∞ padding; <paramref name="ceilMode"/> rounds the output size up. NaN wins a
    /// window. Backward sends each output's gradient to the input element that won its window.
    /// </summary>
    public static Tensor MaxPool2d(Tensor input, Pair kernelSize, Pair? stride = null, Pair? padding = null,
        Pair? dilation = null, bool ceilMode = false) =>
        MaxPool2dWithIndices(input, kernelSize, stride, padding, dilation, ceilMode, "max_pool2d", withIndices: false).Values;

    /// <summary><see cref="MaxPool2d"/> that also returns each window's winner as an int64 index h·W + w into its plane (PyTorch's return_indices).</summary>
    public static (Tensor Values, Tensor Indices) MaxPool2dWithIndices(Tensor input, Pair kernelSize,
        Pair? stride = null, Pair? padding = null, Pair? dilation = null, bool ceilMode = false) =>
        MaxPool2dWithIndices(input, kernelSize, stride, padding, dilation, ceilMode, "max_pool2d");

    /// <summary>1-D max pooling, PyTorch's <c>F.max_pool1d</c>, over [N, C, L] (or [C, L]).</summary>
    public static Tensor MaxPool1d(Tensor input, int kernelSize, int? stride = null, int padding = 0, int dilation = 1,
        bool ceilMode = false) =>
        OnRows(input, "max_pool1d", x => MaxPool2dWithIndices(x, (1, kernelSize), (1, stride ?? kernelSize), (0, padding),
            (1, dilation), ceilMode, "max_pool1d", withIndices: false).Values);

    /// <summary><see cref="MaxPool1d"/> with the winners' int64 positions in their rows.</summary>
    public static (Tensor Values, Tensor Indices) MaxPool1dWithIndices(Tensor input, int kernelSize, int? stride = null,
        int padding = 0, int dilation = 1, bool ceilMode = false)
    {
        Tensor? indices = null;
        var values = OnRows(input, "max_pool1d", x =>
        {
            var (v, i) = MaxPool2dWithIndices(x, (1, kernelSize), (1, stride ?? kernelSize), (0, padding),
                (1, dilation), ceilMode, "max_pool1d");
            indices = i.Squeeze(-2);
            return v;
        });
        return (values, indices!);
    }

    /// <summary>
    /// 2-D average pooling, PyTorch's <c>F.avg_pool2d</c>: each window's sum divided by its size including the zero
    /// padding (<paramref name="countIncludePad"/>, the default), by the taps inside the input, or by
    /// <paramref name="divisorOverride"/>.
    /// </summary>
    public static Tensor AvgPool2d(Tensor input, Pair kernelSize, Pair? stride = null, Pair? padding = null,
        bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null) =>
        AvgPool("avg_pool2d", input, kernelSize, stride ?? kernelSize, padding ?? 0, ceilMode, countIncludePad,
            divisorOverride);

    /// <summary>1-D average pooling, PyTorch's <c>F.avg_pool1d</c>, over [N, C, L] (or [C, L]).</summary>
    public static Tensor AvgPool1d(Tensor input, int kernelSize, int? stride = null, int padding = 0,
        bool ceilMode = false, bool countIncludePad = true) =>
        OnRows(input, "avg_pool1d", x => AvgPool("avg_pool1d", x, (1, kernelSize), (1, stride ?? kernelSize),
            (0, padding), ceilMode, countIncludePad, null));

    /// <summary>
    /// Adaptive average pooling, PyTorch's <c>F.adaptive_avg_pool2d</c>: output (oh, ow) averages rows
    /// ⌊oh·H/OH⌋ … ⌈(oh + 1)·H/OH⌉ − 1 and the same for columns, so any input size gives <paramref name="outputSize"/>.
    /// </summary>
    public static Tensor AdaptiveAvgPool2d(Tensor input, Pair outputSize)
    {
        const string op = "adaptive_avg_pool2d";
        var (x, g, unbatched) = AdaptiveGeometry(op, input, outputSize);
        return Pool(op, x, g, unbatched, max: false).Values;
    }

    /// <summary>Adaptive max pooling, PyTorch's <c>F.adaptive_max_pool2d</c> (windows as <see cref="AdaptiveAvgPool2d"/>).</summary>
    public static Tensor AdaptiveMaxPool2d(Tensor input, Pair outputSize)
    {
        const string op = "adaptive_max_pool2d";
        var (x, g, unbatched) = AdaptiveGeometry(op, input, outputSize);
        return Pool(op, x, g, unbatched, max: true).Values;
    }

    /// <summary><see cref="AdaptiveMaxPool2d"/> with the winners' int64 indices h·W + w.</summary>
    public static (Tensor Values, Tensor Indices) AdaptiveMaxPool2dWithIndices(Tensor input, Pair outputSize)
    {
        const string op = "adaptive_max_pool2d";
        var (x, g, unbatched) = AdaptiveGeometry(op, input, outputSize);
        return Pool(op, x, g, unbatched, max: true, withIndices: true);
    }

    private static (Tensor X, PoolGeometry G, bool Unbatched) AdaptiveGeometry(string op, Tensor input, Pair size)
    {
        var (x, unbatched) = PoolInput(op, input);
        if (size.H < 1 || size.W < 1)
            throw new ArgumentException($"{op}: output_size must be ≥ 1, got {size}.");
        var g = new PoolGeometry
        {
            Planes = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3], OH = size.H, OW = size.W, Adaptive = 1,
        };
        if (g.H == 0 || g.W == 0)
            throw new ArgumentException($"{op}: input {Shapes.Format(input.shape)} has an empty plane.");
        return (x, g, unbatched);
    }

    /// <summary>[N, C, L] pooled as [N, C, 1, L].</summary>
    private static Tensor OnRows(Tensor input, string op, Func<Tensor, Tensor> pool)
    {
        CheckOperands(op, input);
        if (input.Rank is not (2 or 3))
            throw new ArgumentException($"{op}: expected input [N, C, L] or [C, L], got {Shapes.Format(input.shape)}.");
        return pool(input.Unsqueeze(-2)).Squeeze(-2);
    }

    private static (Tensor X, bool Unbatched) PoolInput(string op, Tensor input)
    {
        CheckOperands(op, input);
        if (input.Rank is not (3 or 4))
            throw new ArgumentException($"{op}: expected input [N, C, H, W] or [C, H, W], got {Shapes.Format(input.shape)}.");
        return input.Rank == 3 ? (input.Unsqueeze(0), true) : (input, false);
    }

    /// <summary>PyTorch's pooling output size: ⌊ or ⌈(in + 2p − d(k − 1) − 1)/s⌉ + 1, less one if the last window would start in the right padding.</summary>
    private static int PooledSize(int input, int kernel, int stride, int pad, int dilation, bool ceil)
    {
        int span = input + 2 * pad - dilation * (kernel - 1) - 1;
        if (span < 0) return 0;
        int size = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
        if (ceil && (size - 1) * stride >= input + pad) size--;
        return size;
    }

    private static PoolGeometry FixedGeometry(string op, Tensor x, Tensor input, Pair kernel, Pair stride, Pair pad,
        Pair dilation, bool ceil)
    {
        if (kernel.H < 1 || kernel.W < 1) throw new ArgumentException($"{op}: kernel_size must be ≥ 1, got {kernel}.");
        if (stride.H < 1 || stride.W < 1) throw new ArgumentException($"{op}: stride must be ≥ 1, got {stride}.");
        if (dilation.H < 1 || dilation.W < 1) throw new ArgumentException($"{op}: dilation must be ≥ 1, got {dilation}.");
        if (pad.H < 0 || pad.W < 0 || pad.H > kernel.H / 2 || pad.W > kernel.W / 2)
            throw new ArgumentException(
                $"{op}: pad should be at most half of kernel size, but got pad={pad} and kernel_size={kernel}.");
        var g = new PoolGeometry
        {
            Planes = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3],
            KH = kernel.H, KW = kernel.W, SH = stride.H, SW = stride.W, PH = pad.H, PW = pad.W,
            DH = dilation.H, DW = dilation.W,
        };
        g.OH = PooledSize(g.H, g.KH, g.SH, g.PH, g.DH, ceil);
        g.OW = PooledSize(g.W, g.KW, g.SW, g.PW, g.DW, ceil);
        if (g.OH <= 0 || g.OW <= 0)
            throw new ArgumentException(
                $"{op}: input {Shapes.Format(input.shape)} is too small for kernel_size {kernel} with padding {pad} and " +
                $"dilation {dilation}: the output would be {g.OH}×{g.OW}.");
        return g;
    }

    private static (Tensor Values, Tensor Indices) MaxPool2dWithIndices(Tensor input, Pair kernelSize, Pair? stride,
        Pair? padding, Pair? dilation, bool ceilMode, string op, bool withIndices = true)
    {
        var (x, unbatched) = PoolInput(op, input);
        var g = FixedGeometry(op, x, input, kernelSize, stride ?? kernelSize, padding ?? 0, dilation ?? 1, ceilMode);
        return Pool(op, x, g, unbatched, max: true, withIndices);
    }

    private static Tensor AvgPool(string op, Tensor input, Pair kernel, Pair stride, Pair pad, bool ceil,
        bool countIncludePad, int? divisor)
    {
        var (x, unbatched) = PoolInput(op, input);
        var g = FixedGeometry(op, x, input, kernel, stride, pad, 1, ceil);
        if (divisor is { } d && d == 0) throw new ArgumentException($"{op}: divisor must be not zero.");
        g.CountIncludePad = countIncludePad ? 1 : 0;
        g.Divisor = divisor ?? 0;
        return Pool(op, x, g, unbatched, max: false).Values;
    }

    /// <summary>Runs a pooling kernel on x [N, C, H, W] and records its backward; indices as int64 when asked.</summary>
    private static (Tensor Values, Tensor Indices) Pool(string op, Tensor x, PoolGeometry g, bool unbatched, bool max,
        bool withIndices = false)
    {
        var device = x.Device;
        var k = x.Kernels;
        var y = Uninitialized(device, new[] { x.shape[0], x.shape[1], g.OH, g.OW });
        Tensor result;
        Tensor? indices = null;
        if (max)
        {
            var winners = device.Pool.Rent<int>(Math.Max(1, y.Numel));
            k.MaxPool(x.Elements, y.Elements, winners.View, g);
            if (withIndices)
            {
                indices = Uninitialized(device, y.shape, dtype: DType.Int64);
                if (y.Numel > 0) k.Copy(((ILGPU.ArrayView<int>)winners.View).SubView(0, y.Numel).Cast<float>(), indices.RawElements);
            }
            result = Record(y, op, new[] { x }, dy => k.MaxPoolGrad(dy, winners.View, x.GradTarget(), g),
                onRelease: () => device.Pool.Return(winners));
        }
        else
        {
            k.AvgPool(x.Elements, y.Elements, g);
            result = Record(y, op, new[] { x }, dy => k.AvgPoolGrad(dy, x.GradTarget(), g));
        }
        if (unbatched)
        {
            result = result.Squeeze(0);
            indices = indices?.Squeeze(0);
        }
        return (result, indices!);
    }
}
