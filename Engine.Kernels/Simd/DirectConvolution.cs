using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Kernels.Simd;

/// <summary>
/// Stride-1 convolutions with few output channels, directly on wide rows (see <see cref="SimdKernels"/>'s wide path:
/// tap r of wide column p reads src[off(r) + p]), each pass a loop of AVX-512 multiply-adds with its accumulators in
/// registers. Forward: y'[o, p] = Σ_r w[o, r]·src[off(r) + p], eight channels × 32 columns at a time, each tap's two
/// vectors loaded once for the eight channels. Weight gradient: dw[o, r] += Σ_p dy'[o, p]·src[off(r) + p], two taps ×
/// eight channels. Input gradient: dx[off(r) + p] += Σ_o w[o, r]·dy'[o, p], four taps at a time. A GEMM would pack
/// every im2col element for only OCg (≤ 16) multiply-adds: with LeNet's 6 and 16 channels that packing is most of
/// the time; here nothing is packed.
/// </summary>
public static unsafe class DirectConvolution
{
    /// <summary>Output channels at which the GEMM's packing pays for itself again.</summary>
    public const int MaxChannels = 16;

    public static bool Supported => Avx512F.IsSupported && Lanes.Wide;

    /// <summary>
    /// wideOut[o, p] = Σ_r w[o·K + r]·src[off[r] + p] for o &lt; channels, p &lt; columns; <paramref name="wT"/> is scratch
    /// for 8·K floats (w transposed per block of eight channels, zero past the last channel).
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    public static void Forward(float* w, int channels, int k, float* src, int* off, int columns, float* wideOut,
        float* wT)
    {
        for (int o0 = 0; o0 < channels; o0 += 8)
        {
            int rows = Math.Min(8, channels - o0);
            for (int r = 0; r < k; r++)
            for (int j = 0; j < 8; j++)
                wT[r * 8 + j] = j < rows ? w[(long)(o0 + j) * k + r] : 0f;
            for (int p = 0; p < columns; p += 32)
            {
                int left = columns - p;
                var m0 = Mask(left);
                var m1 = Mask(left - 16);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
                    a6 = default, a7 = default, b0 = default, b1 = default, b2 = default, b3 = default, b4 = default,
                    b5 = default, b6 = default, b7 = default;
                float* wr = wT;
                for (int r = 0; r < k; r++, wr += 8)
                {
                    float* s = src + off[r] + p;
                    var x0 = left >= 16 ? Vector512.Load(s) : Avx512F.MaskLoad(s, m0, default);
                    var x1 = left >= 32 ? Vector512.Load(s + 16) : left > 16 ? Avx512F.MaskLoad(s + 16, m1, default) : default;
                    var v = Vector512.Create(wr[0]); a0 = Avx512F.FusedMultiplyAdd(v, x0, a0); b0 = Avx512F.FusedMultiplyAdd(v, x1, b0);
                    v = Vector512.Create(wr[1]); a1 = Avx512F.FusedMultiplyAdd(v, x0, a1); b1 = Avx512F.FusedMultiplyAdd(v, x1, b1);
                    v = Vector512.Create(wr[2]); a2 = Avx512F.FusedMultiplyAdd(v, x0, a2); b2 = Avx512F.FusedMultiplyAdd(v, x1, b2);
                    v = Vector512.Create(wr[3]); a3 = Avx512F.FusedMultiplyAdd(v, x0, a3); b3 = Avx512F.FusedMultiplyAdd(v, x1, b3);
                    v = Vector512.Create(wr[4]); a4 = Avx512F.FusedMultiplyAdd(v, x0, a4); b4 = Avx512F.FusedMultiplyAdd(v, x1, b4);
                    v = Vector512.Create(wr[5]); a5 = Avx512F.FusedMultiplyAdd(v, x0, a5); b5 = Avx512F.FusedMultiplyAdd(v, x1, b5);
                    v = Vector512.Create(wr[6]); a6 = Avx512F.FusedMultiplyAdd(v, x0, a6); b6 = Avx512F.FusedMultiplyAdd(v, x1, b6);
                    v = Vector512.Create(wr[7]); a7 = Avx512F.FusedMultiplyAdd(v, x0, a7); b7 = Avx512F.FusedMultiplyAdd(v, x1, b7);
                }
                float* y = wideOut + (long)o0 * columns + p;
                Store(y, columns, 0, rows, left, m0, m1, a0, b0);
                Store(y, columns, 1, rows, left, m0, m1, a1, b1);
                Store(y, columns, 2, rows, left, m0, m1, a2, b2);
                Store(y, columns, 3, rows, left, m0, m1, a3, b3);
                Store(y, columns, 4, rows, left, m0, m1, a4, b4);
                Store(y, columns, 5, rows, left, m0, m1, a5, b5);
                Store(y, columns, 6, rows, left, m0, m1, a6, b6);
                Store(y, columns, 7, rows, left, m0, m1, a7, b7);
            }
        }
    }

