namespace Engine.Drift;

/// <summary>A change detector fed one value (e.g. a sample's loss) at a time.</summary>
public interface IDriftDetector
{
    string Name { get; }

    /// <summary>Adds a value; true when a change is detected (the detector then restarts itself).</summary>
    bool Update(double value);

    void Reset();

    /// <summary>The detector's state as numbers, for checkpoints (none by default).</summary>
    double[] SaveState() => Array.Empty<double>();

    /// <summary>Restores <see cref="SaveState"/>'s numbers.</summary>
    void LoadState(double[] state)
    {
    }
}
