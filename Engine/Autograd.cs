using ILGPU;
using Engine.Kernels;
namespace Engine;

/// <summary>What wants to know when a leaf's gradient is complete during a backward (see <see cref="Tensor.GradientReadyHook"/>).</summary>
internal interface IGradientReadyHook
{
    /// <summary><paramref name="leaf"/>'s gradient for this backward is complete: no node left to run adds to it.</summary>
    void GradientReady(Tensor leaf);
}

/// <summary>Reverse-mode automatic differentiation over the graph that ops record on their outputs.</summary>
public static class Autograd
{
    [ThreadStatic] private static int noGradDepth;
    [ThreadStatic] private static int anomalyDepth;

    /// <summary>Whether ops on this thread record a graph (false inside <see cref="NoGrad"/>).</summary>
    public static bool IsEnabled => noGradDepth == 0;

    /// <summary>Ops inside the returned scope record nothing and their outputs do not require grad.</summary>
    public static IDisposable NoGrad() => new DepthScope(() => noGradDepth++, () => noGradDepth--);

    /// <summary>
    /// Turns graph recording back on inside a <see cref="NoGrad"/> region until disposed (<c>torch.enable_grad</c>):
    /// activation checkpointing recomputes its segment with it during backward.
    /// </summary>
    internal static IDisposable EnableGrad()
    {
        int saved = 0;
        return new DepthScope(() => (saved, noGradDepth) = (noGradDepth, 0), () => noGradDepth = saved);
    }

    /// <summary>Whether anomaly detection is on for this thread (see <see cref="DetectAnomaly"/>).</summary>
    public static bool IsAnomalyDetectionEnabled => anomalyDepth > 0;

    /// <summary>
    /// Anomaly mode, as <c>torch.autograd.detect_anomaly()</c>: inside the returned scope every op checks its
    /// output, and every backward step the gradients it wrote, for NaN and ±∞, and the first one found throws an
    /// error naming the op, the shapes and the offending element. Each check reads a flag back from the device,
    /// so this is for debugging, not for training at speed.
    /// </summary>
    public static IDisposable DetectAnomaly() => new DepthScope(() => anomalyDepth++, () => anomalyDepth--);

    /// <summary>In anomaly mode, throws if <paramref name="output"/> of <paramref name="op"/> is not finite.</summary>
    internal static void CheckForward(string op, Tensor output, Tensor[] inputs)
    {
        if (anomalyDepth == 0 || output.DType != DType.Float32 || NonFinite.AllFinite(output.Device, output.Elements)) return;
        throw new ArithmeticException(
            $"Anomaly detected: forward of '{op}' (inputs {string.Join(", ", inputs.Select(t => Shapes.Format(t.Shape)))}) " +
            $"produced a non-finite output of shape {Shapes.Format(output.Shape)}: " +
            $"{NonFinite.FirstBad(output.Elements, output.Device)}.");
    }

    /// <summary>
    /// Back-propagates from the one-element tensor <paramref name="root"/> (or any root, given its gradient
    /// <paramref name="seed"/>): visits the graph in reverse topological order, seeding d root = 1 (or the seed), and
    /// accumulates into each leaf's <see cref="Tensor.Grad"/>.
    /// Gradients of intermediate tensors are released as soon as their node has run; unless
    /// <paramref name="retainGraph"/>, the graph (saved inputs, label buffers) is released at the end.
    /// </summary>
    internal static void Backward(Tensor root, bool retainGraph, Tensor? seed = null)
    {
        root.ThrowIfDisposed("backward");
        if (seed != null)
        {
            seed.ThrowIfDisposed("backward");
            if (!seed.Shape.SequenceEqual(root.Shape))
                throw new ArgumentException(
                    $"Backward(gradient): the gradient has shape {Shapes.Format(seed.Shape)}, the tensor " +
                    $"{Shapes.Format(root.Shape)}; they must match.", nameof(seed));
            if (seed.Device != root.Device)
                throw new ArgumentException(
                    $"Backward(gradient): the gradient is on {seed.Device}, the tensor on {root.Device}.", nameof(seed));
            if (seed.DType != DType.Float32)
                throw new ArgumentException($"Backward(gradient): the gradient must be float32, got {seed.DType}.",
                    nameof(seed));
        }
        else if (root.Numel != 1)
            throw new InvalidOperationException(
                $"Backward() needs a one-element (scalar) tensor, got shape {Shapes.Format(root.Shape)}. " +
                "Reduce it first, e.g. with Sum() or Mean(), or pass its gradient: Backward(gradient).");
        if (!root.RequiresGrad)
            throw new InvalidOperationException(
                "Backward() on a tensor that does not require grad: no input of the computation had " +
                "requiresGrad: true, or it was computed inside Autograd.NoGrad().");

        if (backwardDepth > 0)
        {
            // A backward inside a node's backward (activation checkpointing): its own traversal collections, and no
            // fusing of optimizer steps into it (the outer graph may use the same parameters again).
            BackwardNested(root, seed?.Elements, retainGraph);
            return;
        }
        var order = TopologicalOrder(root, orderCache ??= new(), visitedCache ??= new(ReferenceEqualityComparer.Instance),
            stackCache ??= new());
        CountLeafUses(order);
        RunFrom(root, seed?.Elements, order, retainGraph);
        order.Clear(); // the per-thread list must not keep the graph alive
        visitedCache!.Clear();
    }

