namespace Engine.Kernels;

/// <summary>
/// The shape of a 2-D convolution (a 1-D one is H = KH = 1), as <c>torch.nn.functional.conv2d</c> computes it with
/// zero padding:
/// y[n, o, oh, ow] = Σ_{c, kh, kw} w[o, c, kh, kw] · x[n, g·Cg + c, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW]
/// for the group g = o / OCg, with x = 0 outside the image. Layouts are row-major: x [N, C, H, W],
/// w [OC, Cg, KH, KW], y [N, OC, OH, OW], where Cg = C / Groups and OCg = OC / Groups.
/// </summary>
/// <remarks>
/// Every pass is a matrix product per (image, group): with the im2col matrix col[(c, kh, kw), (oh, ow)] of the
/// image's group (K = Cg·KH·KW rows, P = OH·OW columns), forward is y = w·col, the weight gradient
/// dw += dy·colᵀ and the input gradient col2im(wᵀ·dy), col2im adding each column entry back to the pixel it came from.
/// </remarks>
public struct ConvGeometry
{
    public int N, C, H, W;
    public int OC, KH, KW;
    public int SH, SW, PH, PW, DH, DW;
    public int Groups;
    public int OH, OW;

    public ConvGeometry(int n, int c, int h, int w, int oc, int kh, int kw, int sh, int sw, int ph, int pw, int dh,
        int dw, int groups)
    {
        N = n; C = c; H = h; W = w; OC = oc; KH = kh; KW = kw;
        SH = sh; SW = sw; PH = ph; PW = pw; DH = dh; DW = dw; Groups = groups;
        OH = OutputSize(h, kh, sh, ph, dh);
        OW = OutputSize(w, kw, sw, pw, dw);
    }

    /// <summary>⌊(in + 2·pad − dil·(k − 1) − 1) / stride⌋ + 1, PyTorch's output size (≤ 0 when the window does not fit).</summary>
    public static int OutputSize(int input, int kernel, int stride, int pad, int dilation)
    {
        int span = input + 2 * pad - dilation * (kernel - 1) - 1;
        return span < 0 ? 0 : span / stride + 1;
    }

    /// <summary>Input channels per group.</summary>
    public readonly int Cg => C / Groups;

    /// <summary>Output channels per group.</summary>
    public readonly int OCg => OC / Groups;

    /// <summary>Rows of the im2col matrix (the products' inner dimension): Cg·KH·KW.</summary>
    public readonly int K => Cg * KH * KW;

    /// <summary>Output positions per image: OH·OW.</summary>
    public readonly int P => OH * OW;

    /// <summary>Pixels per input plane: H·W.</summary>
    public readonly int Plane => H * W;

    /// <summary>Whether col is the input itself: a 1×1 kernel, stride 1, no padding.</summary>
    public readonly bool IsPointwise => KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;

    /// <summary>
    /// col[row, p] for row = (c, kh, kw) and p = (oh, ow), read from one image-group's channels
    /// (channel c's plane at c·H·W): the pixel's offset in them, or −1 where col holds a zero of the padding.
    /// </summary>
    public readonly int ColumnSource(int row, int p)
    {
        int kw = row % KW, kh = row / KW % KH, c = row / (KW * KH);
        int oh = p / OW, ow = p % OW;
        int ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
        return ih >= 0 && ih < H && iw >= 0 && iw < W ? c * H * W + ih * W + iw : -1;
    }
}
