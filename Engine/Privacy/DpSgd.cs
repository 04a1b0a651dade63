using Engine.Data;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Privacy;

/// <summary>
/// Differentially private training of a model, as Opacus' <c>PrivacyEngine.make_private</c> /
/// <c>make_private_with_epsilon</c> set it up: per-sample gradients on the model (<see cref="PerSampleGradients"/>), the
/// optimizer wrapped in DP-SGD's clip-and-noise step (<see cref="DpOptimizer"/>), the data loader replaced by one with
/// Poisson sampling at q = batch/N (<see cref="DataLoader.PoissonSampling"/>) and an RDP accountant
/// (<see cref="RdpAccountant"/>). Train with <see cref="Training.Trainer.Fit"/> by passing it as
/// <see cref="Training.TrainerOptions.Privacy"/>, or by hand: forward, mean loss, backward, <see cref="Step"/>,
/// <see cref="ZeroGrad"/> over <see cref="Loader"/>'s batches. Dispose it to remove the hooks.
/// </summary>
public sealed class DpSgd : IDisposable
{
    private DpSgd(Module model, DpOptimizer optimizer, DataLoader loader, double delta)
    {
        Model = model;
        Optimizer = optimizer;
        Loader = loader;
        Delta = delta;
    }

    /// <summary>
    /// Makes <paramref name="model"/>'s training with <paramref name="optimizer"/> on <paramref name="loader"/>'s dataset
    /// differentially private. Give either <paramref name="noiseMultiplier"/> σ, or <paramref name="targetEpsilon"/> with
    /// <paramref name="epochs"/>: σ is then the smallest (to 0.01 in ε) that spends at most ε at δ over
    /// epochs × batches-per-epoch steps (Opacus' <c>get_noise_multiplier</c>).
    /// </summary>
    /// <param name="model">Trainable parameters only in Linear, Conv2d, Embedding and LayerNorm layers.</param>
    /// <param name="optimizer">Any optimizer over the model's parameters.</param>
    /// <param name="loader">Its dataset and batch size (the expected batch size E); the returned <see cref="Loader"/> samples
    /// it by Poisson sampling at q = E/N with the same seed and transform.</param>
    /// <param name="noiseMultiplier">σ &gt; 0: the noise's standard deviation is σ·C.</param>
    /// <param name="targetEpsilon">ε &gt; 0 to reach after <paramref name="epochs"/> epochs.</param>
    /// <param name="epochs">≥ 1, with <paramref name="targetEpsilon"/>.</param>
    /// <param name="maxGradNorm">C &gt; 0: each sample's gradient is clipped to this norm.</param>
    /// <param name="delta">δ ∈ (0, 1), e.g. below 1/N; <see cref="GetEpsilon()"/> reports ε at it.</param>
    /// <param name="lossReduction">How the training loss combines samples (mean, as <c>Trainer.CrossEntropy</c>).</param>
    /// <param name="seed">The noise's seed (null: the next of <see cref="Generator"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException">σ ≤ 0, ε ≤ 0, δ ∉ (0, 1), C ≤ 0, epochs &lt; 1, or both / neither of σ and ε
    /// given; the message names the value.</exception>
    /// <exception cref="NotSupportedException">a layer without per-sample gradients (named).</exception>
    public static DpSgd MakePrivate(Module model, Optimizer optimizer, DataLoader loader, double? noiseMultiplier = null,
        double? targetEpsilon = null, int? epochs = null, double maxGradNorm = 1.0, double delta = 1e-5,
        LossReduction lossReduction = LossReduction.Mean, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(loader);
        RdpAccountant.CheckDelta(delta);
        CheckMaxGradNorm(maxGradNorm);
        if (noiseMultiplier.HasValue == targetEpsilon.HasValue)
            throw new ArgumentException(
                "DpSgd.MakePrivate: give either noiseMultiplier (σ) or targetEpsilon (ε, with epochs), not " +
                (noiseMultiplier.HasValue ? "both." : "neither."));
        if (loader.Shard != null) throw new NotSupportedException("DpSgd.MakePrivate: a sharded loader is not supported.");
        var poisson = new DataLoader(loader.Device, loader.Dataset, loader.BatchSize, seed: loader.Seed, transform: loader.Transform)
        {
            PoissonSampling = true,
        };
        double q = poisson.SampleRate;
        double sigma;
        if (noiseMultiplier is { } s)
        {
            CheckNoiseMultiplier(s, allowZero: false);
            sigma = s;
        }
        else
        {
            RdpAccountant.CheckEpsilon(targetEpsilon!.Value);
            if (epochs is not { } e || e < 1)
                throw new ArgumentOutOfRangeException(nameof(epochs),
                    $"DpSgd.MakePrivate: targetEpsilon needs epochs ≥ 1 (the steps it is spent over), got {epochs?.ToString() ?? "none"}.");
            sigma = RdpAccountant.GetNoiseMultiplier(targetEpsilon.Value, delta, q, (long)e * poisson.BatchCount);
        }
        var perSample = new PerSampleGradients(model, lossReduction);
        try
        {
            var dp = new DpOptimizer(optimizer, perSample, sigma, maxGradNorm, loader.BatchSize, q, seed: seed);
            return new DpSgd(model, dp, poisson, delta) { TargetEpsilon = targetEpsilon };
        }
        catch
        {
            perSample.Dispose();
            throw;
        }
    }

