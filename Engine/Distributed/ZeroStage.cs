namespace Engine.Distributed;

/// <summary>
/// What data-parallel training shards over the ranks instead of replicating (DeepSpeed's ZeRO stages, PyTorch's
/// <c>ZeroRedundancyOptimizer</c> for stage 1). Each stage keeps the training's result: the ranks end with the
/// parameters a replicated run ends with.
/// </summary>
public enum ZeroStage
{
    /// <summary>Every rank holds the whole optimizer state and all-reduces the whole gradient (plain DDP).</summary>
    None,

    /// <summary>
    /// ZeRO stage 1: rank r of N keeps the optimizer state (moments, accumulators) of the r-th 1/N of the flat parameter
    /// buffer only; each step reduce-scatters the gradient (each rank gets its shard's sum), updates its shard and
    /// all-gathers the parameters. State memory per rank falls to 1/N; the traffic is that of one all-reduce.
    /// </summary>
    OptimizerState,

    /// <summary>ZeRO stage 2 (gradients sharded too): not implemented; refused with <see cref="NotSupportedException"/>.</summary>
    Gradients,
}
