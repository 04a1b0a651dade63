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
/// <para>
/// Under ZeRO a checkpoint may be sharded (FSDP's <c>SHARDED_STATE_DICT</c>): each rank writes its shard of the optimizer
/// state to <see cref="ShardPath"/> (<see cref="SaveOptimizerShard"/>), then rank 0 writes this file without the state
/// buffers, naming the shards in <c>__metadata__</c> (<c>optimizer_shards</c>: the rank count and the step). Loading reads
/// and checks every shard and assembles the whole state, so any rank count, or a single process, can resume from it.
/// </para>
/// </summary>
public static class Checkpoint
{
    public const string FormatVersion = "engine-checkpoint/1";

    /// <summary>The <c>format</c> of a file holding one rank's shard of the optimizer state.</summary>
    public const string ShardFormatVersion = "engine-optimizer-shard/1";
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
    /// <param name="path">the file (replaced atomically).</param>
    /// <param name="model">the model whose parameters and buffers are saved.</param>
    /// <param name="optimizer">the optimizer whose state is saved, or null.</param>
    /// <param name="schedule">the LR schedule whose state is saved, or null.</param>
    /// <param name="plateau">the plateau scheduler whose state is saved, or null.</param>
    /// <param name="progress">the caller's progress strings, or null.</param>
    /// <param name="tensors">the caller's extra tensors, or null.</param>
    /// <param name="shards">the optimizer state is sharded and every rank has written its shard at this step with
    /// <see cref="SaveOptimizerShard"/>: the file names the shards instead of holding the state buffers.</param>
    public static void Save(string path, Module model, Optimizer? optimizer = null, LrScheduler? schedule = null,
        ReduceLROnPlateau? plateau = null, IReadOnlyDictionary<string, string>? progress = null,
        IReadOnlyDictionary<string, HostTensor>? tensors = null, OptimizerShards? shards = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var all = new Dictionary<string, HostTensor>();
        foreach (var (name, t) in model.StateDict()) all[ModelPrefix + name] = t;
        var metadata = new Dictionary<string, string> { ["format"] = FormatVersion };
        if (optimizer != null)
        {
            var state = shards == null ? optimizer.GetState() : optimizer.GetCounts();
            foreach (var (name, values) in state.Buffers)
                all[OptimizerPrefix + name] = new HostTensor(new[] { values.Length }, values);
            if (shards is { } sharded)
                metadata["optimizer_shards"] = new JsonObject
                {
                    ["ranks"] = sharded.Ranks, ["step"] = sharded.Step, ["total"] = optimizer.TotalElements,
                    ["buffers"] = new JsonArray(optimizer.StateShards.Select(b => (JsonNode?)JsonValue.Create(b.Name)).ToArray()),
                }.ToJsonString(JsonOptions);
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
                var buffers = meta.TryGetValue("optimizer_shards", out var shardsJson)
                    ? AssembleShards(path, JsonNode.Parse(shardsJson)!, problems)
                    : Strip(file.Tensors, OptimizerPrefix).ToDictionary(kv => kv.Key, kv => kv.Value.Values);
                optimizerState = new OptimizerState(
                    (string)node["name"]!, (long)node["step"]!,
                    buffers,
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

    /// <summary>Where rank <paramref name="rank"/> of <paramref name="ranks"/> keeps its shard of the optimizer state saved at
    /// <paramref name="step"/> beside the checkpoint <paramref name="path"/>.</summary>
    public static string ShardPath(string path, long step, int rank, int ranks) => $"{path}.step{step}.shard{rank}-of-{ranks}";

    /// <summary>
    /// Writes this rank's shard of a ZeRO-sharded optimizer's state (its elements [start, start + length) of every state
    /// buffer, padding left out) to <see cref="ShardPath"/>, atomically and with its own SHA-256. Every rank writes its own
    /// before rank 0 writes the checkpoint that names them (<see cref="Save"/> with <c>shards</c>).
    /// </summary>
    public static void SaveOptimizerShard(string path, Optimizer optimizer, long step, int rank, int ranks)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var (start, length) = optimizer.Shard;
        long kept = Math.Max(0, Math.Min(length, optimizer.TotalElements - start));
        var tensors = new Dictionary<string, HostTensor>();
        foreach (var (name, shard) in optimizer.StateShards)
        {
            var values = FlatChunk.HostArray(kept, $"optimizer shard of rank {rank} ('{name}')");
            if (kept > 0) optimizer.Device.Kernels.Download(shard.SubView(0, kept), values);
            tensors[OptimizerPrefix + name] = new HostTensor(new[] { values.Length }, values);
        }
        var metadata = new Dictionary<string, string>
        {
            ["format"] = ShardFormatVersion, ["rank"] = rank.ToString(), ["ranks"] = ranks.ToString(), ["step"] = step.ToString(),
            ["start"] = start.ToString(), ["length"] = kept.ToString(), ["total"] = optimizer.TotalElements.ToString(),
            ["optimizer"] = optimizer.Name,
        };
        metadata["sha256"] = Digest(tensors, metadata);
        SafeTensors.Save(ShardPath(path, step, rank, ranks), tensors, metadata);
    }

    /// <summary>
    /// Deletes the shard files beside <paramref name="path"/> that its current contents do not name (older steps, other
    /// rank counts): call it once the checkpoint naming the new shards is written.
    /// </summary>
    public static void DeleteStaleShards(string path, long step, int ranks)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!, name = Path.GetFileName(path);
        var keep = Enumerable.Range(0, ranks).Select(r => Path.GetFileName(ShardPath(path, step, r, ranks))).ToHashSet();
        foreach (var file in Directory.EnumerateFiles(folder, name + ".step*.shard*-of-*"))
            if (!keep.Contains(Path.GetFileName(file))) File.Delete(file);
    }

    /// <summary>
    /// The whole state buffers from the shard files a sharded checkpoint names: each must exist, carry its own valid
    /// digest, be the shard its name says (rank, rank count, step, total) and together they must cover every element once.
    /// Adds a problem naming the shard (and its rank) for each that does not.
    /// </summary>
    private static Dictionary<string, float[]> AssembleShards(string path, JsonNode node, List<string> problems)
    {
        int ranks = (int)node["ranks"]!;
        long total = (long)node["total"]!, step = (long)node["step"]!;
        var names = node["buffers"]!.AsArray().Select(n => (string)n!).ToList();
        var buffers = names.ToDictionary(n => n, n => FlatChunk.HostArray(total, $"loading the sharded optimizer state '{n}' of {path}"));
        long covered = 0;
        for (int r = 0; r < ranks; r++)
        {
            string shardPath = ShardPath(path, step, r, ranks);
            string which = $"optimizer shard of rank {r} of {ranks} ({shardPath})";
            if (!File.Exists(shardPath))
            {
                problems.Add($"{which} is missing");
                continue;
            }
            SafeTensorsFile shard;
            try
            {
                shard = SafeTensors.Load(shardPath);
            }
            catch (Exception e) when (e is SafeTensorsFormatException or IOException)
            {
                problems.Add($"{which} does not load: {e.Message}");
                continue;
            }
            var meta = shard.Metadata;
            string Get(string key) => meta.TryGetValue(key, out var v) ? v : "missing";
            if (Get("format") != ShardFormatVersion || !meta.TryGetValue("sha256", out var digest) || digest != Digest(shard.Tensors, meta))
            {
                problems.Add($"{which} is corrupt or not a shard (format '{Get("format")}', digest mismatch or missing)");
                continue;
            }
            if (Get("rank") != r.ToString() || Get("ranks") != ranks.ToString() || Get("step") != step.ToString() || Get("total") != total.ToString())
            {
                problems.Add($"{which} says it is rank {Get("rank")} of {Get("ranks")} at step {Get("step")} over {Get("total")} elements");
                continue;
            }
            long start = long.Parse(Get("start")), length = long.Parse(Get("length"));
            if (start != covered || length < 0 || start + length > total)
            {
                problems.Add($"{which} holds [{start}, {start + length}), expected to start at {covered}");
                continue;
            }
            foreach (var bufferName in names)
            {
                if (!shard.Tensors.TryGetValue(OptimizerPrefix + bufferName, out var part) || part.Values.Length != length)
                    problems.Add($"{which} has no state buffer '{bufferName}' of {length} values");
                else part.Values.CopyTo(buffers[bufferName], (int)start); // inside a host array: fits an int
            }
            covered = start + length;
        }
        if (problems.Count == 0 && covered != total) problems.Add($"the {ranks} optimizer shards cover {covered} of {total} elements");
        return buffers;
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

/// <summary>A sharded checkpoint's optimizer shards: one file per rank of <paramref name="Ranks"/>, written at <paramref name="Step"/>.</summary>
public sealed record OptimizerShards(int Ranks, long Step);

/// <summary>What a checkpoint carried for its caller: progress strings and extra tensors.</summary>
public sealed record CheckpointContents(IReadOnlyDictionary<string, string> Progress,
    IReadOnlyDictionary<string, HostTensor> Tensors);
