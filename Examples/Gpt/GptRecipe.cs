using Engine;
using Engine.Optim;

namespace Examples.Gpt;

/// <summary>What the <c>gpt</c> command was asked for.</summary>
public sealed record GptOptions
{
    public string Device { get; init; } = "auto";
    public string Mode { get; init; } = "compare";
    public int Iters { get; init; } = 2000;
    public int EvalInterval { get; init; } = 250;
    public int EvalIters { get; init; } = 20;
    public int BatchSize { get; init; } = 12;
    public int BlockSize { get; init; } = 64;
    public int Layers { get; init; } = 4;
    public int Heads { get; init; } = 4;
    public int Embd { get; init; } = 128;
    public float Dropout { get; init; }
    public float Lr { get; init; } = 1e-3f;
    public float MinLr { get; init; } = 1e-4f;
    public int Warmup { get; init; } = 100;
    public float WeightDecay { get; init; } = 0.1f;
    public float GradClip { get; init; } = 1f;

    /// <summary>Characters of the training text the online mode streams through (0: all of it).</summary>
    public int OnlineChars { get; init; }
    public int Seed { get; init; } = 1337;
    public int Sample { get; init; } = 300;
    public string Prompt { get; init; } = "\n";
    public float Temperature { get; init; } = 0.8f;
    public int TopK { get; init; } = 200;
    public string? Out { get; init; }
    public string? Trajectory { get; init; }
    public string? Data { get; init; }

    /// <summary>Activation checkpointing: every run of this many blocks recomputed in backward (0: none).</summary>
    public int Checkpoint { get; init; }

    /// <summary>Print the device's peak allocated memory at each report and at the end.</summary>
    public bool Memory { get; init; }

    /// <summary>Under mpirun: ZeRO stage (0: plain data-parallel; 1: optimizer state sharded; 2: gradients too).</summary>
    public int Zero { get; init; }

    /// <summary>ZeRO stage 2's gradient bucket in MiB (1 by default: the GPT's gradients are a few MiB, so PyTorch's 25
    /// would make one bucket, reduced only when backward ends).</summary>
    public double BucketMb { get; init; } = 1;
}

/// <summary>nanoGPT's training recipe: its optimizer groups, learning-rate schedule and batches.</summary>
public static class GptRecipe
{
    /// <summary>AdamW with decay on the matrices (embeddings and weights) only, nanoGPT's parameter groups.</summary>
    public static AdamW Optimizer(GptModel model, GptOptions o)
    {
        var decay = model.Parameters().Where(p => p.Rank >= 2).ToList();
        var noDecay = model.Parameters().Where(p => p.Rank < 2).ToList();
        return new AdamW(new[] { new ParamGroup(decay, weightDecay: o.WeightDecay), new ParamGroup(noDecay, weightDecay: 0f) },
            lr: o.Lr, betas: (0.9f, 0.99f), eps: 1e-8f);
    }

    /// <summary>nanoGPT's <c>get_lr</c>: linear warm-up over <c>Warmup</c> steps, then cosine decay to MinLr at Iters.</summary>
    public static float LearningRate(int it, GptOptions o)
    {
        if (it < o.Warmup) return o.Lr * (it + 1) / (o.Warmup + 1);
        if (it > o.Iters) return o.MinLr;
        double ratio = (double)(it - o.Warmup) / Math.Max(1, o.Iters - o.Warmup);
        double coefficient = 0.5 * (1 + Math.Cos(Math.PI * ratio));
        return (float)(o.MinLr + coefficient * (o.Lr - o.MinLr));
    }

    /// <summary>x = data[i : i + T] and y = data[i + 1 : i + 1 + T] for each offset i, rows one after another.</summary>
    public static (int[] X, int[] Y) Batch(int[] data, int[] offsets, int t)
    {
        var x = new int[offsets.Length * t];
        var y = new int[offsets.Length * t];
        for (int r = 0; r < offsets.Length; r++)
        {
            Array.Copy(data, offsets[r], x, r * t, t);
            Array.Copy(data, offsets[r] + 1, y, r * t, t);
        }
        return (x, y);
    }
}
