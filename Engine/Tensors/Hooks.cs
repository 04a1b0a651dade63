namespace Engine;

public sealed partial class Tensor
{
    private List<Action<Tensor>>? gradHooks;

    /// <summary>
    /// A parameter whose gradient hooks write (per-sample gradients: <see cref="Privacy.PerSampleGradients"/> replaces
    /// it by the clipped sum): Linear's and Conv2d's backward then skip its weight-gradient product, which would be
    /// overwritten unread.
    /// </summary>
    internal bool GradByHooks { get; set; }

    /// <summary>
    /// Calls <paramref name="hook"/> with this tensor's gradient during each backward pass that reaches it, once the
    /// gradient is complete and before it flows on to the tensor's inputs: PyTorch's <c>tensor.register_hook</c> for a
    /// hook that reads (this engine's hook cannot return a replacement; it may change the gradient in place). The
    /// gradient tensor it receives is valid only during the call: copy what must outlive it. Only a tensor an op
    /// produced (a non-leaf) runs hooks. Dispose the returned handle to remove the hook (<c>handle.remove()</c>).
    /// </summary>
    public IDisposable RegisterHook(Action<Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        ThrowIfDisposed("register_hook");
        if (!requiresGrad)
            throw new InvalidOperationException(
                $"register_hook: a tensor of shape {Shapes.Format(shape)} that does not require grad has no gradient to hook.");
        (gradHooks ??= new()).Add(hook);
        return new HookHandle(() => gradHooks?.Remove(hook));
    }

    /// <summary>Runs the gradient hooks (if any) with the gradient backward is about to push into this tensor's inputs.</summary>
    internal void RunGradHooks()
    {
        if (gradHooks is not { Count: > 0 } hooks) return;
        GradTarget();
        var gradient = IsLeaf ? grad! : pendingGrad!;
        foreach (var hook in hooks.ToArray()) hook(gradient);
    }
}

/// <summary>A registered hook; disposing it removes the hook (PyTorch's <c>RemovableHandle.remove()</c>). Idempotent.</summary>
internal sealed class HookHandle : IDisposable
{
    private Action? remove;

    public HookHandle(Action remove) => this.remove = remove;

    public void Dispose()
    {
        remove?.Invoke();
        remove = null;
    }
}
