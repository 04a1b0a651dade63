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
    /// buffer only; each step sums the gradient over the ranks, updates its shard and all-gathers the parameters. State
    /// memory per rank falls to 1/N.
    /// </summary>
    OptimizerState,

    /// <summary>
    /// ZeRO stage 2: the optimizer state as in stage 1, and the gradients too: rank r keeps the gradients of its 1/N of
    /// the flat buffer only. Backward hands each parameter's finished gradient to a bucket, each bucket is summed over the
    /// ranks as soon as it is whole, and the rank keeps the part in its shard (the rest is released). Gradient memory per
    /// rank falls to 1/N plus about one bucket; the result is the replicated run's.
    /// </summary>
    Gradients,
}
