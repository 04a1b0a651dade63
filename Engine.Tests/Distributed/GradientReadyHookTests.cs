using Engine.Nn;

namespace Engine.Tests.Distributed;

/// <summary>
/// The hook ZeRO stage 2's buckets hang on the parameters: backward tells each leaf once, right after the last node that
/// adds to its gradient, with the gradient complete; a tied parameter after its last use; a checkpointed segment's
/// parameters after the checkpoint's node (whose nested backward wrote them).
/// </summary>
public sealed class GradientReadyHookTests
{
    private sealed class Recorder : IGradientReadyHook
    {
        public List<(Tensor Leaf, float[] Grad)> Told { get; } = new();

        public void GradientReady(Tensor leaf) => Told.Add((leaf, leaf.Grad!.ToArray()));
    }

    [Fact]
    public void Each_leaf_is_told_once_with_its_whole_gradient_and_the_first_layer_last()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        var model = new Sequential(new Linear(dev, 4, 3, seed: 1), new Tanh(), new Linear(dev, 3, 2, seed: 2));
        var parameters = model.Parameters().ToList();
        var recorder = new Recorder();
        foreach (var p in parameters) p.GradientReadyHook = recorder;
        var x = Tensor.FromArray(dev, Reference.RandomValues(3, 8), new[] { 2, 4 });
        // The first layer's weight is used twice: in the model and in a penalty added at the end.
        var loss = model.Forward(x).Square().Sum() + (parameters[0] * parameters[0]).Sum() * 0.1f;
        loss.Backward();
        Assert.Equal(parameters.Count, recorder.Told.Count);
        Assert.Equal(parameters.Count, recorder.Told.Select(t => t.Leaf).Distinct(ReferenceEqualityComparer.Instance).Count());
        foreach (var (leaf, grad) in recorder.Told) Assert.Equal(leaf.Grad!.ToArray(), grad); // nothing added after the hook
        Assert.Contains(recorder.Told[0].Leaf, parameters.Skip(2)); // the last layer finishes first
        model.Dispose();
    }

    [Fact]
    public void A_checkpointed_segments_parameters_are_told_after_the_checkpoint_with_their_whole_gradient()
    {
        var dev = TestDevice.Instance;
        using var scope = new DisposeScope();
        using var inner = new Linear(dev, 4, 4, seed: 3);
        using var head = new Linear(dev, 4, 1, seed: 4);
        var recorder = new Recorder();
        foreach (var p in inner.Parameters().Concat(head.Parameters())) p.GradientReadyHook = recorder;
        var x = Tensor.FromArray(dev, Reference.RandomValues(5, 12), new[] { 3, 4 }, requiresGrad: true);
        var h = ActivationCheckpoint.Run(t => inner.Forward(t[0]).Tanh(), x);
        head.Forward(h).Sum().Backward();
        Assert.Equal(4, recorder.Told.Count);
        foreach (var (leaf, grad) in recorder.Told) Assert.Equal(leaf.Grad!.ToArray(), grad);
        Assert.Contains(recorder.Told, t => ReferenceEquals(t.Leaf, inner.Parameters().First()));
        foreach (var p in inner.Parameters().Concat(head.Parameters())) p.GradientReadyHook = null;
    }
}