    /// <summary>
    /// dw[o·K + r] += Σ_p dyWide[o, p]·src[off[r] + p] over p &lt; columns (the junk columns of dyWide are zero): two taps
    /// at a time against up to eight channels' gradient rows, sixteen accumulators, one horizontal sum per (o, r).
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    public static void WeightGradient(float* dyWide, int channels, int k, float* src, int* off, int columns, float* dw)
    {
        for (int o0 = 0; o0 < channels; o0 += 8)
        {
            int rows = Math.Min(8, channels - o0);
            float* d = dyWide + (long)o0 * columns;
            for (int r = 0; r < k; r += 2)
            {
                bool pair = r + 1 < k;
                float* s0 = src + off[r], s1 = pair ? src + off[r + 1] : src + off[r];
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
                    a6 = default, a7 = default, b0 = default, b1 = default, b2 = default, b3 = default, b4 = default,
                    b5 = default, b6 = default, b7 = default;
                for (int p = 0; p < columns; p += 16)
                {
                    int left = columns - p;
                    var m = Mask(left);
                    var x0 = left >= 16 ? Vector512.Load(s0 + p) : Avx512F.MaskLoad(s0 + p, m, default);
                    var x1 = left >= 16 ? Vector512.Load(s1 + p) : Avx512F.MaskLoad(s1 + p, m, default);
                    var g = Row(d, 0, rows, columns, p, left, m); a0 = Avx512F.FusedMultiplyAdd(g, x0, a0); b0 = Avx512F.FusedMultiplyAdd(g, x1, b0);
                    g = Row(d, 1, rows, columns, p, left, m); a1 = Avx512F.FusedMultiplyAdd(g, x0, a1); b1 = Avx512F.FusedMultiplyAdd(g, x1, b1);
                    g = Row(d, 2, rows, columns, p, left, m); a2 = Avx512F.FusedMultiplyAdd(g, x0, a2); b2 = Avx512F.FusedMultiplyAdd(g, x1, b2);
                    g = Row(d, 3, rows, columns, p, left, m); a3 = Avx512F.FusedMultiplyAdd(g, x0, a3); b3 = Avx512F.FusedMultiplyAdd(g, x1, b3);
                    g = Row(d, 4, rows, columns, p, left, m); a4 = Avx512F.FusedMultiplyAdd(g, x0, a4); b4 = Avx512F.FusedMultiplyAdd(g, x1, b4);
                    g = Row(d, 5, rows, columns, p, left, m); a5 = Avx512F.FusedMultiplyAdd(g, x0, a5); b5 = Avx512F.FusedMultiplyAdd(g, x1, b5);
                    g = Row(d, 6, rows, columns, p, left, m); a6 = Avx512F.FusedMultiplyAdd(g, x0, a6); b6 = Avx512F.FusedMultiplyAdd(g, x1, b6);
                    g = Row(d, 7, rows, columns, p, left, m); a7 = Avx512F.FusedMultiplyAdd(g, x0, a7); b7 = Avx512F.FusedMultiplyAdd(g, x1, b7);
                }
                float* target = dw + (long)o0 * k + r;
                AddSums(target, k, rows, pair, a0, b0, 0);
                AddSums(target, k, rows, pair, a1, b1, 1);
                AddSums(target, k, rows, pair, a2, b2, 2);
                AddSums(target, k, rows, pair, a3, b3, 3);
                AddSums(target, k, rows, pair, a4, b4, 4);
                AddSums(target, k, rows, pair, a5, b5, 5);
                AddSums(target, k, rows, pair, a6, b6, 6);
                AddSums(target, k, rows, pair, a7, b7, 7);
            }
        }
    }

