namespace Engine.Optim;

/// <summary>
/// Everything an optimizer needs to resume exactly: its flat state buffers by PyTorch name (e.g.
/// <c>exp_avg</c>, laid out parameter after parameter in construction order), the step count, each group's
/// learning rate, rule-specific scalars, and each parameter's own step count (PyTorch's <c>state[p]['step']</c>).
/// </summary>
public sealed record OptimizerState(
    string Optimizer,
    long Step,
    IReadOnlyDictionary<string, float[]> Buffers,
    IReadOnlyList<float> GroupLrs,
    IReadOnlyDictionary<string, double> Scalars)
{
    /// <summary>Each parameter's step count in construction order; null (a state saved before there were
    /// per-parameter counts) means every parameter is at <see cref="Step"/>.</summary>
    public IReadOnlyList<long>? ParameterSteps { get; init; }
}
