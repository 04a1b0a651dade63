using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;

namespace Engine.Training;

/// <summary>
/// Where a <see cref="Trainer.Fit"/> run is — epoch, batch within it, the epoch's running sums, early-stopping
/// state, history — and its checkpoint form (JSON in the checkpoint's progress, best weights as extra tensors).
/// </summary>
internal sealed class TrainerRun
{
    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The epoch in progress or next to start (1-based).</summary>
    public int Epoch { get; set; } = 1;

    /// <summary>Batches of <see cref="Epoch"/> already done (0 when it has not started).</summary>
    public int StepInEpoch { get; set; }

    public long GlobalStep { get; set; }
    public double LossSum { get; set; }
    public long Rows { get; set; }
    public long Hits { get; set; }
    public double EpochSeconds { get; set; }
    public double Best { get; set; } = double.PositiveInfinity;
    public int SinceBest { get; set; }
    public bool Finished { get; set; }

    [JsonIgnore] public History History { get; private set; } = new();
    [JsonIgnore] public Dictionary<string, float[]>? BestWeights { get; set; }

    public List<EpochRecord> Epochs { get => History.Epochs; set { History.Epochs.Clear(); History.Epochs.AddRange(value); } }
    public bool StoppedEarly { get => History.StoppedEarly; set => History.StoppedEarly = value; }
    public int? BestEpoch { get => History.BestEpoch; set => History.BestEpoch = value; }
    public long SkippedSteps { get => History.SkippedSteps; set => History.SkippedSteps = value; }

    public void StartEpoch(int epoch)
    {
        Epoch = epoch;
        StepInEpoch = 0;
        LossSum = 0;
        Rows = 0;
        Hits = 0;
        EpochSeconds = 0;
    }

    public void Save(string path, Module model, Optimizer optimizer, TrainerOptions options, OptimizerShards? shards = null)
    {
        var tensors = BestWeights?.ToDictionary(kv => "best." + kv.Key,
            kv => new HostTensor(model.NamedTensors().First(p => p.Name == kv.Key).Tensor.Shape, kv.Value));
        Checkpoint.Save(path, model, optimizer, options.Schedule, options.Plateau,
            new Dictionary<string, string> { ["trainer"] = JsonSerializer.Serialize(this, Json) }, tensors, shards);
    }

    public static TrainerRun Resume(string path, Module model, Optimizer optimizer, TrainerOptions options)
    {
        var contents = Checkpoint.Load(path, model, optimizer, options.Schedule, options.Plateau);
        if (!contents.Progress.TryGetValue("trainer", out var json))
            throw new InvalidDataException($"{path}: a checkpoint without Trainer progress (saved by another loop?).");
        var run = JsonSerializer.Deserialize<TrainerRun>(json, Json)
                  ?? throw new InvalidDataException($"{path}: empty Trainer progress.");
        var best = contents.Tensors.Where(kv => kv.Key.StartsWith("best.", StringComparison.Ordinal)).ToList();
        if (best.Count > 0) run.BestWeights = best.ToDictionary(kv => kv.Key["best.".Length..], kv => kv.Value.Values);
        return run;
    }
}
