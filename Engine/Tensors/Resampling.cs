namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Resizes the spatial axes of [N, C, H, W] (or [C, H, W]), PyTorch's <c>F.interpolate</c> for modes "nearest"
    /// and "bilinear": to <paramref name="size"/>, or by <paramref name="scaleFactor"/> (output ⌊in·s⌋; the source
    /// position of output i is then i/s, as PyTorch computes it). Nearest: source ⌊i·scale⌋. Bilinear: each output a
    /// weighted mean of the 2×2 nearest inputs, source (i + ½)·scale − ½ (clamped at 0), or i·(in − 1)/(out − 1) with
    /// <paramref name="alignCorners"/>. Both are linear in the input: nearest is two index selections, bilinear the
    /// products A_h·x·A_wᵀ with the interpolation matrices, so backward is theirs.
    /// </summary>
    public static Tensor Interpolate(Tensor input, Pair? size = null, double? scaleFactor = null,
        string mode = "nearest", bool? alignCorners = null)
    {
        const string op = "interpolate";
        CheckOperands(op, input);
        if (input.Rank == 3) return Interpolate(input.Unsqueeze(0), size, scaleFactor, mode, alignCorners).Squeeze(0);
        if (input.Rank != 4)
            throw new ArgumentException($"{op}: expected input [N, C, H, W] or [C, H, W], got {Shapes.Format(input.shape)}.");
        if ((size == null) == (scaleFactor == null))
            throw new ArgumentException($"{op}: give exactly one of size and scale_factor.");
        if (mode is not ("nearest" or "bilinear"))
            throw new ArgumentException($"{op}: mode must be \"nearest\" or \"bilinear\", got \"{mode}\".");
        if (mode == "nearest" && alignCorners != null)
            throw new ArgumentException($"{op}: align_corners option can only be set with the interpolating mode bilinear.");
        if (scaleFactor is { } f && !(f > 0))
            throw new ArgumentException($"{op}: scale_factor must be > 0, got {f}.");
        int h = input.shape[2], w = input.shape[3];
        int oh = size?.H ?? (int)Math.Floor(h * scaleFactor!.Value), ow = size?.W ?? (int)Math.Floor(w * scaleFactor!.Value);
        if (oh < 1 || ow < 1)
            throw new ArgumentException($"{op}: the output size {oh}×{ow} of input {Shapes.Format(input.shape)} must be positive.");
        double? scale = scaleFactor is { } s ? 1.0 / s : null;
        if (mode == "nearest")
        {
            var rows = FromArray(input.Device, NearestSources(h, oh, scale), new[] { oh });
            var cols = FromArray(input.Device, NearestSources(w, ow, scale), new[] { ow });
            return input.IndexSelect(2, rows).IndexSelect(3, cols);
        }
        bool corners = alignCorners ?? false;
        var ah = FromArray(input.Device, LinearWeights(h, oh, scale, corners), new[] { oh, h });
        var aw = FromArray(input.Device, LinearWeights(w, ow, scale, corners), new[] { ow, w });
        return ah.MatMul(input.MatMul(aw.MT));
    }

    /// <summary>PyTorch's nearest source index: min(⌊i·scale⌋, in − 1), scale = 1/scale_factor or in/out.</summary>
    internal static int[] NearestSources(int input, int output, double? scale)
    {
        double sc = scale ?? (double)input / output;
        var src = new int[output];
        for (int i = 0; i < output; i++) src[i] = Math.Min((int)Math.Floor(i * (float)sc), input - 1);
        return src;
    }

    /// <summary>The [out, in] matrix of linear interpolation weights along one axis (two nonzeros per row).</summary>
    internal static float[] LinearWeights(int input, int output, double? scale, bool alignCorners)
    {
        var a = new float[output * input];
        float sc = alignCorners
            ? (output > 1 ? (float)(input - 1) / (output - 1) : 0f)
            : (float)(scale ?? (double)input / output);
        for (int i = 0; i < output; i++)
        {
            float src = alignCorners ? sc * i : Math.Max(sc * (i + 0.5f) - 0.5f, 0f);
            int i0 = Math.Min((int)src, input - 1);
            int i1 = i0 + (i0 < input - 1 ? 1 : 0);
            float l1 = src - i0, l0 = 1f - l1;
            a[i * input + i0] += l0;
            a[i * input + i1] += l1;
        }
        return a;
    }
}
