namespace Engine.Optim;

/// <summary>
/// Parameters that share hyper-parameters (PyTorch's <c>param_groups</c> entries). Unset values take the
/// optimizer's defaults. Each group is one contiguous slice of the optimizer's flat buffers.
/// </summary>
public sealed class ParamGroup
{
    private float lr;

    public ParamGroup(IEnumerable<Tensor> parameters, float? lr = null, float? weightDecay = null, float? l1 = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters.ToList();
        RequestedLr = lr;
        RequestedWeightDecay = weightDecay;
        RequestedL1 = l1;
    }

    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>The group's current learning rate (schedules change it).</summary>
    public float Lr
    {
        get => lr;
        set => lr = Hyper.NonNegative("lr", value);
    }

    /// <summary>The learning rate the group started with (PyTorch's <c>initial_lr</c>), the base of schedules.</summary>
    public float InitialLr { get; internal set; }

    public float WeightDecay { get; internal set; }

    /// <summary>L1 penalty coefficient: l1·sign(θ) is added to the gradient.</summary>
    public float L1 { get; internal set; }

    internal float? RequestedLr { get; }

    internal float? RequestedWeightDecay { get; }

    internal float? RequestedL1 { get; }

    /// <summary>First element of this group in the flat buffers.</summary>
    internal long Start { get; set; }

    /// <summary>Elements of this group in the flat buffers.</summary>
    internal long Length { get; set; }
}
