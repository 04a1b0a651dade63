using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Optim;

/// <summary>Gradient clipping as kernels, as <c>torch.nn.utils.clip_grad_norm_</c> / <c>clip_grad_value_</c>.</summary>
public static class GradClip
{
    /// <summary>
    /// Scales all gradients together so that their global L2 norm is at most <paramref name="maxNorm"/>:
    /// ‖g‖ = √Σ‖gᵢ‖², c = maxNorm / (‖g‖ + 1e−6), every g ← c·g when c &lt; 1. Returns ‖g‖ before clipping as a
    /// scalar tensor (no host read unless you call <c>Item()</c>). When the gradients are one optimizer's
    /// flat buffer (the usual case) this is two launches; otherwise one reduction per tensor plus two.
    /// </summary>
    public static Tensor ClipGradNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        var grads = Gradients(parameters, "clip_grad_norm_");
        Hyper.NonNegative("maxNorm", maxNorm);
        var device = grads[0].Device;
        var k = device.Kernels;
        var total = Tensor.Uninitialized(device, Array.Empty<int>());
        if (Contiguous(grads, out var all))
        {
            k.SumAll<Square>(all, all, total.Elements, 1f);
            k.ScaleToNorm(all, total.Elements, maxNorm);
        }
        else
        {
            var partial = device.Pool.Rent<float>(grads.Count);
            for (int i = 0; i < grads.Count; i++)
                k.SumAll<Square>(grads[i].Elements, grads[i].Elements, partial.View.SubView(i, 1), 1f);
            k.SumAll<Identity>(partial.View, partial.View, total.Elements, 1f);
            foreach (var g in grads) k.ScaleToNorm(g.Elements, total.Elements, maxNorm);
            device.Pool.Return(partial); // the stream runs the kernels above before any later user of it
        }
        k.Unary<Kernels.SqrtOp>(total.Elements, total.Elements);
        return total;
    }

    /// <summary>Clamps every gradient element to [−clip, clip] in place (one launch for a flat buffer).</summary>
    public static void ClipGradValue(IEnumerable<Tensor> parameters, float clip)
    {
        var grads = Gradients(parameters, "clip_grad_value_");
        Hyper.NonNegative("clip", clip);
        var k = grads[0].Device.Kernels;
        if (Contiguous(grads, out var all)) k.Unary<Kernels.ClampOp>(all, all, -clip, clip);
        else foreach (var g in grads) k.Unary<Kernels.ClampOp>(g.Elements, g.Elements, -clip, clip);
    }

    private static List<Tensor> Gradients(IEnumerable<Tensor> parameters, string op)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToList();
        if (list.Count == 0) throw new ArgumentException($"{op}: got an empty parameter list.");
        var grads = new List<Tensor>();
        for (int i = 0; i < list.Count; i++)
        {
            list[i].ThrowIfDisposed(op);
            if (list[i].Grad != null) grads.Add(list[i].Grad!);
        }
        if (grads.Count == 0)
            throw new InvalidOperationException($"{op}: none of the {list.Count} parameters has a gradient yet.");
        return grads;
    }

    /// <summary>True when the gradients are back-to-back views of one buffer; <paramref name="all"/> spans them.</summary>
    private static bool Contiguous(List<Tensor> grads, out ArrayView<float> all)
    {
        all = default;
        var (storage, start) = grads[0].Placement;
        long next = start + grads[0].Numel;
        for (int i = 1; i < grads.Count; i++)
        {
            var (s, at) = grads[i].Placement;
            if (!ReferenceEquals(s, storage) || at != next) return false;
            next += grads[i].Numel;
        }
        foreach (var g in grads) g.ThrowIfDisposed("clip");
        if (next - start > FlatChunk.Elements) return false; // the per-tensor path keeps every kernel under 2³¹ elements
        all = storage.View.SubView(start, next - start);
        return true;
    }
}
