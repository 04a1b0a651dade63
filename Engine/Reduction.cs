namespace Engine;

/// <summary>How a loss combines its per-element (or per-row) terms, as PyTorch's <c>reduction</c>.</summary>
public enum Reduction
{
    Mean,
    Sum,
}
