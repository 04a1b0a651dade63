namespace Engine.Drift;

/// <summary>
/// ADWIN (adaptive windowing, Bifet &amp; Gavaldà 2007), in its exact form ADWIN0: keep the recent values; after
/// each one, for every split of the window into an older part W₀ (n₀ values) and a newer part W₁ (n₁), drop the
/// older part when |μ̂₀ − μ̂₁| ≥ ε_cut = √((1/(2m))·ln(4n/δ)), m = 1/(1/n₀ + 1/n₁). A cut is a detected change.
/// NOTE: the window is capped at <c>maxWindow</c> values (oldest dropped) so each update costs O(maxWindow); the
/// paper's exponential histograms make it logarithmic but find the same cuts up to their bucketing.
/// </summary>
public sealed class Adwin : IDriftDetector
{
    private readonly LinkedList<double> window = new();
    private double sum;

    public Adwin(double delta = 0.002, int maxWindow = 2000, int minSide = 16)
    {
        if (!(delta > 0 && delta < 1)) throw new ArgumentOutOfRangeException(nameof(delta), $"delta must be in (0, 1), got {delta}.");
        Delta = delta;
        MaxWindow = maxWindow;
        MinSide = minSide;
    }

    public string Name => "ADWIN";
    public double Delta { get; }
    public int MaxWindow { get; }

    /// <summary>Smallest sub-window compared (avoids cuts on a handful of values).</summary>
    public int MinSide { get; }

    public int Width => window.Count;

    public double Mean => window.Count == 0 ? 0 : sum / window.Count;

    public bool Update(double value)
    {
        window.AddLast(value);
        sum += value;
        if (window.Count > MaxWindow)
        {
            sum -= window.First!.Value;
            window.RemoveFirst();
        }
        bool cut = false;
        while (TryCut()) cut = true;
        return cut;
    }

    public void Reset()
    {
        window.Clear();
        sum = 0;
    }

    /// <summary>The running sum, then the window's values oldest first.</summary>
    public double[] SaveState() => window.Prepend(sum).ToArray();

    public void LoadState(double[] state)
    {
        if (state.Length < 1) throw new ArgumentException("ADWIN: a saved state holds at least the running sum.");
        window.Clear();
        foreach (double v in state.Skip(1)) window.AddLast(v);
        sum = state[0];
    }

    private bool TryCut()
    {
        int n = window.Count;
        if (n < 2 * MinSide) return false;
        double older = 0;
        int n0 = 0;
        foreach (double v in window)
        {
            older += v;
            n0++;
            int n1 = n - n0;
            if (n1 < MinSide) break;
            if (n0 < MinSide) continue;
            double mu0 = older / n0, mu1 = (sum - older) / n1;
            double m = 1.0 / (1.0 / n0 + 1.0 / n1);
            double epsilon = Math.Sqrt(1.0 / (2 * m) * Math.Log(4.0 * n / Delta));
            if (Math.Abs(mu0 - mu1) >= epsilon)
            {
                for (int i = 0; i < n0; i++)
                {
                    sum -= window.First!.Value;
                    window.RemoveFirst();
                }
                return true;
            }
        }
        return false;
    }
}
