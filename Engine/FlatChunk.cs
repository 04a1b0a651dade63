using Engine.Kernels;
using ILGPU;

namespace Engine;

/// <summary>
/// Whole-buffer work on the flat buffers (an optimizer's parameters, gradients and state, which a large model takes
/// past 2³¹ elements) cut into launches of at most <see cref="Elements"/> elements, so that no kernel, on any backend,
/// indexes past a 32-bit count. Offsets and lengths are 64-bit throughout.
/// </summary>
internal static class FlatChunk
{
    /// <summary>The most elements one launch covers: 2³⁰ (tests lower it to run the cut-up paths on small buffers).</summary>
    internal static long Elements { get; set; } = 1L << 30;

    /// <summary>[start, start + length) of each launch over <paramref name="total"/> elements, in order.</summary>
    internal static IEnumerable<(long Start, long Length)> Of(long total)
    {
        for (long at = 0; at < total; at += Elements) yield return (at, Math.Min(Elements, total - at));
    }

    /// <summary><paramref name="view"/> ← <paramref name="value"/>, in launches of at most <see cref="Elements"/>.</summary>
    internal static void Fill(IKernels kernels, ArrayView<float> view, float value)
    {
        foreach (var (start, length) in Of(view.Length)) kernels.Fill(view.SubView(start, length), value);
    }

    /// <summary><paramref name="target"/> ← <paramref name="source"/> (same length), in launches of at most <see cref="Elements"/>.</summary>
    internal static void Copy(IKernels kernels, ArrayView<float> source, ArrayView<float> target)
    {
        foreach (var (start, length) in Of(source.Length)) kernels.Copy(source.SubView(start, length), target.SubView(start, length));
    }

    /// <summary>Whether every element of <paramref name="view"/> (and of <paramref name="alsoCheck"/>) is finite: one flag
    /// read per launch (one in all below 2³⁰ elements).</summary>
    internal static bool AllFinite(Device device, ArrayView<float> view, ArrayView<float>? alsoCheck = null)
    {
        if (view.Length <= Elements)
            return alsoCheck is { } more ? NonFinite.AllFinite(device, view, more) : NonFinite.AllFinite(device, view);
        if (alsoCheck is { } extra && !NonFinite.AllFinite(device, extra)) return false;
        foreach (var (start, length) in Of(view.Length))
            if (!NonFinite.AllFinite(device, view.SubView(start, length))) return false;
        return true;
    }

    /// <summary>
    /// A host array of <paramref name="length"/> floats, or an error naming <paramref name="what"/> and the size when
    /// it cannot be one (.NET arrays stop at <see cref="Array.MaxLength"/> elements).
    /// </summary>
    internal static float[] HostArray(long length, string what) =>
        length <= Array.MaxLength
            ? new float[length]
            : throw new NotSupportedException(
                $"{what}: {length:N0} floats do not fit in one host array (at most {Array.MaxLength:N0}); a model this " +
                "large is saved with its optimizer state sharded over the ranks (ZeRO with TrainerOptions.ShardedCheckpoints).");
}
