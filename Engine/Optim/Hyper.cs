namespace Engine.Optim;

/// <summary>Hyper-parameter checks with messages naming the argument and its value (as torch.optim's).</summary>
internal static class Hyper
{
    public static float NonNegative(string name, float value) =>
        value >= 0f && float.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, $"Invalid {name}: {value} (must be finite and ≥ 0).");

    public static float Positive(string name, float value) =>
        value > 0f && float.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, $"Invalid {name}: {value} (must be finite and > 0).");

    /// <summary>0 ≤ value &lt; 1, as torch.optim requires of betas, alpha, rho and momentum decay rates.</summary>
    public static float UnitInterval(string name, float value) =>
        value >= 0f && value < 1f
            ? value
            : throw new ArgumentOutOfRangeException(name, $"Invalid {name}: {value} (must be in [0, 1)).");

    /// <summary>0 ≤ value ≤ 1.</summary>
    public static float ClosedUnitInterval(string name, float value) =>
        value >= 0f && value <= 1f
            ? value
            : throw new ArgumentOutOfRangeException(name, $"Invalid {name}: {value} (must be in [0, 1]).");
}
