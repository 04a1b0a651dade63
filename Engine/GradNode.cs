using ILGPU;

namespace Engine;

/// <summary>
/// The record an op leaves on its output: which op made it, from which inputs, and how to push the output's
/// gradient into the inputs' gradients (kernels that accumulate, so a tensor used twice gets both terms).
/// </summary>
internal sealed class GradNode
{
    private Action<ArrayView<float>>? backward;
    private Action? onRelease;

    public GradNode(string op, Tensor[] inputs, Action<ArrayView<float>> backward, Action? onRelease)
    {
        Op = op;
        Inputs = inputs;
        this.backward = backward;
        this.onRelease = onRelease;
    }

    public string Op { get; }

    public Tensor[] Inputs { get; private set; }

    public bool IsReleased => backward == null;

    public void Backward(ArrayView<float> outputGrad)
    {
        if (backward == null)
            throw new InvalidOperationException(
                $"Backward through '{Op}' a second time: its graph was freed by the first Backward(). " +
                "Call Backward(retainGraph: true) the first time if you need to go through it again.");
        backward(outputGrad);
    }

    /// <summary>Drops the saved inputs and any buffers the op kept for backward.</summary>
    public void Release()
    {
        backward = null;
        Inputs = Array.Empty<Tensor>();
        var release = onRelease;
        onRelease = null;
        release?.Invoke();
    }
}
