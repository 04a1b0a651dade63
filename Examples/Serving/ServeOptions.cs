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

    /// <summary>
    /// Largest |feature| accepted (400 beyond, naming the sample and the feature). Finite float32 values up to 3.4e38
    /// parse, but one learn at 1e38 overflows the weights; 1e6 leaves room for unnormalised data and none for that.
    /// </summary>
    public double MaxAbsFeature { get; init; } = 1e6;

    /// <summary>
    /// Start even if the learn log is corrupt: keep the records that verify, move the bytes that do not to
    /// <c>&lt;segment&gt;.corrupt-&lt;UTC time&gt;</c>, and say what was lost. Without it a corrupt log stops the start.
    /// </summary>
    public bool Salvage { get; init; }

    /// <summary>Serve HTTPS on <see cref="Port"/> with <see cref="CertPath"/> and <see cref="KeyPath"/> (see <see cref="ServeTls"/>).</summary>
    public bool Https { get; init; }

    /// <summary>The PEM certificate (optionally followed by its chain) for <see cref="Https"/>.</summary>
    public string? CertPath { get; init; }

    /// <summary>The certificate's PEM private key (unencrypted PKCS#8, RSA or EC) for <see cref="Https"/>.</summary>
    public string? KeyPath { get; init; }

    /// <summary>
    /// With <see cref="Https"/>: a port where plain HTTP is answered 308 to the same path over HTTPS. Null (the default):
    /// no plain HTTP listener at all.
    /// </summary>
    public int? HttpRedirectPort { get; init; }
}
