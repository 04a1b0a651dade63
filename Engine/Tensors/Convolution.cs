using Engine.Kernels;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// 2-D convolution, PyTorch's <c>F.conv2d</c>: input [N, C, H, W] (or unbatched [C, H, W]), weight
    /// [OC, C/groups, KH, KW], bias [OC] or null;
    /// y[n, o, i, j] = b[o] + Σ_{c, kh, kw} w[o, c, kh, kw]·x[n, g·C/groups + c, i·sh − ph + kh·dh, j·sw − pw + kw·dw]
    /// with zeros outside the input, g = o / (OC/groups). <paramref name="padding"/> is sizes, "valid" or "same".
    /// Backward: dx = the transposed convolution of dy, dw = Σ_n dy_n·im2col(x_n)ᵀ, db = Σ dy over N, OH, OW
    /// (<see cref="ConvGeometry"/>; each backend runs them as blocked matrix products).
    /// </summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, Pair? stride = null,
        ConvPadding? padding = null, Pair? dilation = null, int groups = 1)
    {
        CheckOperands("conv2d", bias == null ? new[] { input, weight } : new[] { input, weight, bias });
        if (input.Rank == 3 && weight.Rank == 4)
            return Conv2d(input.Unsqueeze(0), weight, bias, stride, padding, dilation, groups).Squeeze(0);
        return Convolution("conv2d", input, weight, bias, stride ?? 1, padding ?? 0, dilation ?? 1, groups);
    }

    /// <summary>
    /// 1-D convolution, PyTorch's <c>F.conv1d</c>: input [N, C, L] (or [C, L]), weight [OC, C/groups, K]; the 2-D
    /// convolution of a height-1 image.
    /// </summary>
    public static Tensor Conv1d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1,
        ConvPadding? padding = null, int dilation = 1, int groups = 1)
    {
        const string op = "conv1d";
        CheckOperands(op, bias == null ? new[] { input, weight } : new[] { input, weight, bias });
        if (input.Rank == 2 && weight.Rank == 3)
            return Conv1d(input.Unsqueeze(0), weight, bias, stride, padding, dilation, groups).Squeeze(0);
        if (input.Rank != 3 || weight.Rank != 3)
            throw new ArgumentException(
                $"{op}: expected input [N, C, L] and weight [OC, C/groups, K], got input {Shapes.Format(input.shape)} " +
                $"and weight {Shapes.Format(weight.shape)}.");
        var pad = padding ?? 0;
        ConvPadding pad2 = pad.Mode ?? (ConvPadding)(0, pad.W);
        return Convolution(op, input.Unsqueeze(2), weight.Unsqueeze(2), bias, (1, stride), pad2, (1, dilation), groups)
            .Squeeze(2);
    }

    /// <summary>
    /// 2-D transposed convolution, PyTorch's <c>F.conv_transpose2d</c>: input [N, Cin, H, W], weight
    /// [Cin, Cout/groups, KH, KW], output [N, Cout, (H − 1)·sh − 2·ph + dh·(KH − 1) + oph + 1, …]: the gradient of
    /// <see cref="Conv2d"/> with respect to its input (each input pixel spreads w over a window of the output).
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias = null, Pair? stride = null,
        Pair? padding = null, Pair? outputPadding = null, int groups = 1, Pair? dilation = null)
    {
        const string op = "conv_transpose2d";
        CheckOperands(op, bias == null ? new[] { input, weight } : new[] { input, weight, bias });
        if (input.Rank == 3 && weight.Rank == 4)
            return ConvTranspose2d(input.Unsqueeze(0), weight, bias, stride, padding, outputPadding, groups, dilation)
                .Squeeze(0);
        Pair s = stride ?? 1, p = padding ?? 0, op2 = outputPadding ?? 0, d = dilation ?? 1;
        CheckConvArguments(op, input, weight, s, p, d, groups);
        int n = input.shape[0], cin = input.shape[1], h = input.shape[2], wIn = input.shape[3];
        int kh = weight.shape[2], kw = weight.shape[3], cout = weight.shape[1] * groups;
        if (weight.shape[0] != cin)
            throw new ArgumentException(
                $"{op}: weight {Shapes.Format(weight.shape)} expects {weight.shape[0]} input channels, got input " +
                $"{Shapes.Format(input.shape)} with {cin}.");
        if (op2.H < 0 || op2.W < 0 || (op2.H >= s.H && op2.H >= d.H) || (op2.W >= s.W && op2.W >= d.W))
            throw new ArgumentException(
                $"{op}: output_padding {op2} must be smaller than either stride {s} or dilation {d}.");
        int oh = (h - 1) * s.H - 2 * p.H + d.H * (kh - 1) + op2.H + 1;
        int ow = (wIn - 1) * s.W - 2 * p.W + d.W * (kw - 1) + op2.W + 1;
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException(
                $"{op}: input {Shapes.Format(input.shape)} with stride {s}, padding {p} and kernel ({kh}, {kw}) gives " +
                $"an output of {oh}×{ow}; it must be positive.");
        // The convolution whose input gradient this is: its input is our output, its output our input.
        var g = new ConvGeometry(n, cout, oh, ow, cin, kh, kw, s.H, s.W, p.H, p.W, d.H, d.W, groups);
        var x = input;
        var w = weight;
        var k = x.Kernels;
        var y = Uninitialized(x.Device, new[] { n, cout, oh, ow });
        k.ConvBackwardInput(x.Elements, w.Elements, y.Elements, g, accumulate: false);
        var result = Record(y, op, new[] { x, w }, dy =>
        {
            if (x.requiresGrad)
            {
                var dx = x.Device.Pool.Rent<float>(x.Numel);
                k.ConvForward(dy, w.Elements, default, dx.View.SubView(0, x.Numel), g);
                k.Accumulate(dx.View.SubView(0, x.Numel), x.GradTarget());
                x.Device.Pool.Return(dx);
            }
            if (w.requiresGrad) k.ConvBackwardWeight(dy, x.Elements, w.GradTarget(), g, accumulate: true);
        });
        return AddChannelBias(op, result, bias, cout);
    }

    private static void CheckConvArguments(string op, Tensor input, Tensor weight, Pair stride, Pair padding,
        Pair dilation, int groups)
    {
        if (input.Rank != 4 || weight.Rank != 4)
            throw new ArgumentException(
                $"{op}: expected input [N, C, H, W] and a 4-D weight, got input {Shapes.Format(input.shape)} and weight " +
                $"{Shapes.Format(weight.shape)}.");
        if (stride.H < 1 || stride.W < 1)
            throw new ArgumentException($"{op}: stride must be ≥ 1, got {stride}.");
        if (dilation.H < 1 || dilation.W < 1)
            throw new ArgumentException($"{op}: dilation must be ≥ 1, got {dilation}.");
        if (padding.H < 0 || padding.W < 0)
            throw new ArgumentException($"{op}: padding must be ≥ 0, got {padding}.");
        if (groups < 1)
            throw new ArgumentException($"{op}: groups must be ≥ 1, got {groups}.");
        if (weight.shape[0] % groups != 0)
            throw new ArgumentException(
                $"{op}: groups {groups} does not divide the weight's {weight.shape[0]} channels (weight {Shapes.Format(weight.shape)}).");
        if (input.shape[1] % groups != 0)
            throw new ArgumentException(
                $"{op}: groups {groups} does not divide the input's {input.shape[1]} channels (input {Shapes.Format(input.shape)}).");
    }

    private static Tensor Convolution(string op, Tensor input, Tensor weight, Tensor? bias, Pair stride,
        ConvPadding padding, Pair dilation, int groups)
    {
        var pad = padding.Mode == null ? new Pair(padding.H, padding.W) : new Pair(0, 0);
        CheckConvArguments(op, input, weight, stride, pad, dilation, groups);
        int oc = weight.shape[0], cg = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3];
        if (input.shape[1] != cg * groups)
            throw new ArgumentException(
                $"{op}: given groups={groups}, weight of size {Shapes.Format(weight.shape)}, expected input " +
                $"{Shapes.Format(input.shape)} to have {cg * groups} channels, but got {input.shape[1]} channels instead.");
        var x = input;
        if (padding.Mode == "same")
        {
            if (stride.H != 1 || stride.W != 1)
                throw new ArgumentException($"{op}: padding='same' is not supported for strided convolutions (stride {stride}).");
            int th = dilation.H * (kh - 1), tw = dilation.W * (kw - 1);
            pad = new Pair(th / 2, tw / 2);
            // An odd total: PyTorch puts the extra row and column after the image.
            if (th % 2 != 0 || tw % 2 != 0) x = x.Pad(new[] { 0, tw % 2, 0, th % 2 });
        }
        int n = x.shape[0], h = x.shape[2], w = x.shape[3];
        var g = new ConvGeometry(n, x.shape[1], h, w, oc, kh, kw, stride.H, stride.W, pad.H, pad.W, dilation.H,
            dilation.W, groups);
        if (g.OH <= 0 || g.OW <= 0)
            throw new ArgumentException(
                $"{op}: input {Shapes.Format(input.shape)} padded by {pad} is {h + 2 * pad.H}×{w + 2 * pad.W}, smaller than " +
                $"the kernel ({dilation.H * (kh - 1) + 1}, {dilation.W * (kw - 1) + 1}) (dilated); the output would be empty.");
        if (bias != null && (bias.Rank != 1 || bias.shape[0] != oc))
            throw new ArgumentException($"{op}: bias {Shapes.Format(bias.shape)} does not match the {oc} output channels ([{oc}]).");
        var wt = weight;
        var k = x.Kernels;
        var y = Uninitialized(x.Device, new[] { n, oc, g.OH, g.OW });
        k.ConvForward(x.Elements, wt.Elements, bias == null ? default : bias.Elements, y.Elements, g);
        var xin = x;
        var b = bias;
        return Record(y, op, b == null ? new[] { xin, wt } : new[] { xin, wt, b }, dy =>
        {
            if (xin.requiresGrad) k.ConvBackwardInput(dy, wt.Elements, xin.GradTarget(), g, accumulate: true);
            if (wt.requiresGrad && !wt.GradByHooks) k.ConvBackwardWeight(xin.Elements, dy, wt.GradTarget(), g, accumulate: true);
            if (b != null && b.requiresGrad)
            {
                // db[o] = Σ_{n, p} dy[n, o, p]: one strided sum over the batch and the positions.
                var outer = StridedLayout.Create(stackalloc int[] { oc }, stackalloc int[] { g.P }, 0);
                var inner = StridedLayout.Create(stackalloc int[] { n, g.P }, stackalloc int[] { oc * g.P, 1 }, 0);
                k.StridedSum(dy, outer, inner, b.GradTarget(), 1f, accumulate: true);
            }
        });
    }

    /// <summary>y + b over the channel axis 1 of y [N, C, …] (b [C] or null).</summary>
    private static Tensor AddChannelBias(string op, Tensor y, Tensor? bias, int channels)
    {
        if (bias == null) return y;
        if (bias.Rank != 1 || bias.shape[0] != channels)
            throw new ArgumentException($"{op}: bias {Shapes.Format(bias.shape)} does not match the {channels} output channels ([{channels}]).");
        var trailing = new int[y.Rank - 1];
        Array.Fill(trailing, 1);
        trailing[0] = channels;
        var withBias = y + bias.Reshape(trailing);
        if (withBias.GradFn == null) y.Dispose();
        return withBias;
    }
}