    public Module Model { get; }

    /// <summary>The DP-SGD step around the optimizer given.</summary>
    public DpOptimizer Optimizer { get; }

    /// <summary>The Poisson-sampling loader to train on.</summary>
    public DataLoader Loader { get; }

    /// <summary>δ given to <see cref="MakePrivate"/>.</summary>
    public double Delta { get; }

    /// <summary>ε asked for, when σ was derived from it.</summary>
    public double? TargetEpsilon { get; private init; }

    /// <summary>σ.</summary>
    public double NoiseMultiplier => Optimizer.NoiseMultiplier;

    /// <summary>C.</summary>
    public double MaxGradNorm => Optimizer.MaxGradNorm;

    /// <summary>q = expected batch / N.</summary>
    public double SampleRate => Optimizer.SampleRate;

    public RdpAccountant Accountant => Optimizer.Accountant;

    /// <summary>ε spent so far at <see cref="Delta"/>.</summary>
    public double GetEpsilon() => Accountant.GetEpsilon(Delta);

    /// <summary>ε spent so far at <paramref name="delta"/> ∈ (0, 1) (Opacus' <c>privacy_engine.get_epsilon(delta)</c>).</summary>
    public double GetEpsilon(double delta) => Accountant.GetEpsilon(delta);

    /// <summary>Clip, noise, step, account (<see cref="DpOptimizer.Step"/>).</summary>
    public void Step() => Optimizer.Step();

    public void ZeroGrad() => Optimizer.ZeroGrad();

    /// <summary>Removes the per-sample hooks from the model.</summary>
    public void Dispose() => Optimizer.PerSample.Dispose();

    internal static void CheckNoiseMultiplier(double sigma, bool allowZero)
    {
        if (!(allowZero ? sigma >= 0 : sigma > 0) || double.IsInfinity(sigma))
            throw new ArgumentOutOfRangeException(nameof(sigma),
                $"the noise multiplier σ must be {(allowZero ? "≥ 0" : "> 0")} and finite, got {sigma}.");
    }

    internal static void CheckMaxGradNorm(double c, double sigma = 1)
    {
        if (!(c > 0))
            throw new ArgumentOutOfRangeException(nameof(c), $"maxGradNorm (the clipping norm C) must be > 0, got {c}.");
        if (double.IsPositiveInfinity(c) && sigma > 0)
            throw new ArgumentOutOfRangeException(nameof(c),
                $"maxGradNorm (the clipping norm C) is ∞ with noise multiplier σ = {sigma}: the noise σC would be infinite; clip (C finite) or set σ = 0.");
    }
}