    /// <summary>
    /// Seeds d root (with <paramref name="seed"/>, or 1), runs each node's backward, last first, releasing intermediate
    /// gradients as it goes, then the graph unless <paramref name="retainGraph"/>.
    /// </summary>
    private static void RunFrom(Tensor root, ArrayView<float>? seed, List<Tensor> order, bool retainGraph)
    {
        if (seed is { } s) root.Device.Kernels.Copy(s, root.GradTarget());
        else root.Device.Kernels.Fill(root.GradTarget(), 1f);
        backwardDepth++;
        try
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var tensor = order[i];
                var node = tensor.GradFn!;
                tensor.RunGradHooks();
                node.Backward(tensor.GradTarget());
                if (anomalyDepth > 0) CheckBackward(tensor, node);
                tensor.ReleaseIntermediateGrad();
                if (backwardDepth == 1) TellCompletedLeaves(node);
            }
        }
        finally
        {
            backwardDepth--;
        }
        if (!retainGraph)
            foreach (var tensor in order) tensor.GradFn!.Release();
    }

    /// <summary>
    /// Backward from <paramref name="root"/> seeded with <paramref name="seed"/> (or 1) while another backward is
    /// running on this thread: fresh traversal collections, and each leaf counted as used twice for its duration, so
    /// no optimizer step is fused into a gradient the outer graph may still add to.
    /// </summary>
    internal static void BackwardNested(Tensor root, ArrayView<float>? seed, bool retainGraph = false)
    {
        var order = TopologicalOrder(root, new List<Tensor>(), new HashSet<Tensor>(ReferenceEqualityComparer.Instance),
            new Stack<(Tensor Tensor, bool Expanded)>());
        var leaves = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        foreach (var tensor in order)
            foreach (var input in tensor.GradFn!.Inputs)
                if (input.IsLeaf && !leaves.ContainsKey(input)) leaves[input] = input.BackwardUses;
        foreach (var leaf in leaves.Keys) leaf.BackwardUses = 2;
        try
        {
            RunFrom(root, seed, order, retainGraph);
        }
        finally
        {
            foreach (var (leaf, uses) in leaves) leaf.BackwardUses = uses;
        }
    }

    /// <summary>Sets each leaf's <see cref="Tensor.BackwardUses"/>: how many node inputs of this graph it is.</summary>
    private static void CountLeafUses(List<Tensor> order)
    {
        foreach (var tensor in order)
            foreach (var input in tensor.GradFn!.Inputs)
                if (input.IsLeaf) input.BackwardUses = 0;
        foreach (var tensor in order)
            foreach (var input in tensor.GradFn!.Inputs)
                if (input.IsLeaf) input.PendingBackwardUses = ++input.BackwardUses;
    }

    /// <summary>
    /// After <paramref name="node"/>'s backward in the outermost traversal: each leaf input with a
    /// <see cref="Tensor.GradientReadyHook"/> whose last use this was has its whole gradient now, and is told so.
    /// (A nested backward, activation checkpointing's, writes into the gradients of its segment's parameters, which the
    /// checkpoint's node lists as inputs, so they are told after that node.)
    /// </summary>
    private static void TellCompletedLeaves(GradNode node)
    {
        foreach (var input in node.Inputs)
            if (input.IsLeaf && input.GradientReadyHook is { } hook && input.RequiresGrad && --input.PendingBackwardUses == 0)
                hook.GradientReady(input);
    }

    /// <summary>Throws if a gradient that <paramref name="node"/>'s backward wrote into is not finite.</summary>
    private static void CheckBackward(Tensor output, GradNode node)
    {
        for (int i = 0; i < node.Inputs.Length; i++)
        {
            var input = node.Inputs[i];
            if (!input.RequiresGrad || input.CurrentGrad is not { } grad) continue;
            if (NonFinite.AllFinite(input.Device, grad)) continue;
            throw new ArithmeticException(
                $"Anomaly detected: backward of '{node.Op}' (output shape {Shapes.Format(output.Shape)}) wrote a " +
                $"non-finite gradient into its input {i} (shape {Shapes.Format(input.Shape)}): " +
                $"{NonFinite.FirstBad(grad, input.Device)}.");
        }
    }

    // The traversal's collections, kept per thread and cleared after use: a per-sample step runs this thousands of
    // times a second and should not allocate them each time.
    [ThreadStatic] private static List<Tensor>? orderCache;
    [ThreadStatic] private static HashSet<Tensor>? visitedCache;
    [ThreadStatic] private static Stack<(Tensor Tensor, bool Expanded)>? stackCache;
    [ThreadStatic] private static int backwardDepth;

    /// <summary>Tensors with a grad node reachable from root, each after all of its inputs, into
    /// <paramref name="order"/> (cleared first).</summary>
    internal static List<Tensor> TopologicalOrder(Tensor root, List<Tensor> order, HashSet<Tensor> visited,
        Stack<(Tensor Tensor, bool Expanded)> stack)
    {
        order.Clear();
        visited.Clear();
        stack.Clear();
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

    /// <summary>Raises a thread-static depth for its lifetime (NoGrad, DetectAnomaly); disposing twice is harmless.</summary>
    private sealed class DepthScope : IDisposable
    {
        private readonly Action exit;
        private bool disposed;

        public DepthScope(Action enter, Action exit)
        {
            enter();
            this.exit = exit;
        }

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            exit();
        }
    }
}
