namespace Engine;

/// <summary>
/// Disposes, when it ends, every tensor created on this thread while it was the innermost scope (as
/// TorchSharp's <c>NewDisposeScope</c>): wrap a training step in one and its intermediates go back to the
/// pool deterministically. Parameters' gradients are owned by their parameter and never enter a scope.
/// </summary>
/// <example><code>
/// for (int step = 0; step &lt; steps; step++)
/// {
///     using var scope = new DisposeScope();
///     var loss = Loss.Mse(model(x), y);
///     loss.Backward();
///     lastLoss = scope.MoveToOuter(loss); // survives this scope
/// }
/// </code></example>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? current;

    private readonly DisposeScope? outer;
    private readonly HashSet<Tensor> tensors = new(ReferenceEqualityComparer.Instance);
    private bool disposed;

    public DisposeScope()
    {
        outer = current;
        current = this;
    }

    /// <summary>Tensors this scope will dispose.</summary>
    public int Count => tensors.Count;

    internal static void Register(Tensor tensor) => current?.tensors.Add(tensor);

    /// <summary>
    /// Takes <paramref name="tensor"/> out of the current scope for good: state a module keeps (a pruning mask made
    /// while a training step's scope is current) must outlive the step.
    /// </summary>
    internal static void Unregister(Tensor tensor) => current?.tensors.Remove(tensor);

    /// <summary>Whether this scope will dispose <paramref name="tensor"/> (it was made while the scope was current).</summary>
    internal bool Holds(Tensor tensor) => tensors.Contains(tensor);

    /// <summary>Takes <paramref name="tensor"/> out of this scope and into the enclosing one (if any).</summary>
    public Tensor MoveToOuter(Tensor tensor)
    {
        if (tensors.Remove(tensor)) outer?.tensors.Add(tensor);
        return tensor;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (current != this)
            throw new InvalidOperationException("DisposeScopes must end in the reverse order they began.");
        current = outer;
        foreach (var tensor in tensors) tensor.Dispose();
        tensors.Clear();
    }
}
