namespace Engine.Distributed;

/// <summary>A world of one process: every collective leaves the values as they are, so single-process code is unchanged.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    public int Rank => 0;
    public int Size => 1;
    public string Description => "single process";

    public void AllReduce(Span<float> values, ReduceOp op)
    {
    }

    public void AllReduce(Span<double> values, ReduceOp op)
    {
    }

    public void Broadcast(Span<float> values, int root = 0) => CheckRoot(root);

    public void Broadcast(Span<byte> values, int root = 0) => CheckRoot(root);

    /// <summary>One block, this rank's: the combination over one rank is the values themselves.</summary>
    public void ReduceScatter(Span<float> values, ReduceOp op)
    {
    }

    public void AllGather(Span<float> values)
    {
    }

    public void Barrier()
    {
    }

    public void Abort(int exitCode, string message)
    {
        Console.Error.WriteLine($"rank 0 of 1: {message}");
        Environment.Exit(exitCode);
    }

    public void Dispose()
    {
    }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), $"broadcast root {root} in a world of 1.");
    }
}
