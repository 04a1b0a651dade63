namespace Engine.Optim;

/// <summary>
/// Everything an optimizer needs to resume exactly: its flat state buffers by PyTorch name (e.g.
/// <c>exp_avg</c>, laid out parameter after parameter in construction order), the step count, each group's
/// learning rate, and rule-specific scalars (e.g. NAdam's <c>mu_product</c>).
/// </summary>
public sealed record OptimizerState(
    string Optimizer,
    long Step,
    IReadOnlyDictionary<string, float[]> Buffers,
    IReadOnlyList<float> GroupLrs,
    IReadOnlyDictionary<string, double> Scalars);
