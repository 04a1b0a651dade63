namespace Examples;

/// <summary>
/// The soak's managed-heap check: the live heap after a full collection (what is still reachable, not garbage waiting
/// for the collector, whose amount rises and falls with the GC's budgets), against the first measurement, which is
/// taken once everything has warmed up. Growth beyond <see cref="Tolerance"/> means something accumulates per step.
/// </summary>
public sealed class HeapWatch(long tolerance = 1_000_000)
{
    private long baseline = -1;

    /// <summary>Bytes the live heap may grow past the first measurement before the soak fails.</summary>
    public long Tolerance { get; } = tolerance;

    /// <summary>Why the soak fails, once the heap has grown past the tolerance; null while it has not.</summary>
    public string? Failure { get; private set; }

    /// <summary>Collects fully, records the live heap and returns it.</summary>
    public long Measure() => Record(GC.GetTotalMemory(forceFullCollection: true));

    /// <summary>Records one measurement (in bytes) and returns it.</summary>
    public long Record(long bytes)
    {
        if (baseline < 0) baseline = bytes;
        else if (bytes - baseline > Tolerance && Failure == null)
            Failure = $"the live managed heap grew from {baseline / 1e6:F2} MB to {bytes / 1e6:F2} MB (more than " +
                      $"{Tolerance / 1e6:F1} MB): something accumulates per step.";
        return bytes;
    }
}
