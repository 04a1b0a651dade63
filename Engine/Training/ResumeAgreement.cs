using System.Security.Cryptography;
using Engine.Distributed;

namespace Engine.Training;

/// <summary>
/// Before data-parallel training starts, the ranks check that they start from the same point: the same checkpoint
/// (by content) at the same epoch and step, or all from scratch. Ranks resuming from different checkpoints (node-local
/// folders, one stale) would run different numbers of collectives and hang; they are stopped at once instead, every
/// rank naming every rank's position. One all-reduce of five numbers per rank.
/// </summary>
internal static class ResumeAgreement
{
    private const int Fields = 5; // resumed, epoch, step in epoch, global step, 48 bits of the checkpoint's SHA-256

    public static void Check(ICommunicator comm, TrainerRun run, string? checkpoint)
    {
        var all = new double[Fields * comm.Size];
        var mine = all.AsSpan(Fields * comm.Rank, Fields);
        mine[0] = checkpoint == null ? 0 : 1;
        mine[1] = run.Epoch;
        mine[2] = run.StepInEpoch;
        mine[3] = run.GlobalStep;
        mine[4] = checkpoint == null ? 0 : Digest48(checkpoint);
        comm.AllReduce(all, ReduceOp.Sum);
        var rows = Enumerable.Range(0, comm.Size).Select(r => all.AsSpan(Fields * r, Fields).ToArray()).ToList();
        if (rows.All(r => r.SequenceEqual(rows[0]))) return;
        throw new InvalidOperationException(
            "Trainer.Fit: the ranks would start from different points, so their collectives could not line up: " +
            string.Join("; ", rows.Select((r, i) => $"rank {i}: " + Describe(r))) +
            ". Give every rank the same checkpoint (a shared path, or rank 0's copied to every node) or none.");
    }

    private static string Describe(double[] r) => r[0] == 0
        ? "a fresh start"
        : $"checkpoint {(long)r[4]:x12} at epoch {r[1]}, step {r[2]} of it (global step {r[3]})";

    /// <summary>The first 48 bits of the file's SHA-256 (a double holds them exactly).</summary>
    private static long Digest48(string path)
    {
        using var stream = File.OpenRead(path);
        var hash = SHA256.HashData(stream);
        long v = 0;
        for (int i = 0; i < 6; i++) v = (v << 8) | hash[i];
        return v;
    }
}
