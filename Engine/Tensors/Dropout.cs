namespace Engine;

public sealed partial class Tensor
{
    /// <summary>
    /// Inverted dropout with a given mask stream: each element zeroed with probability p, the rest scaled by 1/(1 − p).
    /// The mask is drawn by a counter-based RNG from <paramref name="seed"/>, so backward redraws it instead of storing it.
    /// </summary>
    internal Tensor DropoutWithSeed(float p, uint seed)
    {
        CheckOperands("dropout", this);
        var x = this;
        var y = Uninitialized(Device, shape);
        var k = Kernels;
        k.Dropout(x.Elements, y.Elements, seed, p, accumulate: false);
        return Record(y, "dropout", new[] { x }, dy => k.Dropout(dy, x.GradTarget(), seed, p, accumulate: true));
    }
}
