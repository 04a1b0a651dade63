using Engine.Kernels;
using ILGPU;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Batch normalization, PyTorch's <c>F.batch_norm</c>: input [N, C, *] ([N, C], [N, C, L], [N, C, H, W], …); per channel c,
    /// y = (x − μ_c)/√(σ²_c + ε)·γ_c + β_c. With <paramref name="training"/> (or no running statistics) μ and σ²
    /// are the batch's mean and biased variance over N and the trailing axes, and the running statistics, when given, become
    /// (1 − m)·running + m·batch with the unbiased variance. Otherwise the running statistics are used. Backward
    /// goes through the batch statistics (see <see cref="NormalizationKernels"/>).
    /// </summary>
    /// <exception cref="ArgumentException">shapes that do not fit, or one value per channel in training.</exception>
    public static Tensor BatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null,
        Tensor? bias = null, bool training = false, float momentum = 0.1f, float eps = 1e-5f)
    {
        const string op = "batch_norm";
        CheckOperands(op, new[] { input, runningMean, runningVar, weight, bias }.OfType<Tensor>().ToArray());
        if (input.Rank < 2)
            throw new ArgumentException($"{op}: expected an input [N, C, *] of rank ≥ 2, got shape {Shapes.Format(input.shape)}.");
        int channels = input.shape[1];
        var view = new ChannelView(input.shape[0], channels, Shapes.Numel(input.shape.AsSpan(2).ToArray()));
        CheckPerChannel(op, "running_mean", runningMean, channels);
        CheckPerChannel(op, "running_var", runningVar, channels);
        CheckPerChannel(op, "weight", weight, channels);
        CheckPerChannel(op, "bias", bias, channels);
        if ((runningMean == null) != (runningVar == null))
            throw new ArgumentException($"{op}: give both running_mean and running_var, or neither.");
        if ((weight == null) != (bias == null))
            throw new ArgumentException($"{op}: give both weight and bias, or neither.");
        if (!(eps > 0f)) throw new ArgumentOutOfRangeException(nameof(eps), $"{op}: eps must be > 0, got {eps}.");
        if (!(momentum >= 0f && momentum <= 1f))
            throw new ArgumentOutOfRangeException(nameof(momentum), $"{op}: momentum must be in [0, 1], got {momentum}.");
        bool useBatch = training || runningMean == null;
        if (useBatch && view.PerChannel <= 1)
            throw new ArgumentException(
                $"{op}: expected more than 1 value per channel when training, got input size {Shapes.Format(input.shape)}.");

        var device = input.Device;
        var k = device.Kernels;
        var s = new NormScalars
        {
            Eps = eps, Momentum = momentum, UseBatch = useBatch ? 1 : 0,
            UpdateRunning = training && runningMean != null ? 1 : 0, Affine = weight != null ? 1 : 0,
        };
        var stats = device.Pool.Rent<float>(2 * channels);
        var y = Uninitialized(device, input.shape);
        if (runningMean == null)
        {
            k.ChannelStatistics(input.Elements, stats.View, stats.View, view, s);
        }
        else if (AdjacentPair(runningMean, runningVar!, out var running))
        {
            k.ChannelStatistics(input.Elements, stats.View, running, view, s);
        }
        else
        {
            var copy = device.Pool.Rent<float>(2 * channels);
            k.Copy(runningMean.Elements, copy.View.SubView(0, channels));
            k.Copy(runningVar!.Elements, copy.View.SubView(channels, channels));
            k.ChannelStatistics(input.Elements, stats.View, copy.View, view, s);
            if (s.UpdateRunning != 0)
            {
                k.Copy(copy.View.SubView(0, channels), runningMean.Elements);
                k.Copy(copy.View.SubView(channels, channels), runningVar.Elements);
            }
            device.Pool.Return(copy);
        }
        var gamma = weight?.Elements ?? stats.View;
        var beta = bias?.Elements ?? stats.View;
        k.ChannelNormalize(input.Elements, y.Elements, stats.View, gamma, beta, view, s);

        var x = input;
        var inputs = new[] { x, weight, bias }.OfType<Tensor>().ToArray();
        return Record(y, op, inputs, dy =>
        {
            var sums = device.Pool.Rent<float>(2 * channels);
            var grad = s with { GradInput = x.requiresGrad ? 1 : 0 };
            k.ChannelNormalizeGrad(x.Elements, dy, stats.View, weight?.Elements ?? stats.View,
                x.requiresGrad ? x.GradTarget() : stats.View, sums.View, view, grad);
            AccumulateAffineGrads(k, sums.View, channels, weight, bias);
            device.Pool.Return(sums);
        }, onRelease: () => device.Pool.Return(stats));
    }

    /// <summary>
    /// Layer normalization, PyTorch's <c>F.layer_norm</c>: over the trailing dimensions <paramref name="normalizedShape"/>
    /// of the input, y = (x − μ)/√(σ² + ε)·γ + β with μ, σ² (biased) taken per leading index and γ, β of shape
    /// <paramref name="normalizedShape"/>.
    /// </summary>
    public static Tensor LayerNorm(Tensor input, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null,
        float eps = 1e-5f)
    {
        const string op = "layer_norm";
        ArgumentNullException.ThrowIfNull(normalizedShape);
        CheckOperands(op, new[] { input, weight, bias }.OfType<Tensor>().ToArray());
        int trailing = normalizedShape.Length;
        if (trailing == 0 || trailing > input.Rank || !input.shape.AsSpan(input.Rank - trailing).SequenceEqual(normalizedShape))
            throw new ArgumentException(
                $"{op}: normalized_shape {Shapes.Format(normalizedShape)} is not the trailing dimensions of input of " +
                $"shape {Shapes.Format(input.shape)}.");
        foreach (var (name, t) in new[] { ("weight", weight), ("bias", bias) })
        {
            if (t != null && !t.shape.SequenceEqual(normalizedShape))
                throw new ArgumentException($"{op}: {name} has shape {Shapes.Format(t.shape)}, expected {Shapes.Format(normalizedShape)}.");
        }
        if ((weight == null) != (bias == null))
            throw new ArgumentException($"{op}: give both weight and bias, or neither.");
        if (!(eps > 0f)) throw new ArgumentOutOfRangeException(nameof(eps), $"{op}: eps must be > 0, got {eps}.");
        int cols = Shapes.Numel(normalizedShape), rows = input.Numel / Math.Max(1, cols);
        var view = new AxisView(rows, cols, 1);
        var device = input.Device;
        var k = device.Kernels;
        var s = new NormScalars { Eps = eps, UseBatch = 1, Affine = weight != null ? 1 : 0 };
        var stats = device.Pool.Rent<float>(Math.Max(1, 2 * rows));
        var y = Uninitialized(device, input.shape);
        var gamma = weight?.Elements ?? stats.View;
        var beta = bias?.Elements ?? stats.View;
        if (rows > 0) k.RowNormalize(input.Elements, y.Elements, stats.View, gamma, beta, view, s);

        var x = input;
        var inputs = new[] { x, weight, bias }.OfType<Tensor>().ToArray();
        return Record(y, op, inputs, dy =>
        {
            if (rows == 0) return;
            var sums = device.Pool.Rent<float>(2 * cols);
            var grad = s with { GradInput = x.requiresGrad ? 1 : 0 };
            k.RowNormalizeGrad(x.Elements, dy, stats.View, weight?.Elements ?? stats.View,
                x.requiresGrad ? x.GradTarget() : stats.View, sums.View, view, grad);
            AccumulateAffineGrads(k, sums.View, cols, weight, bias);
            device.Pool.Return(sums);
        }, onRelease: () => device.Pool.Return(stats));
    }

    /// <summary>sums = [Σdy…, Σdy·x̂…]: the second half is γ's gradient, the first β's.</summary>
    private static void AccumulateAffineGrads(IKernels k, ArrayView<float> sums, int n, Tensor? weight, Tensor? bias)
    {
        if (weight is { requiresGrad: true }) k.Accumulate(sums.SubView(n, n), weight.GradTarget());
        if (bias is { requiresGrad: true }) k.Accumulate(sums.SubView(0, n), bias.GradTarget());
    }

    private static void CheckPerChannel(string op, string name, Tensor? t, int channels)
    {
        if (t != null && (t.Rank != 1 || t.shape[0] != channels))
            throw new ArgumentException($"{op}: {name} has shape {Shapes.Format(t.shape)}, expected [{channels}] (one per channel).");
    }

    /// <summary>True when <paramref name="b"/> directly follows <paramref name="a"/> in one storage; <paramref name="both"/> spans them.</summary>
    private static bool AdjacentPair(Tensor a, Tensor b, out ArrayView<float> both)
    {
        both = default;
        if (a.storage == null || !ReferenceEquals(a.storage, b.storage) || b.offset != a.offset + a.Numel) return false;
        both = a.storage.View.SubView(a.offset, a.Numel + b.Numel);
        return true;
    }

    /// <summary>
    /// Group normalization, PyTorch's <c>F.group_norm</c>: the C channels of [N, C, *] in <paramref name="numGroups"/>
    /// groups; each (sample, group) is normalized by its own mean and biased variance, y = x̂·γ_c + β_c.
    /// </summary>
    public static Tensor GroupNorm(Tensor input, int numGroups, Tensor? weight = null, Tensor? bias = null,
        float eps = 1e-5f)
    {
        const string op = "group_norm";
        CheckOperands(op, new[] { input, weight, bias }.OfType<Tensor>().ToArray());
        if (input.Rank < 2)
            throw new ArgumentException($"{op}: expected input [N, C, *], got {Shapes.Format(input.shape)}.");
        int n = input.shape[0], c = input.shape[1];
        if (numGroups < 1 || c % numGroups != 0)
            throw new ArgumentException(
                $"{op}: num_groups {numGroups} must divide the {c} channels of input {Shapes.Format(input.shape)}.");
        CheckPerChannel(op, "weight", weight, c);
        CheckPerChannel(op, "bias", bias, c);
        if (!(eps > 0f)) throw new ArgumentOutOfRangeException(nameof(eps), $"{op}: eps must be > 0, got {eps}.");
        var groups = input.Reshape(n, numGroups, -1);
        var centred = groups - groups.Mean(-1, keepDim: true);
        var y = (centred * (centred.Var(new[] { -1 }, correction: 0, keepDim: true) + eps).Rsqrt()).Reshape(input.shape);
        if (weight == null && bias == null) return y;
        var perChannel = new int[input.Rank - 1];
        Array.Fill(perChannel, 1);
        perChannel[0] = c;
        if (weight != null) y *= weight.Reshape(perChannel);
        if (bias != null) y += bias.Reshape(perChannel);
        return y;
    }
}
