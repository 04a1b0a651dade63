namespace Examples.Serving;

/// <summary>Settings of the <c>serve</c> command.</summary>
public sealed record ServeOptions
{
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 8080;

    /// <summary>The bearer token /learn, /checkpoint and /model require.</summary>
    public required string Token { get; init; }

    /// <summary>Initial weights (safetensors of a Linear/ReLU MLP, e.g. one downloaded from /model); null: the main example's MLP, untrained.</summary>
    public string? ModelPath { get; init; }

    /// <summary>Where the learn log and checkpoints live; a restart continues from them.</summary>
    public string StateDir { get; init; } = "serve-state";

    public string Device { get; init; } = "auto";

    /// <summary>"classify" (labels, cross-entropy) or "regress" (targets, MSE).</summary>
    public string Task { get; init; } = "classify";

    /// <summary>The online SGD learning rate (the main example's online recipe).</summary>
    public float Lr { get; init; } = 0.03f;

    public int Seed { get; init; } = 1;

    /// <summary>Save a checkpoint (and start a new log segment) every this many learned samples.</summary>
    public long CheckpointEvery { get; init; } = 10_000;

    /// <summary>Largest request body accepted (413 beyond).</summary>
    public int MaxBodyBytes { get; init; } = 4 << 20;

    /// <summary>Most rows one micro-batched forward pass of queued predictions takes.</summary>
    public int MaxPredictBatch { get; init; } = 256;
}