    /// <summary>Row j of the channel block at column p (zero past the block's channels or the columns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row(float* d, int j, int rows, int columns, int p, int left, Vector512<float> m)
    {
        if (j >= rows) return default;
        float* at = d + (long)j * columns + p;
        return left >= 16 ? Vector512.Load(at) : Avx512F.MaskLoad(at, m, default);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSums(float* target, int k, int rows, bool pair, Vector512<float> a, Vector512<float> b, int j)
    {
        if (j >= rows) return;
        target[(long)j * k] += Vector512.Sum(a);
        if (pair) target[(long)j * k + 1] += Vector512.Sum(b);
    }

    /// <summary>
    /// target[off[r] + p] += Σ_o w[o·K + r]·dyWide[o, p] for every tap r and p &lt; columns (the wide input gradient, added
    /// back along each tap's shift): four taps at a time, each gradient row loaded once for the four.
    /// </summary>
    [MethodImpl(Lanes.Hot)]
    public static void InputGradient(float* w, int channels, int k, float* dyWide, int columns, float* target, int* off)
    {
        for (int r = 0; r < k; r += 4)
        {
            int taps = Math.Min(4, k - r);
            for (int p = 0; p < columns; p += 16)
            {
                int left = columns - p;
                var m = Mask(left);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* wo = w + r;
                float* d = dyWide + p;
                for (int o = 0; o < channels; o++, wo += k, d += columns)
                {
                    var g = left >= 16 ? Vector512.Load(d) : Avx512F.MaskLoad(d, m, default);
                    a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(wo[0]), g, a0);
                    if (taps > 1) a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(wo[1]), g, a1);
                    if (taps > 2) a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(wo[2]), g, a2);
                    if (taps > 3) a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(wo[3]), g, a3);
                }
                AddAt(target + off[r] + p, a0, left, m);
                if (taps > 1) AddAt(target + off[r + 1] + p, a1, left, m);
                if (taps > 2) AddAt(target + off[r + 2] + p, a2, left, m);
                if (taps > 3) AddAt(target + off[r + 3] + p, a3, left, m);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddAt(float* at, Vector512<float> v, int left, Vector512<float> m)
    {
        if (left >= 16) (Vector512.Load(at) + v).Store(at);
        else Avx512F.MaskStore(at, m, Avx512F.MaskLoad(at, m, default) + v);
    }

    private static readonly Vector512<int> Lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    /// <summary>Lanes below <paramref name="count"/> set (all for ≥ 16, none for ≤ 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Mask(int count) => Vector512.LessThan(Lane, Vector512.Create(count)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, int columns, int j, int rows, int left, Vector512<float> m0,
        Vector512<float> m1, Vector512<float> lo, Vector512<float> hi)
    {
        if (j >= rows) return;
        float* row = y + (long)j * columns;
        if (left >= 32)
        {
            lo.Store(row);
            hi.Store(row + 16);
            return;
        }
        Avx512F.MaskStore(row, m0, lo);
        if (left > 16) Avx512F.MaskStore(row + 16, m1, hi);
    }
}
