using Engine.Nn;

namespace Engine;

/// <summary>
/// Activation checkpointing, as <c>torch.utils.checkpoint.checkpoint(fn, *inputs, use_reentrant=False)</c>: a
/// segment's forward runs as usual but keeps none of its activations, only its inputs; in backward the segment runs
/// again, with its randomness replayed (the same dropout masks), and its gradients flow from that recomputation. Memory
/// for activations then grows with the number of segments instead of the number of layers, at the cost of one more
/// forward of each segment. Named apart from <see cref="Serialization.Checkpoint"/> (training checkpoints on disk).
/// </summary>
/// <remarks>
/// The gradients are bit-identical to running the segment plainly: the recomputation does the same operations on the
/// same values, and its backward runs at the segment's place in the graph. Parameters used inside the segment get
/// their gradients from the recomputation; a segment whose result needs no gradient (no input or parameter requires
/// grad) runs once, plainly. Tensors a segment creates are disposed when it returns, so it must not keep any (a layer
/// built inside it, say); it must compute the same function when run again.
/// </remarks>
public static class ActivationCheckpoint
{
    /// <summary>Runs <paramref name="segment"/>(<paramref name="inputs"/>) without keeping its activations.</summary>
    public static Tensor Run(Func<Tensor[], Tensor> segment, params Tensor[] inputs)
    {
        ArgumentNullException.ThrowIfNull(segment);
        ArgumentNullException.ThrowIfNull(inputs);
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] == null) throw new ArgumentNullException(nameof(inputs), $"ActivationCheckpoint.Run: input {i} is null.");
            inputs[i].ThrowIfDisposed($"checkpoint input {i}");
        }
        if (!Autograd.IsEnabled) return segment(inputs);

        Tensor output;
        List<Tensor> parameters;
        using var randomness = RandomReplay.Record();
        using (var scope = new DisposeScope())
        {
            var leaves = Leaves(inputs);
            var result = segment(leaves);
            randomness.Dispose(); // the recording covers the segment's own draws only
            if (!result.RequiresGrad)
            {
                scope.MoveToOuter(result);
                return result;
            }
            // The leaves the segment's graph reaches other than its inputs: the parameters it used.
            var inputSet = new HashSet<Tensor>(leaves, ReferenceEqualityComparer.Instance);
            parameters = ReachedLeaves(result, scope).Where(t => !inputSet.Contains(t)).ToList();
            output = scope.MoveToOuter(result.Detach()); // the values stay; the graph and activations go with the scope
        }
        return Tensor.Record(output, "checkpoint", inputs.Concat(parameters).ToArray(), dOut =>
        {
            using var scope = new DisposeScope();
            var leaves = Leaves(inputs);
            // Gradients reaching the recomputation's inputs go straight into the real inputs' buffers, in the order a
            // plain run would add them.
            for (int i = 0; i < inputs.Length; i++)
                if (leaves[i].RequiresGrad) leaves[i].AccumulateGradInto(inputs[i]);
            Tensor again;
            using (Autograd.EnableGrad()) again = randomness.Replay(() => segment(leaves));
            if (!again.Shape.SequenceEqual(output.Shape))
                throw new InvalidOperationException(
                    $"ActivationCheckpoint: the segment returned shape {Shapes.Format(again.Shape)} when recomputed " +
                    $"in backward but {Shapes.Format(output.Shape)} in forward; it must compute the same function.");
            Autograd.BackwardNested(again, dOut);
        });
    }

    /// <summary>Runs <paramref name="segment"/>.Forward(<paramref name="input"/>) without keeping its activations.</summary>
    public static Tensor Run(Module segment, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(segment);
        return Run(x => segment.Forward(x[0]), input);
    }

    /// <summary>Leaves sharing each input's values, requiring grad where the input does: the segment's graph stops there.</summary>
    private static Tensor[] Leaves(Tensor[] inputs) => inputs.Select(x =>
    {
        var leaf = x.Detach();
        if (x.RequiresGrad && x.DType == DType.Float32) leaf.RequiresGrad = true;
        return leaf;
    }).ToArray();

    /// <summary>
    /// The leaves requiring grad that <paramref name="root"/>'s graph reaches; throws if that graph reaches a computed
    /// tensor from outside the segment (its gradient could not flow back through the recomputation).
    /// </summary>
    private static List<Tensor> ReachedLeaves(Tensor root, DisposeScope segment)
    {
        var order = Autograd.TopologicalOrder(root, new List<Tensor>(),
            new HashSet<Tensor>(ReferenceEqualityComparer.Instance), new Stack<(Tensor Tensor, bool Expanded)>());
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var leaves = new List<Tensor>();
        foreach (var tensor in order)
        {
            if (!segment.Holds(tensor))
                throw new ArgumentException(
                    $"ActivationCheckpoint.Run: the segment uses a tensor of shape {Shapes.Format(tensor.Shape)} computed " +
                    $"outside it (by '{tensor.GradFn!.Op}') that requires grad; pass it as one of the inputs.");
            foreach (var input in tensor.GradFn!.Inputs)
                if (input.IsLeaf && input.RequiresGrad && seen.Add(input)) leaves.Add(input);
        }
        return leaves;
    }
}
