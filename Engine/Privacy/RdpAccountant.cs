namespace Engine.Privacy;

/// <summary>
/// Rényi-DP accountant for the sampled Gaussian mechanism, as Opacus 1.x's <c>RDPAccountant</c> (itself TF Privacy's
/// <c>rdp_accountant.py</c>): each DP-SGD step draws every sample independently with probability q (Poisson sampling),
/// clips per-sample gradients to norm C and adds N(0, σ²C²). Mironov, Talwar and Zhang 2019 ("Rényi Differential Privacy
/// of the Sampled Gaussian Mechanism") give its RDP of order α as log(A_α)/(α − 1) with, for μ₀ = N(0, σ²) and
/// μ = (1 − q)·N(0, σ²) + q·N(1, σ²), A_α = E_{z∼μ₀}[(μ(z)/μ₀(z))^α]:
/// <list type="bullet">
/// <item>integer α: A_α = Σ_{i=0}^{α} C(α, i)·(1 − q)^{α−i}·q^i·exp((i² − i)/(2σ²)), summed in log space;</item>
/// <item>fractional α: A_α = A₀ + A₁ with z₀ = σ²·log(1/q − 1) + ½,
/// A₀ = Σ_i C(α, i)·q^i·(1 − q)^{α−i}·exp((i² − i)/(2σ²))·½·erfc((i − z₀)/(√2·σ)),
/// A₁ = Σ_i C(α, i)·q^{α−i}·(1 − q)^i·exp(((α−i)² − (α−i))/(2σ²))·½·erfc((z₀ − (α−i))/(√2·σ)),
/// the series summed (signed terms, C(α, i) changes sign past i &gt; α) until both terms fall under e⁻³⁰;</item>
/// <item>q = 1: α/(2σ²) (the plain Gaussian mechanism); q = 0: 0.</item>
/// </list>
/// RDP composes by addition over steps. The conversion to (ε, δ) is Opacus 1.x's (Balle, Barthe, Gaboardi, Hsu and
/// Sato 2020, Prop. 12; TF Privacy's <c>_compute_eps</c> since 2020):
/// ε = min_α RDP(α) − (log δ + log α)/(α − 1) + log((α − 1)/α). <see cref="Conversion.Classic"/> offers the older
/// ε = min_α RDP(α) − log δ/(α − 1) (Mironov 2017, Prop. 3; Opacus 0.x and the TF Privacy tutorials' figures), which
/// is never smaller. The orders are Opacus' <c>DEFAULT_ALPHAS</c>: 1.1, 1.2, …, 10.9 and 12, 13, …, 63.
/// </summary>
public sealed class RdpAccountant
{
    /// <summary>How RDP turns into (ε, δ).</summary>
    public enum Conversion
    {
        /// <summary>ε = RDP − (log δ + log α)/(α − 1) + log((α − 1)/α): Opacus ≥ 1.0 (the default).</summary>
        Opacus,

        /// <summary>ε = RDP − log δ/(α − 1): Mironov 2017; Opacus 0.x and the published TF Privacy tutorial figures.</summary>
        Classic,
    }

    /// <summary>Opacus' <c>RDPAccountant.DEFAULT_ALPHAS</c>: [1 + x/10 for x in 1..99] + [12..63].</summary>
    public static IReadOnlyList<double> DefaultOrders { get; } =
        Enumerable.Range(1, 99).Select(x => 1 + x / 10.0).Concat(Enumerable.Range(12, 52).Select(a => (double)a)).ToArray();

    /// <summary>The largest σ <see cref="GetNoiseMultiplier"/> tries before it calls the budget too low (Opacus' MAX_SIGMA).</summary>
    public const double MaxSigma = 1e6;

    private readonly List<(double Sigma, double SampleRate, long Steps)> history = new();

    /// <summary>The steps taken, run-length encoded: (σ, q, number of steps), as Opacus' <c>accountant.history</c>.</summary>
    public IReadOnlyList<(double Sigma, double SampleRate, long Steps)> History => history;

    /// <summary>All steps recorded.</summary>
    public long Steps => history.Sum(h => h.Steps);

