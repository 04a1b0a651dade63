namespace Engine.Kernels;

/// <summary>
/// A batch-normalized tensor viewed as <c>[Outer, Channels, Inner]</c> (row-major): <c>[N, C]</c> is (N, C, 1) and
/// <c>[N, C, L]</c> is (N, C, L). Each channel's statistics run over its <see cref="PerChannel"/> = Outer·Inner
/// elements.
/// </summary>
public readonly struct ChannelView
{
    public ChannelView(int outer, int channels, int inner)
    {
        Outer = outer;
        Channels = channels;
        Inner = inner;
    }

    public int Outer { get; }
    public int Channels { get; }
    public int Inner { get; }

    /// <summary>Elements each channel's statistics are taken over.</summary>
    public int PerChannel => Outer * Inner;

    public int Count => Outer * Channels * Inner;

    /// <summary>Flat index of element <paramref name="j"/> (0 ≤ j &lt; PerChannel) of channel <paramref name="c"/>.</summary>
    public int Index(int c, int j) => (j / Inner * Channels + c) * Inner + j % Inner;

    /// <summary>The channel flat element <paramref name="i"/> belongs to.</summary>
    public int ChannelOf(int i) => i / Inner % Channels;
}

/// <summary>
/// The scalars of the normalization kernels. <c>stats</c> buffers hold the means first, then the inverse standard
/// deviations 1/√(σ² + ε): <c>[μ_0 … μ_{G−1}, s_0 … s_{G−1}]</c> for G groups (channels or rows); <c>sums</c> buffers
/// of the backward hold <c>[Σ dy …, Σ dy·x̂ …]</c>, which are also ∂L/∂β and ∂L/∂γ.
/// </summary>
public struct NormScalars
{
    public float Eps;

    /// <summary>Weight of the new batch statistic in the running averages (PyTorch's exponential average factor).</summary>
    public float Momentum;

    /// <summary>1: normalize with the batch's statistics (training); 0: with the running ones (evaluation).</summary>
    public int UseBatch;

    /// <summary>1: fold the batch statistics into the running mean and (unbiased) variance.</summary>
    public int UpdateRunning;

    /// <summary>1: scale by γ and shift by β after normalizing.</summary>
    public int Affine;

    /// <summary>1: the backward accumulates the input's gradient (0 when the input needs none).</summary>
    public int GradInput;
}
