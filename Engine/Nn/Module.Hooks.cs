namespace Engine.Nn;

public abstract partial class Module
{
    private List<Action<Module, Tensor, Tensor>>? forwardHooks;
    private List<Action<Module, Tensor>>? backwardHooks;

    /// <summary>
    /// Calls <paramref name="hook"/>(module, input, output) after each forward of this layer: PyTorch's
    /// <c>register_forward_hook</c> (a hook that reads; it cannot replace the output). Layers run their hooks themselves:
    /// <see cref="Linear"/>, <see cref="Conv2d"/>, <see cref="Embedding"/> and <see cref="LayerNorm"/> do (the layers with
    /// per-sample gradients, <see cref="Privacy.PerSampleGradients"/>); a container does not. Dispose the returned
    /// handle to remove the hook.
    /// </summary>
    public IDisposable RegisterForwardHook(Action<Module, Tensor, Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        (forwardHooks ??= new()).Add(hook);
        return new HookHandle(() => forwardHooks?.Remove(hook));
    }

    /// <summary>
    /// Calls <paramref name="hook"/>(module, gradOutput) during backward, with the gradient of the loss with respect to
    /// this layer's output, complete, before it flows into the layer: PyTorch's <c>register_full_backward_hook</c> for a
    /// one-output layer, without grad_input (which per-sample gradients do not need). The gradient is valid during the
    /// call only. Fired by the same layers as <see cref="RegisterForwardHook"/>, for each forward whose output requires
    /// grad. Dispose the returned handle to remove the hook.
    /// </summary>
    public IDisposable RegisterFullBackwardHook(Action<Module, Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        (backwardHooks ??= new()).Add(hook);
        return new HookHandle(() => backwardHooks?.Remove(hook));
    }

    /// <summary>
    /// What a layer's <see cref="Forward"/> returns through: runs the forward hooks on (input, output) and attaches the
    /// backward hooks to the output's gradient. Free when no hook is registered.
    /// </summary>
    protected Tensor RunHooks(Tensor input, Tensor output)
    {
        if (forwardHooks is { Count: > 0 } forward)
            foreach (var hook in forward.ToArray()) hook(this, input, output);
        if (backwardHooks is { Count: > 0 } backward && output.RequiresGrad && !output.IsLeaf)
        {
            var hooks = backward.ToArray();
            output.RegisterHook(gradient =>
            {
                foreach (var hook in hooks) hook(this, gradient);
            });
        }
        return output;
    }
}
