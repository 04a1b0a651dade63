using ILGPU;

namespace Engine.Kernels;

// A convolution's matrices as operands of the ILGPU matrix products, computed from the tensors as the tiles are loaded
// (implicit GEMM: no im2col matrix is written). Each is an IOperandLayout instance carrying the ConvGeometry; the
// product's batch item (image, group) has already moved the buffer to the item's image-group (x or dy) or to the
// group's weights. They are for ConvolutionKernels only: the SIMD GEMM reads operands through raw addresses.

/// <summary>
/// The im2col matrix of an image-group, [K = Cg·KH·KW, P = OH·OW]: (r, p) = x[c, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW]
/// for r = (c, kh, kw), p = (oh, ow), zero in the padding. The forward's B.
/// </summary>
public struct ImageColumns : IOperandLayout
{
    public ConvGeometry G;

    public ImageColumns(ConvGeometry g) => G = g;

    public readonly float Load(ArrayView<float> m, int row, int col, int rows, int cols)
    {
        int source = G.ColumnSource(row, col);
        return source < 0 ? 0f : m[source];
    }

    public readonly bool IsTransposed => false;
}

/// <summary>The im2col matrix transposed, [P, K]: (p, r) = <see cref="ImageColumns"/>(r, p). The weight gradient's B.</summary>
public struct ImageColumnsTransposed : IOperandLayout
{
    public ConvGeometry G;

    public ImageColumnsTransposed(ConvGeometry g) => G = g;

    public readonly float Load(ArrayView<float> m, int row, int col, int rows, int cols)
    {
        int source = G.ColumnSource(col, row);
        return source < 0 ? 0f : m[source];
    }

    public readonly bool IsTransposed => true;
}

/// <summary>
/// A group's weights [OCg, Cg, KH, KW] read as the input gradient's A, [Cg, OCg·KH·KW]: (c, (o, kh, kw)) =
/// w[o, c, kh, kw].
/// </summary>
public struct WeightTaps : IOperandLayout
{
    public ConvGeometry G;

    public WeightTaps(ConvGeometry g) => G = g;

    public readonly float Load(ArrayView<float> m, int row, int col, int rows, int cols)
    {
        int taps = G.KH * G.KW;
        return m[(col / taps * G.Cg + row) * taps + col % taps];
    }

    public readonly bool IsTransposed => false;
}

/// <summary>
/// An image-group's output gradient read as the input gradient's B, [OCg·KH·KW, H·W]: ((o, kh, kw), (ih, iw)) =
/// dy[o, oh, ow] where oh·SH − PH + kh·DH = ih and ow·SW − PW + kw·DW = iw, zero where no output position reaches the
/// pixel with that tap (so wᵀ-by-this is col2im(wᵀ·dy) without the column matrix).
/// </summary>
public struct OutputTaps : IOperandLayout
{
    public ConvGeometry G;

    public OutputTaps(ConvGeometry g) => G = g;

    public readonly float Load(ArrayView<float> m, int row, int col, int rows, int cols)
    {
        int taps = G.KH * G.KW, tap = row % taps, o = row / taps;
        int th = col / G.W + G.PH - tap / G.KW * G.DH, tw = col % G.W + G.PW - tap % G.KW * G.DW;
        if (th < 0 || tw < 0 || th % G.SH != 0 || tw % G.SW != 0) return 0f;
        int oh = th / G.SH, ow = tw / G.SW;
        return oh < G.OH && ow < G.OW ? m[(o * G.OH + oh) * G.OW + ow] : 0f;
    }

    public readonly bool IsTransposed => false;
}
