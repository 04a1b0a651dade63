namespace Engine;

/// <summary>
/// The process-wide generator that layers, initialisers, dropout and random tensors draw their seed from when none is
/// given, as PyTorch's default generator: <c>torch.manual_seed(s)</c> is <see cref="ManualSeed"/>. It starts from a
/// fixed seed (PyTorch's default, 67280421310721), so a program that builds the same things in the same order gets the
/// same numbers on every run, while each draw is a new seed, so two unseeded layers differ. An explicit seed bypasses
/// it and always gives the same numbers.
/// </summary>
public static class Generator
{
    private static readonly object Gate = new();
    private static long initial = 67280421310721;
    private static long draws;

    /// <summary>The seed the generator started from (PyTorch's <c>torch.initial_seed()</c>).</summary>
    public static long InitialSeed
    {
        get
        {
            lock (Gate) return initial;
        }
    }

    /// <summary>Restarts the generator from <paramref name="seed"/> (PyTorch's <c>torch.manual_seed</c>).</summary>
    public static void ManualSeed(long seed)
    {
        lock (Gate)
        {
            initial = seed;
            draws = 0;
        }
    }

    /// <summary><paramref name="seed"/> when given, else the generator's next seed.</summary>
    internal static int SeedOrNext(int? seed) => seed ?? NextSeed();

    /// <summary>The generator as a stream whose position activation checkpointing can set back.</summary>
    internal static readonly IRandomStream Stream = new DrawCount();

    private sealed class DrawCount : IRandomStream
    {
        public long Position
        {
            get
            {
                lock (Gate) return draws;
            }
            set
            {
                lock (Gate) draws = value;
            }
        }
    }

    /// <summary>The next seed: SplitMix64 of the initial seed and the draw's number.</summary>
    internal static int NextSeed()
    {
        RandomReplay.Touch(Stream);
        ulong z;
        lock (Gate) z = unchecked((ulong)initial + (ulong)++draws * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return unchecked((int)((z ^ (z >> 31)) >> 32));
    }
}
