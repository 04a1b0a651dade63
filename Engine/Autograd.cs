using Engine.Kernels;
namespace Engine;

/// <summary>Reverse-mode automatic differentiation over the graph that ops record on their outputs.</summary>
public static class Autograd
{
    [ThreadStatic] private static int noGradDepth;

    /// <summary>Whether ops on this thread record a graph (false inside <see cref="NoGrad"/>).</summary>
    public static bool IsEnabled => noGradDepth == 0;

    /// <summary>Ops inside the returned scope record nothing and their outputs do not require grad.</summary>
    public static IDisposable NoGrad() => new NoGradScope();

    /// <summary>
    /// Back-propagates from the one-element tensor <paramref name="root"/>: visits the graph in reverse
    /// topological order, seeding d root = 1, and accumulates into each leaf's <see cref="Tensor.Grad"/>.
    /// Gradients of intermediate tensors are released as soon as their node has run; unless
    /// <paramref name="retainGraph"/>, the graph (saved inputs, label buffers) is released at the end.
    /// </summary>
    internal static void Backward(Tensor root, bool retainGraph)
    {
        root.ThrowIfDisposed("backward");
        if (root.Numel != 1)
            throw new InvalidOperationException(
                $"Backward() needs a one-element (scalar) tensor, got shape {Shapes.Format(root.Shape)}. " +
                "Reduce it first, e.g. with Sum() or Mean().");
        if (!root.RequiresGrad)
            throw new InvalidOperationException(
                "Backward() on a tensor that does not require grad: no input of the computation had " +
                "requiresGrad: true, or it was computed inside Autograd.NoGrad().");

        var order = TopologicalOrder(root);
        root.Device.Kernels.Fill(root.GradTarget(), 1f);
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var tensor = order[i];
            var node = tensor.GradFn!;
            node.Backward(tensor.GradTarget());
            tensor.ReleaseIntermediateGrad();
        }
        if (!retainGraph)
        {
            foreach (var tensor in order) tensor.GradFn!.Release();
        }
    }

    /// <summary>Tensors with a grad node reachable from root, each after all of its inputs.</summary>
    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor Tensor, bool Expanded)>();
        if (root.GradFn == null) return order;
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (tensor, expanded) = stack.Pop();
            if (expanded)
            {
                order.Add(tensor);
                continue;
            }
            if (!visited.Add(tensor)) continue;
            var node = tensor.GradFn!;
            if (node.IsReleased)
                throw new InvalidOperationException(
                    $"Backward through '{node.Op}' a second time: its graph was freed by the first Backward(). " +
                    "Call Backward(retainGraph: true) the first time if you need to go through it again.");
            stack.Push((tensor, true));
            foreach (var input in node.Inputs)
            {
                input.ThrowIfDisposed($"backward of '{node.Op}'");
                if (input.GradFn != null && !visited.Contains(input)) stack.Push((input, false));
            }
        }
        return order;
    }

    private sealed class NoGradScope : IDisposable
    {
        private bool disposed;

        public NoGradScope() => noGradDepth++;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            noGradDepth--;
        }
    }
}
