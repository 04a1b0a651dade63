using Engine.Optim;

namespace Engine.Privacy;

/// <summary>
/// DP-SGD's step around any optimizer (Abadi et al. 2016, as Opacus' <c>DPOptimizer</c>):
/// <code>
/// input:  per-sample gradients gᵢ of the batch (B samples, possibly 0), clipping norm C, noise multiplier σ,
///         expected batch size E (Poisson sampling at rate q: E = q·N)
/// fᵢ  = min(1, C / (‖gᵢ‖ + 10⁻⁶))                 per-sample clip factor, ‖gᵢ‖ over all parameters
/// g̃   = (Σᵢ fᵢ·gᵢ + N(0, σ²C²·I)) / E              clipped sum, Gaussian noise, mean over the expected batch
/// θ   ← optimizer.step(θ, g̃)                       any optimizer (SGD, Adam, …) on the privatized gradient
/// accountant.step(σ, q)
/// </code>
/// Dividing by the expected batch size E, not the drawn B, is Opacus' choice: B itself depends on the data (Poisson
/// sampling), so it may not enter the released gradient. The noise is drawn from the engine's counter-based generator
/// (seeded; not a cryptographically secure source, as Opacus without <c>secure_mode</c>).
/// </summary>
public sealed class DpOptimizer
{
    private readonly int seed;

    /// <param name="optimizer">The optimizer that steps on the privatized gradient; its step-in-backward fusion is turned off.</param>
    /// <param name="perSample">The model's per-sample gradients; every parameter of <paramref name="optimizer"/> must be one of its parameters.</param>
    /// <param name="noiseMultiplier">σ ≥ 0 (0 only for experiments: no privacy, ε = ∞).</param>
    /// <param name="maxGradNorm">C &gt; 0; +∞ turns clipping off.</param>
    /// <param name="expectedBatchSize">E ≥ 1: what the clipped, noised sum is divided by.</param>
    /// <param name="sampleRate">q ∈ (0, 1]: each step's sampling probability, recorded in <paramref name="accountant"/>.</param>
    /// <param name="accountant">Where each step is recorded (null: a new one).</param>
    /// <param name="seed">The noise's seed (null: the next of <see cref="Generator"/>).</param>
    public DpOptimizer(Optimizer optimizer, PerSampleGradients perSample, double noiseMultiplier, double maxGradNorm,
        int expectedBatchSize, double sampleRate, RdpAccountant? accountant = null, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(perSample);
        DpSgd.CheckNoiseMultiplier(noiseMultiplier, allowZero: true);
        DpSgd.CheckMaxGradNorm(maxGradNorm, noiseMultiplier);
        if (expectedBatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(expectedBatchSize), $"DpOptimizer: expectedBatchSize must be ≥ 1, got {expectedBatchSize}.");
        if (!(sampleRate > 0 && sampleRate <= 1))
            throw new ArgumentOutOfRangeException(nameof(sampleRate), $"DpOptimizer: the sampling rate must be in (0, 1], got {sampleRate}.");
        var covered = new HashSet<Tensor>(perSample.Parameters, ReferenceEqualityComparer.Instance);
        for (int i = 0; i < optimizer.Parameters.Count; i++)
            if (!covered.Contains(optimizer.Parameters[i]))
                throw new ArgumentException(
                    $"DpOptimizer: the optimizer's parameter {i} (shape {Shapes.Format(optimizer.Parameters[i].Shape)}) is not a " +
                    "trainable parameter of the model whose per-sample gradients are computed; its gradient would not be clipped.");
        Optimizer = optimizer;
        PerSample = perSample;
        NoiseMultiplier = noiseMultiplier;
        MaxGradNorm = maxGradNorm;
        ExpectedBatchSize = expectedBatchSize;
        SampleRate = sampleRate;
        Accountant = accountant ?? new RdpAccountant();
        this.seed = seed ?? Generator.NextSeed();
        optimizer.StepInBackward = false; // the update must wait for the clipped, noised gradient
    }

    /// <summary>The optimizer that steps on the privatized gradient.</summary>
    public Optimizer Optimizer { get; }

    public PerSampleGradients PerSample { get; }

    /// <summary>σ: the noise's standard deviation is σ·C.</summary>
    public double NoiseMultiplier { get; }

    /// <summary>C: each sample's gradient is clipped to this L2 norm.</summary>
    public double MaxGradNorm { get; }

    /// <summary>E: the clipped, noised sum is divided by it.</summary>
    public int ExpectedBatchSize { get; }

    /// <summary>q: the sampling rate each step is accounted at.</summary>
    public double SampleRate { get; }

    public RdpAccountant Accountant { get; }

    /// <summary>Steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// Clips each sample's gradient, sums, adds noise, divides by E (the gradients then hold g̃), steps the optimizer and
    /// records the step in the accountant. An empty batch (no backward since the last step) steps on noise alone.
    /// </summary>
    public void Step()
    {
        PreStep();
        Optimizer.Step();
        Accountant.Step(NoiseMultiplier, SampleRate);
        PerSample.Clear();
        Steps++;
    }

    /// <summary>Writes g̃ into the parameters' gradients without stepping (Opacus' <c>pre_step</c>).</summary>
    public void PreStep()
    {
        using var scope = new DisposeScope();
        using var _ = Autograd.NoGrad();
        Tensor? factors = null;
        if (PerSample.BatchSize is > 0)
        {
            // fᵢ / E = min(1, C / (‖gᵢ‖ + 1e-6)) / E; C = +∞ gives 1/E.
            var norms = PerSample.SquaredNorms.Sqrt() + 1e-6f;
            factors = ((float)MaxGradNorm / norms).Clamp(0f, 1f) * (float)(1.0 / ExpectedBatchSize);
        }
        PerSample.WriteWeightedSum(factors);
        if (NoiseMultiplier == 0) return;
        // + N(0, (σC/E)²) on every gradient element, one draw over the optimizer's flat gradient buffer.
        AddNoise(Optimizer, StepSeed(), (float)(NoiseMultiplier * MaxGradNorm / ExpectedBatchSize));
    }

    /// <summary>
    /// N(0, std²) on every element of the optimizer's flat gradient buffer, in launches of at most
    /// <see cref="FlatChunk.Elements"/> (each chunk its own stream), and every gradient marked written.
    /// </summary>
    internal static void AddNoise(Optimizer optimizer, uint seed, float std)
    {
        var grads = optimizer.FlatGradients;
        uint chunk = 0;
        foreach (var (start, length) in FlatChunk.Of(grads.Length))
            optimizer.Device.Kernels.AddGaussianNoise(grads.SubView(start, length), unchecked(seed + chunk++ * 0x9E3779B9u), std);
        foreach (var p in optimizer.Parameters) p.GradWritten = true;
    }

    /// <summary>Clears the gradients and the per-sample record (Opacus' <c>zero_grad</c>).</summary>
    public void ZeroGrad()
    {
        Optimizer.ZeroGrad();
        PerSample.Clear();
    }

    /// <summary>ε spent so far at <paramref name="delta"/> (the accountant's, Opacus 1.x's conversion).</summary>
    public double GetEpsilon(double delta) => Accountant.GetEpsilon(delta);

    /// <summary>This step's noise seed: SplitMix64 of (seed, step), so no two steps share a stream.</summary>
    private uint StepSeed()
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)(Steps + 1) * 0xBF58476D1CE4E5B9UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return unchecked((uint)((z ^ (z >> 31)) >> 32));
    }
}