    /// <summary>Records <paramref name="steps"/> steps of noise multiplier σ at sampling rate q (Opacus' <c>step</c>).</summary>
    public void Step(double noiseMultiplier, double sampleRate, long steps = 1)
    {
        CheckSigma(noiseMultiplier, allowZero: true);
        CheckSampleRate(sampleRate);
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), $"RdpAccountant: steps must be ≥ 0, got {steps}.");
        if (steps == 0) return;
        if (history.Count > 0 && history[^1].Sigma == noiseMultiplier && history[^1].SampleRate == sampleRate)
            history[^1] = (noiseMultiplier, sampleRate, history[^1].Steps + steps);
        else history.Add((noiseMultiplier, sampleRate, steps));
    }

    /// <summary>ε spent so far for <paramref name="delta"/> ∈ (0, 1), at the best of <paramref name="orders"/> (default <see cref="DefaultOrders"/>).</summary>
    public double GetEpsilon(double delta, IReadOnlyList<double>? orders = null, Conversion conversion = Conversion.Opacus) =>
        GetPrivacySpent(delta, orders, conversion).Epsilon;

    /// <summary>(ε, best α) spent so far, as Opacus' <c>get_privacy_spent</c>; ε = 0 before any step, +∞ if σ = 0 was used.</summary>
    public (double Epsilon, double BestOrder) GetPrivacySpent(double delta, IReadOnlyList<double>? orders = null,
        Conversion conversion = Conversion.Opacus)
    {
        CheckDelta(delta);
        orders ??= DefaultOrders;
        var rdp = new double[orders.Count];
        foreach (var (sigma, q, steps) in history)
            for (int i = 0; i < orders.Count; i++) rdp[i] += steps * Rdp(q, sigma, orders[i]);
        if (history.Count == 0) return (0, double.NaN);
        return PrivacySpent(orders, rdp, delta, conversion);
    }

    /// <summary>
    /// The RDP of one step of the sampled Gaussian mechanism at order α &gt; 1 (TF Privacy's <c>_compute_rdp</c>).
    /// </summary>
    public static double Rdp(double sampleRate, double noiseMultiplier, double order)
    {
        CheckSampleRate(sampleRate);
        CheckSigma(noiseMultiplier, allowZero: true);
        if (!(order > 1))
            throw new ArgumentOutOfRangeException(nameof(order), $"RdpAccountant: an RDP order must be > 1, got {order}.");
        if (sampleRate == 0) return 0;
        if (noiseMultiplier == 0 || double.IsPositiveInfinity(order)) return double.PositiveInfinity;
        if (sampleRate == 1) return order / (2 * noiseMultiplier * noiseMultiplier);
        double logA = order == Math.Floor(order) && order < int.MaxValue
            ? LogAIntegerOrder(sampleRate, noiseMultiplier, (int)order)
            : LogAFractionalOrder(sampleRate, noiseMultiplier, order);
        return logA / (order - 1);
    }

    /// <summary>(ε, α) from RDP values at each order (Opacus' <c>get_privacy_spent</c>); NaN orders are skipped.</summary>
    public static (double Epsilon, double BestOrder) PrivacySpent(IReadOnlyList<double> orders, IReadOnlyList<double> rdp,
        double delta, Conversion conversion = Conversion.Opacus)
    {
        CheckDelta(delta);
        if (orders.Count != rdp.Count)
            throw new ArgumentException($"RdpAccountant: {orders.Count} orders but {rdp.Count} RDP values.");
        double best = double.PositiveInfinity, bestOrder = double.NaN;
        for (int i = 0; i < orders.Count; i++)
        {
            double a = orders[i];
            double eps = conversion == Conversion.Opacus
                ? rdp[i] - (Math.Log(delta) + Math.Log(a)) / (a - 1) + Math.Log((a - 1) / a)
                : rdp[i] - Math.Log(delta) / (a - 1);
            if (eps < best) (best, bestOrder) = (eps, a);
        }
        // NOTE: Opacus 1.x returns this bound as is; it can dip below 0 for tiny RDP, and ε ≥ 0 always holds.
        return (Math.Max(best, 0), bestOrder);
    }

    /// <summary>
    /// The smallest σ (within <paramref name="epsilonTolerance"/> in ε) for which <paramref name="steps"/> steps at sampling
    /// rate q spend at most <paramref name="targetEpsilon"/> at <paramref name="delta"/>: Opacus' <c>get_noise_multiplier</c>
    /// (double σ from 10 until ε ≤ target, then bisect [0, σ_high] until target − ε ≤ tolerance; returns σ_high).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">ε ≤ 0, δ ∉ (0, 1), q ∉ (0, 1], steps &lt; 1.</exception>
    /// <exception cref="ArgumentException">the budget is too low: even σ = 10⁶ spends more than the target.</exception>
    public static double GetNoiseMultiplier(double targetEpsilon, double delta, double sampleRate, long steps,
        double epsilonTolerance = 0.01, IReadOnlyList<double>? orders = null)
    {
        CheckEpsilon(targetEpsilon);
        CheckDelta(delta);
        CheckSampleRate(sampleRate);
        if (sampleRate == 0)
            throw new ArgumentOutOfRangeException(nameof(sampleRate), "GetNoiseMultiplier: the sampling rate must be > 0, got 0.");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"GetNoiseMultiplier: steps must be ≥ 1, got {steps}.");
        if (!(epsilonTolerance > 0))
            throw new ArgumentOutOfRangeException(nameof(epsilonTolerance), $"GetNoiseMultiplier: the tolerance must be > 0, got {epsilonTolerance}.");
        double Eps(double sigma)
        {
            var a = new RdpAccountant();
            a.Step(sigma, sampleRate, steps);
            return a.GetEpsilon(delta, orders);
        }
        double low = 0, high = 10, epsHigh = double.PositiveInfinity;
        while (epsHigh > targetEpsilon)
        {
            high *= 2;
            epsHigh = Eps(high);
            if (high > MaxSigma)
                throw new ArgumentException(
                    $"GetNoiseMultiplier: the privacy budget is too low: ε = {targetEpsilon} at δ = {delta} over {steps} steps " +
                    $"at sampling rate {sampleRate} needs σ > {MaxSigma}.", nameof(targetEpsilon));
        }
        while (targetEpsilon - epsHigh > epsilonTolerance)
        {
            double sigma = (low + high) / 2;
            double eps = Eps(sigma);
            if (eps < targetEpsilon) (high, epsHigh) = (sigma, eps);
            else low = sigma;
        }
        return high;
    }

    /// <summary>log A_α for integer α: log Σ_i C(α, i)(1 − q)^{α−i} q^i exp((i² − i)/(2σ²)), in log space.</summary>
    private static double LogAIntegerOrder(double q, double sigma, int alpha)
    {
        double logA = double.NegativeInfinity, logQ = Math.Log(q), log1mQ = Math.Log(1 - q);
        for (int i = 0; i <= alpha; i++)
        {
            double term = LogBinomial(alpha, i) + i * logQ + (alpha - i) * log1mQ + (i * (double)i - i) / (2 * sigma * sigma);
            logA = LogAdd(logA, term);
        }
        return logA;
    }

    /// <summary>log A_α for fractional α: the two erfc-weighted series of the class summary, in log space.</summary>
    private static double LogAFractionalOrder(double q, double sigma, double alpha)
    {
        double logA0 = double.NegativeInfinity, logA1 = double.NegativeInfinity;
        double z0 = sigma * sigma * Math.Log(1 / q - 1) + 0.5, logQ = Math.Log(q), log1mQ = Math.Log(1 - q);
        double twoSigmaSq = 2 * sigma * sigma, sqrt2Sigma = Math.Sqrt(2) * sigma;
        for (int i = 0; ; i++)
        {
            var (logCoef, sign) = LogAbsGeneralizedBinomial(alpha, i);
            double j = alpha - i;
            double logT0 = logCoef + i * logQ + j * log1mQ;
            double logT1 = logCoef + j * logQ + i * log1mQ;
            double logE0 = Math.Log(0.5) + LogErfc((i - z0) / sqrt2Sigma);
            double logE1 = Math.Log(0.5) + LogErfc((z0 - j) / sqrt2Sigma);
            double logS0 = logT0 + (i * (double)i - i) / twoSigmaSq + logE0;
            double logS1 = logT1 + (j * j - j) / twoSigmaSq + logE1;
            if (sign > 0)
            {
                logA0 = LogAdd(logA0, logS0);
                logA1 = LogAdd(logA1, logS1);
            }
            else
            {
                logA0 = LogSub(logA0, logS0);
                logA1 = LogSub(logA1, logS1);
            }
            if (Math.Max(logS0, logS1) < -30) break;
            if (i > 100_000) throw new InvalidOperationException($"RdpAccountant: the series for α = {alpha} did not converge.");
        }
        return LogAdd(logA0, logA1);
    }

    /// <summary>log(eˣ + eʸ) without overflow.</summary>
    internal static double LogAdd(double x, double y)
    {
        double a = Math.Min(x, y), b = Math.Max(x, y);
        if (double.IsNegativeInfinity(a)) return b;
        return Math.Log(1 + Math.Exp(a - b)) + b;
    }

    /// <summary>log(eˣ − eʸ) for x ≥ y; −∞ when equal.</summary>
    internal static double LogSub(double x, double y)
    {
        if (x < y) throw new InvalidOperationException("RdpAccountant: log-space subtraction of a larger number (an accountant bug).");
        if (double.IsNegativeInfinity(y)) return x;
        if (x == y) return double.NegativeInfinity;
        double d = Math.Exp(x - y) - 1;
        return double.IsInfinity(d) ? x : Math.Log(d) + y;
    }

    /// <summary>log C(n, k) for integers, through log-gamma.</summary>
    private static double LogBinomial(int n, int k) => LogGamma(n + 1) - LogGamma(k + 1) - LogGamma(n - k + 1);

    /// <summary>log |C(α, i)| and its sign for real α and integer i ≥ 0: C(α, i) = Π_{m&lt;i} (α − m)/(m + 1).</summary>
    private static (double Log, int Sign) LogAbsGeneralizedBinomial(double alpha, int i)
    {
        double log = 0;
        int sign = 1;
        for (int m = 0; m < i; m++)
        {
            double f = (alpha - m) / (m + 1);
            if (f < 0) sign = -sign;
            log += Math.Log(Math.Abs(f));
        }
        return (log, sign);
    }

    /// <summary>log Γ(x) for x &gt; 0 (Lanczos, g = 7, n = 9; about 15 digits).</summary>
    internal static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        double a = Lanczos[0], t = x + 7.5;
        for (int i = 1; i < 9; i++) a += Lanczos[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }

    private static readonly double[] Lanczos =
    {
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    };

    /// <summary>
    /// log erfc(x) to about 14 digits over the whole line: for x &lt; 3 from erf's everywhere-positive series
    /// erf(x) = (2/√π)·e^{−x²}·Σ_n 2ⁿx^{2n+1}/(1·3·…·(2n+1)); for x ≥ 3 from the continued fraction
    /// erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) with the e^{−x²} kept in log space.
    /// </summary>
    internal static double LogErfc(double x)
    {
        if (x < 3)
        {
            if (x < 0) return Math.Log(2 - Math.Exp(LogErfc(-x)));
            double term = x, sum = x, x2 = x * x;
            for (int n = 1; n < 500 && term > 1e-17 * sum; n++)
            {
                term *= 2 * x2 / (2 * n + 1);
                sum += term;
            }
            double erf = 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
            return Math.Log(1 - erf);
        }
        // Modified Lentz for the continued fraction K = x + (1/2)/(x + (2/2)/(x + (3/2)/(x + …))).
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int k = 1; k < 1000; k++)
        {
            double ak = k / 2.0;
            d = x + ak * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = x + ak / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return -x * x - 0.5 * Math.Log(Math.PI) - Math.Log(f);
    }

    internal static void CheckDelta(double delta)
    {
        if (!(delta > 0 && delta < 1))
            throw new ArgumentOutOfRangeException(nameof(delta), $"δ (delta) must be in (0, 1), got {delta}.");
    }

    internal static void CheckEpsilon(double epsilon)
    {
        if (!(epsilon > 0) || double.IsNaN(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), $"ε (epsilon) must be > 0, got {epsilon}.");
    }

    internal static void CheckSampleRate(double q)
    {
        if (!(q >= 0 && q <= 1))
            throw new ArgumentOutOfRangeException(nameof(q), $"the sampling rate q must be in [0, 1], got {q}.");
    }

    internal static void CheckSigma(double sigma, bool allowZero)
    {
        if (!(allowZero ? sigma >= 0 : sigma > 0) || double.IsInfinity(sigma))
            throw new ArgumentOutOfRangeException(nameof(sigma),
                $"the noise multiplier σ must be {(allowZero ? "≥ 0" : "> 0")} and finite, got {sigma}.");
    }
}
