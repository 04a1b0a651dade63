using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Nn;
using Engine.Optim;
using Engine.Optim.Schedules;

namespace Engine.Serialization;

/// <summary>
/// Everything needed to resume training exactly, in one safetensors file: the model's parameters
/// (<c>model.{name}</c>), the optimizer's flat state buffers (<c>optimizer.{exp_avg…}</c>) and, in
/// <c>__metadata__</c>, the optimizer's step, rates and scalars, the LR schedule and plateau state, the RNG
/// positions (dropout counters), the caller's progress (epoch, step, metrics…) and a SHA-256 of all tensor
/// values. Saving is atomic (<see cref="AtomicFile"/>): a process killed mid-save leaves the previous checkpoint.
/// Loading checks the whole file against the model, optimizer and schedules first and changes nothing unless
/// everything fits.
/// </summary>
public static class Checkpoint
{
    public const string FormatVersion = "engine-checkpoint/1";
    private const string ModelPrefix = "model.";
    private const string OptimizerPrefix = "optimizer.";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// Saves a checkpoint. <paramref name="progress"/> (strings) and <paramref name="tensors"/> (named
    /// <c>extra.{name}</c>) carry whatever else the caller needs to resume, e.g. a trainer's epoch and best weights.
    /// </summary>
    public static void Save(string path, Module model, Optimizer? optimizer = null, LrScheduler? schedule = null,
        ReduceLROnPlateau? plateau = null, IReadOnlyDictionary<string, string>? progress = null,
        IReadOnlyDictionary<string, HostTensor>? tensors = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var all = new Dictionary<string, HostTensor>();
        foreach (var (name, t) in model.StateDict()) all[ModelPrefix + name] = t;
        var metadata = new Dictionary<string, string> { ["format"] = FormatVersion };
        if (optimizer != null)
        {
            var state = optimizer.GetState();
            foreach (var (name, values) in state.Buffers)
                all[OptimizerPrefix + name] = new HostTensor(new[] { values.Length }, values);
            var json = new JsonObject
            {
                ["name"] = state.Optimizer,
                ["step"] = state.Step,
                ["steps"] = new JsonArray(state.ParameterSteps!.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray()),
                ["lrs"] = Array(state.GroupLrs.Select(l => (double)l)),
                ["scalars"] = new JsonObject(state.Scalars.Select(kv =>
                    KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
            };
            if (Momentum(optimizer) is { } m) json["momentum"] = m;
            metadata["optimizer"] = json.ToJsonString(JsonOptions);
        }
        if (schedule != null)
        {
            var (lastEpoch, lrs) = schedule.SaveState();
            metadata["schedule"] = new JsonObject
            {
                ["type"] = schedule.GetType().Name, ["last_epoch"] = lastEpoch, ["lrs"] = Array(lrs),
            }.ToJsonString(JsonOptions);
        }
        if (plateau != null) metadata["plateau"] = Array(plateau.SaveState()).ToJsonString(JsonOptions);
        metadata["rng"] = new JsonObject { ["dropout"] = Array(Dropouts(model).Select(d => (double)d.Calls)) }
            .ToJsonString(JsonOptions);
        if (progress != null)
            foreach (var (key, value) in progress) metadata["progress." + key] = value;
        if (tensors != null)
            foreach (var (name, t) in tensors) all["extra." + name] = t;
        metadata["sha256"] = Digest(all, metadata);
        SafeTensors.Save(path, all, metadata);
    }

    /// <summary>
    /// Loads a checkpoint into the model and, when given, the optimizer and schedules. Checks the format, the
    /// digest, every name and shape first; throws listing every problem and leaves everything unchanged then.
    /// </summary>
    /// <returns>The caller's progress strings and extra tensors, as saved.</returns>
    public static CheckpointContents Load(string path, Module model, Optimizer? optimizer = null,
        LrScheduler? schedule = null, ReduceLROnPlateau? plateau = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var file = SafeTensors.Load(path);
        var meta = file.Metadata;
        if (!meta.TryGetValue("format", out var format) || format != FormatVersion)
            throw new SafeTensorsFormatException(path,
                $"not a checkpoint of this engine (__metadata__ format is '{format ?? "missing"}', expected '{FormatVersion}')");
        if (!meta.TryGetValue("sha256", out var digest) || digest != Digest(file.Tensors, meta))
            throw new SafeTensorsFormatException(path, "its contents do not match the checkpoint's SHA-256 (corrupt file)");

        var problems = new List<string>();
        var modelState = Strip(file.Tensors, ModelPrefix);
        problems.AddRange(model.CheckStateDict(modelState, strict: true, source: path).Select(p => "model: " + p));

        OptimizerState? optimizerState = null;
        float? momentum = null;
        if (optimizer != null)
        {
            if (!meta.TryGetValue("optimizer", out var json))
            {
                problems.Add("the checkpoint has no optimizer state");
            }
            else
            {
                var node = JsonNode.Parse(json)!;
                optimizerState = new OptimizerState(
                    (string)node["name"]!, (long)node["step"]!,
                    Strip(file.Tensors, OptimizerPrefix).ToDictionary(kv => kv.Key, kv => kv.Value.Values),
                    Doubles(node["lrs"]).Select(d => (float)d).ToList(),
                    node["scalars"]!.AsObject().ToDictionary(kv => kv.Key, kv => Number(kv.Value)))
                {
                    // PyTorch's per-parameter step counts; a checkpoint from before them has the one "step".
                    ParameterSteps = node["steps"] is JsonArray steps ? steps.Select(t => (long)Number(t)).ToArray() : null,
                };
                problems.AddRange(optimizer.CheckState(optimizerState).Select(p => "optimizer: " + p));
                if (node["momentum"] is { } m) momentum = (float)Number(m);
            }
        }
        (int LastEpoch, double[] Lrs)? scheduleState = null;
        if (schedule != null)
        {
            if (!meta.TryGetValue("schedule", out var json))
            {
                problems.Add("the checkpoint has no LR schedule state");
            }
            else
            {
                var node = JsonNode.Parse(json)!;
                if ((string?)node["type"] != schedule.GetType().Name)
                    problems.Add($"schedule: saved from {(string?)node["type"]}, loading into {schedule.GetType().Name}");
                scheduleState = ((int)node["last_epoch"]!, Doubles(node["lrs"]));
                if (scheduleState.Value.Lrs.Length != schedule.LastLr.Count)
                    problems.Add($"schedule: {scheduleState.Value.Lrs.Length} groups saved, {schedule.LastLr.Count} here");
            }
        }
        double[]? plateauState = null;
        if (plateau != null)
        {
            if (!meta.TryGetValue("plateau", out var json)) problems.Add("the checkpoint has no ReduceLROnPlateau state");
            else plateauState = Doubles(JsonNode.Parse(json));
        }
        var dropouts = Dropouts(model);
        var calls = meta.TryGetValue("rng", out var rng) ? Doubles(JsonNode.Parse(rng)!["dropout"]) : System.Array.Empty<double>();
        if (calls.Length != dropouts.Count)
            problems.Add($"rng: {calls.Length} dropout layers saved, the model has {dropouts.Count}");
        if (problems.Count > 0)
            throw new ArgumentException(
                $"Checkpoint {path} does not fit: {string.Join("; ", problems)}. Nothing was loaded.");

        model.LoadStateDict(modelState, strict: true, source: path);
        if (optimizer != null)
        {
            optimizer.LoadState(optimizerState!);
            if (momentum is float mu) SetMomentum(optimizer, mu);
        }
        if (schedule != null) schedule.LoadState(scheduleState!.Value.LastEpoch, scheduleState.Value.Lrs);
        if (plateau != null) plateau.LoadState(plateauState!);
        for (int i = 0; i < dropouts.Count; i++) dropouts[i].Calls = (uint)calls[i];

        var progress = meta.Where(kv => kv.Key.StartsWith("progress.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["progress.".Length..], kv => kv.Value);
        return new CheckpointContents(progress, Strip(file.Tensors, "extra."));
    }

    /// <summary>
    /// SHA-256 over every metadata entry but the digest itself, then every tensor's name, shape and float32
    /// values, both in ordinal name order.
    /// </summary>
    private static string Digest(IReadOnlyDictionary<string, HostTensor> tensors,
        IReadOnlyDictionary<string, string> metadata)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var key in metadata.Keys.Where(k => k != "sha256").OrderBy(k => k, StringComparer.Ordinal))
            hash.AppendData(Encoding.UTF8.GetBytes($"{key.Length}:{key}{metadata[key].Length}:{metadata[key]}"));
        foreach (var name in tensors.Keys.OrderBy(n => n, StringComparer.Ordinal))
        {
            var t = tensors[name];
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}[{string.Join(",", t.Shape)}]"));
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Values.AsSpan()));
        }
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    private static Dictionary<string, HostTensor> Strip(IReadOnlyDictionary<string, HostTensor> tensors, string prefix) =>
        tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);

    private static List<Dropout> Dropouts(Module module)
    {
        var found = new List<Dropout>();
        void Visit(Module m)
        {
            if (m is Dropout d) found.Add(d);
            foreach (var (_, child) in m.Children) Visit(child);
        }
        Visit(module);
        return found;
    }

    private static float? Momentum(Optimizer optimizer) => optimizer switch
    {
        Sgd sgd => sgd.Momentum,
        AdaptiveMomentOptimizer adam => adam.Beta1,
        _ => null,
    };

    private static void SetMomentum(Optimizer optimizer, float value)
    {
        if (optimizer is Sgd sgd) sgd.Momentum = value;
        else if (optimizer is AdaptiveMomentOptimizer adam) adam.Beta1 = value;
    }

    private static JsonArray Array(IEnumerable<double> values) =>
        new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    private static double Number(JsonNode? node) => node!.GetValueKind() == JsonValueKind.String
        ? double.Parse((string)node!, System.Globalization.CultureInfo.InvariantCulture)
        : (double)node!;

    private static double[] Doubles(JsonNode? node) => node!.AsArray().Select(Number).ToArray();
}

/// <summary>What a checkpoint carried for its caller: progress strings and extra tensors.</summary>
public sealed record CheckpointContents(IReadOnlyDictionary<string, string> Progress,
    IReadOnlyDictionary<string, HostTensor> Tensors);
