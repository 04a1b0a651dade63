namespace Engine.Drift;

/// <summary>
/// Page–Hinkley test for an increase in the mean (as River's <c>PageHinkley</c>, mode "up"):
/// x̄ₜ ← x̄ₜ₋₁ + (xₜ − x̄ₜ₋₁)/t;  mₜ ← α·mₜ₋₁ + (xₜ − x̄ₜ − δ);  Mₜ = min(Mₜ₋₁, mₜ);
/// drift when t ≥ minInstances and mₜ − Mₜ &gt; λ (threshold).
/// </summary>
public sealed class PageHinkley : IDriftDetector
{
    private double mean, cumulative, minimum;
    private long count;

    public PageHinkley(double delta = 0.005, double threshold = 50, double alpha = 1 - 1e-4, int minInstances = 30)
    {
        if (!(threshold > 0)) throw new ArgumentOutOfRangeException(nameof(threshold), $"threshold must be > 0, got {threshold}.");
        if (!(alpha > 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), $"alpha must be in (0, 1], got {alpha}.");
        Delta = delta;
        Threshold = threshold;
        Alpha = alpha;
        MinInstances = minInstances;
    }

    public string Name => "Page-Hinkley";
    public double Delta { get; }
    public double Threshold { get; }
    public double Alpha { get; }
    public int MinInstances { get; }

    public bool Update(double value)
    {
        count++;
        mean += (value - mean) / count;
        cumulative = Alpha * cumulative + (value - mean - Delta);
        minimum = Math.Min(minimum, cumulative);
        if (count < MinInstances || cumulative - minimum <= Threshold) return false;
        Reset();
        return true;
    }

    public void Reset()
    {
        mean = cumulative = minimum = 0;
        count = 0;
    }

    public double[] SaveState() => new[] { mean, cumulative, minimum, count };

    public void LoadState(double[] state)
    {
        if (state.Length != 4) throw new ArgumentException($"Page-Hinkley: a saved state has 4 numbers, got {state.Length}.");
        (mean, cumulative, minimum, count) = (state[0], state[1], state[2], (long)state[3]);
    }
}
