namespace Engine.Serialization;

/// <summary>The contents of a safetensors file: tensors by name (values as float32) and the <c>__metadata__</c> strings.</summary>
public sealed class SafeTensorsFile
{
    internal SafeTensorsFile(string source, IReadOnlyDictionary<string, HostTensor> tensors,
        IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The path it was read from.</summary>
    public string Source { get; }

    public IReadOnlyDictionary<string, HostTensor> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }
}
