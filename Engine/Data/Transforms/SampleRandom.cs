namespace Engine.Data.Transforms;

/// <summary>
/// The random numbers one sample's transforms draw in one epoch: a SplitMix64 stream whose starting state is a hash of
/// (loader seed, epoch, the sample's dataset row) and nothing else. So a sample's augmentation is the same whatever
/// batch it lands in, however the epoch is shuffled or sharded, and whichever thread gathers it; the same seed and
/// epoch give the same augmented batches, the next epoch draws anew.
/// </summary>
public struct SampleRandom
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private ulong state;

    /// <summary>The stream of row <paramref name="index"/> of the dataset in epoch <paramref name="epoch"/> under <paramref name="seed"/>.</summary>
    public SampleRandom(int seed, int epoch, int index)
    {
        ulong h = Mix(unchecked((uint)seed + Golden));
        h = Mix(h ^ unchecked((uint)epoch + 2 * Golden));
        state = Mix(h ^ unchecked((uint)index + 3 * Golden));
    }

    /// <summary>The next 64 random bits (SplitMix64: add the golden gamma, then mix).</summary>
    public ulong NextUInt64()
    {
        state = unchecked(state + Golden);
        return Mix(state);
    }

    /// <summary>Uniform in [0, 1), 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// Uniform integer in [0, <paramref name="maxExclusive"/>), by the high half of a 64×64-bit product (Lemire);
    /// NOTE: the bias, at most maxExclusive / 2⁶⁴, is far below anything a training run can see.
    /// </summary>
    public int Next(int maxExclusive)
    {
        if (maxExclusive < 1)
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), $"Next: maxExclusive must be ≥ 1, got {maxExclusive}.");
        return (int)Math.BigMul(NextUInt64(), (ulong)maxExclusive, out _);
    }

    private static ulong Mix(ulong z)
    {
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
