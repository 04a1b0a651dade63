using Engine.Optim;

namespace Engine.Privacy;

/// <summary>
/// DP-SGD for <see cref="Training.OnlineTrainer"/> (<see cref="Training.OnlineTrainer.Privacy"/>): the online trainer steps
/// on one sample at a time and never stores it, so the step's gradient is that sample's own gradient, and per-sample
/// clipping is clipping the step's whole gradient (every layer type works, no per-sample hooks):
/// g̃ = g·min(1, C/(‖g‖ + 10⁻⁶)) + N(0, σ²C²·I) (expected batch 1), then the optimizer's step.
/// </summary>
/// <remarks>
/// <para>How ε is accounted depends on what the stream is, which the trainer cannot know, so it is stated here:</para>
/// <para>Without <see cref="PopulationSize"/> (the default): <b>each individual's data enters the stream once</b>. A sample then
/// takes part in exactly one step; with add/remove adjacency, removing it turns that step into a noise-only step and
/// leaves every other step's input unchanged, so its privacy loss is one Gaussian mechanism of sensitivity C and noise
/// σC (RDP α/(2σ²), q = 1, one step), however long the stream (parallel composition). Feeding the same individual's data
/// twice breaks this assumption; then state a population.</para>
/// <para>With <see cref="PopulationSize"/> N: <b>each step's sample is drawn from a population of N individuals</b>, each with
/// probability 1/N (the stream is a sampling of it, an individual may come back), so every step is the sampled Gaussian
/// mechanism at q = 1/N, composed over the steps taken (as DP-SGD at batch 1).</para>
/// </remarks>
public sealed class OnlinePrivacy
{
    private readonly int seed;

    /// <param name="noiseMultiplier">σ &gt; 0.</param>
    /// <param name="maxGradNorm">C &gt; 0.</param>
    /// <param name="populationSize">N ≥ 1 when the stream samples a population of N (see the remarks); null: each
    /// individual once.</param>
    /// <param name="seed">The noise's seed (null: the next of <see cref="Generator"/>).</param>
    public OnlinePrivacy(double noiseMultiplier, double maxGradNorm, long? populationSize = null, int? seed = null)
    {
        DpSgd.CheckNoiseMultiplier(noiseMultiplier, allowZero: false);
        DpSgd.CheckMaxGradNorm(maxGradNorm, noiseMultiplier);
        if (populationSize is < 1)
            throw new ArgumentOutOfRangeException(nameof(populationSize), $"OnlinePrivacy: populationSize must be ≥ 1, got {populationSize}.");
        NoiseMultiplier = noiseMultiplier;
        MaxGradNorm = maxGradNorm;
        PopulationSize = populationSize;
        this.seed = seed ?? Generator.NextSeed();
    }

    public double NoiseMultiplier { get; }
    public double MaxGradNorm { get; }

    /// <summary>N, when each step samples a population of N; null when each individual enters the stream once.</summary>
    public long? PopulationSize { get; }

    /// <summary>Private steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// ε at <paramref name="delta"/> under the stated assumption: one Gaussian mechanism (q = 1, one step) once a step was
    /// taken when each individual enters once, or <see cref="Steps"/> steps at q = 1/N with a population.
    /// </summary>
    public double GetEpsilon(double delta)
    {
        RdpAccountant.CheckDelta(delta);
        if (Steps == 0) return 0;
        var accountant = new RdpAccountant();
        if (PopulationSize is { } n) accountant.Step(NoiseMultiplier, 1.0 / n, Steps);
        else accountant.Step(NoiseMultiplier, 1.0, 1);
        return accountant.GetEpsilon(delta);
    }

    /// <summary>Clips the optimizer's whole gradient to C and adds N(0, σ²C²) to every element.</summary>
    internal void Privatize(Optimizer optimizer)
    {
        foreach (var p in optimizer.Parameters) p.GradTarget(); // a parameter the sample did not reach: zeros, then noise
        GradClip.ClipGradNorm(optimizer.Parameters, (float)MaxGradNorm).Dispose();
        DpOptimizer.AddNoise(optimizer, StepSeed(), (float)(NoiseMultiplier * MaxGradNorm));
        Steps++;
    }

    private uint StepSeed()
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)(Steps + 1) * 0xBF58476D1CE4E5B9UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return unchecked((uint)((z ^ (z >> 31)) >> 32));
    }
}
