using Engine.Serialization;

namespace Engine.Nn;

public abstract partial class Module
{
    /// <summary>
    /// Every parameter and buffer copied to the host under its PyTorch name (<c>torch.nn.Module.state_dict()</c>);
    /// Linear weights are <c>[out, in]</c> as PyTorch stores them, counters (BatchNorm's <c>num_batches_tracked</c>)
    /// are int64 scalars. A tied tensor is saved under each of its names, as PyTorch saves it.
    /// </summary>
    public Dictionary<string, HostTensor> StateDict()
    {
        var state = NamedTensors(removeDuplicate: false).ToDictionary(p => p.Name, p => HostTensor.From(p.Tensor));
        foreach (var (name, get, _) in NamedCounters())
            state[name] = new HostTensor(Array.Empty<int>(), new float[] { get() }, SafeTensorsDType.I64);
        return state;
    }

    /// <summary>
    /// Copies <paramref name="state"/> into the parameters (<c>load_state_dict</c>). Every name and shape is checked
    /// first and all problems are reported together; on any problem nothing is changed. With
    /// <paramref name="strict"/> false, missing and unexpected names are allowed (shape mismatches never are).
    /// </summary>
    /// <exception cref="ArgumentException">missing or unexpected names, or shape mismatches, all listed.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, HostTensor> state, bool strict = true) =>
        LoadStateDict(state, strict, source: "state dict");

    /// <summary>Writes the parameters to a safetensors file (atomically) that <c>load_state_dict</c> accepts in PyTorch.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Save(path, StateDict(), metadata);

    /// <summary>Loads parameters from a safetensors file (F32, F16, BF16 or F64), e.g. one saved by PyTorch.</summary>
    /// <exception cref="SafeTensorsFormatException">the file is corrupt or not safetensors.</exception>
    /// <exception cref="ArgumentException">names or shapes do not match this model; nothing is loaded.</exception>
    public void Load(string path, bool strict = true)
    {
        var file = SafeTensors.Load(path);
        LoadStateDict(file.Tensors, strict, source: path);
    }

    internal void LoadStateDict(IReadOnlyDictionary<string, HostTensor> state, bool strict, string source)
    {
        ArgumentNullException.ThrowIfNull(state);
        var problems = CheckStateDict(state, strict, source);
        if (problems.Count > 0)
            throw new ArgumentException(
                $"{GetType().Name}.LoadStateDict from {source}: {problems.Count} problem(s): " +
                string.Join("; ", problems) + ". Nothing was loaded.");
        using (Autograd.NoGrad())
        {
            foreach (var (name, tensor) in NamedTensors(removeDuplicate: false))
                if (state.TryGetValue(name, out var saved)) tensor.CopyFrom(saved.Values);
            foreach (var (name, _, set) in NamedCounters())
                if (state.TryGetValue(name, out var saved)) set((long)saved.Values[0]);
        }
    }

    /// <summary>Every missing or unexpected name and every shape mismatch (empty when the state fits).</summary>
    internal List<string> CheckStateDict(IReadOnlyDictionary<string, HostTensor> state, bool strict, string source)
    {
        var parameters = NamedTensors(removeDuplicate: false).Select(p => (p.Name, p.Tensor.Shape, p.Tensor.Numel))
            .Concat(NamedCounters().Select(c => (c.Name, Shape: Array.Empty<int>(), Numel: 1))).ToList();
        var problems = new List<string>();
        var known = parameters.Select(p => p.Name).ToHashSet();
        foreach (var (name, shape, numel) in parameters)
        {
            if (!state.TryGetValue(name, out var saved))
            {
                if (strict) problems.Add($"missing '{name}' (shape {Shapes.Format(shape)})");
                continue;
            }
            if (!saved.Shape.SequenceEqual(shape))
                problems.Add($"'{name}' has shape {Shapes.Format(saved.Shape)} in the {KindOf(source)}, " +
                             $"{Shapes.Format(shape)} in the model");
            else if (saved.Values.Length != numel)
                problems.Add($"'{name}' has {saved.Values.Length} values for shape {Shapes.Format(saved.Shape)}");
        }
        if (strict)
        {
            foreach (var name in state.Keys.Where(n => !known.Contains(n)).OrderBy(n => n, StringComparer.Ordinal))
                problems.Add($"unexpected '{name}' (shape {Shapes.Format(state[name].Shape)})");
        }
        return problems;
    }

    private static string KindOf(string source) => source == "state dict" ? "state dict" : "file";
}
