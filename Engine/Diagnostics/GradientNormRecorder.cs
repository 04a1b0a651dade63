using Engine.Nn;
using Engine.Training;

namespace Engine.Diagnostics;

/// <summary>One measurement of <see cref="GradientNormRecorder"/>.</summary>
public sealed record GradientNormRecord(int Epoch, int Step, long GlobalStep, GradientNormReport Norms);

/// <summary>
/// A training callback that records the model's gradient norms after every backward pass (or every
/// <c>everySteps</c>-th): pass <see cref="Record"/> as <see cref="TrainerOptions.OnAfterBackward"/>. Each
/// measurement costs P small reduction kernels and one read of P floats (<see cref="GradientNorms.Measure"/>).
/// </summary>
public sealed class GradientNormRecorder
{
    private readonly Module model;
    private readonly List<GradientNormRecord> records = new();
    private long seen;

    public GradientNormRecorder(Module model, int everySteps = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (everySteps < 1)
            throw new ArgumentOutOfRangeException(nameof(everySteps), $"GradientNormRecorder: everySteps must be ≥ 1, got {everySteps}.");
        this.model = model;
        EverySteps = everySteps;
    }

    public int EverySteps { get; }

    public IReadOnlyList<GradientNormRecord> Records => records;

    /// <summary>The layer names in model order (as the reports list them).</summary>
    public IReadOnlyList<string> Layers =>
        model.NamedParameters().Select(p => GradientNorms.LayerOf(p.Name)).Distinct().ToList();

    /// <summary>Measures now if this is a recorded step; the signature of <see cref="TrainerOptions.OnAfterBackward"/>.</summary>
    public void Record(TrainingProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        if (seen++ % EverySteps != 0) return;
        records.Add(new GradientNormRecord(progress.Epoch, progress.Step, seen, GradientNorms.Measure(model)));
    }

    /// <summary>The mean norm of each layer over the records (from <paramref name="fromRecord"/> on), in model order.</summary>
    public IReadOnlyList<GradientNorm> MeanLayerNorms(int fromRecord = 0)
    {
        var used = records.Skip(fromRecord).ToList();
        return Layers.Select(layer => new GradientNorm(layer,
            used.Count == 0 ? 0 : used.Average(r => r.Norms.Layers.First(l => l.Name == layer).Norm))).ToList();
    }
}
