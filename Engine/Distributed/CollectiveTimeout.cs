using System.Globalization;

namespace Engine.Distributed;

/// <summary>
/// How long a rank waits in one collective before the job is aborted (NCCL's watchdog, <c>torch.distributed</c>'s
/// <c>timeout</c>): <c>ENGINE_COLLECTIVE_TIMEOUT</c> in seconds (<c>300</c>, <c>30s</c>), minutes (<c>5m</c>) or
/// <c>0</c> for never; 5 minutes when unset.
/// </summary>
public static class CollectiveTimeout
{
    public const string EnvironmentVariable = "ENGINE_COLLECTIVE_TIMEOUT";

    public static readonly TimeSpan Default = TimeSpan.FromMinutes(5);

    /// <summary>The timeout the environment sets (<see cref="TimeSpan.Zero"/>: none).</summary>
    /// <exception cref="ArgumentException">a value that is not a duration, naming it.</exception>
    public static TimeSpan FromEnvironment() => Parse(Environment.GetEnvironmentVariable(EnvironmentVariable));

    public static TimeSpan Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Default;
        string t = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (t.EndsWith('m')) (t, scale) = (t[..^1], 60);
        else if (t.EndsWith('s')) t = t[..^1];
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value >= 0) ||
            double.IsInfinity(value))
            throw new ArgumentException(
                $"{EnvironmentVariable} is '{text}', not a duration: give seconds (300 or 300s), minutes (5m) or 0 for none.");
        return TimeSpan.FromSeconds(value * scale);
    }
}
