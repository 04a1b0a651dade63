namespace Engine.Distributed;

/// <summary>How <see cref="ICommunicator.AllReduce(Span{float}, ReduceOp)"/> combines the ranks' values.</summary>
public enum ReduceOp
{
    Sum,

    /// <summary>The sum divided by the world size (Horovod's <c>Average</c>).</summary>
    Mean,
    Max,
    Min,
}

/// <summary>
/// The collectives the engine's distributed training uses (Horovod's and <c>torch.distributed</c>'s core), over
/// host memory: every rank calls each collective in the same order with the same sizes. Implementations:
/// <see cref="SingleProcessCommunicator"/> (world of one: every collective is the identity) and
/// <see cref="OpenMpiCommunicator"/> (Debian's Open MPI through P/Invoke). <see cref="Communicator.AllReduce"/> and
/// <see cref="Communicator.Broadcast"/> run them on device buffers.
/// </summary>
/// <remarks>
/// On CUDA this is where NCCL goes: ILGPU exposes a buffer's device pointer (<c>ArrayView.LoadEffectiveAddressAsPtr</c>
/// on a CUDA view) and the stream (<c>CudaStream.StreamPtr</c>), which are what <c>ncclAllReduce(sendbuff, recvbuff,
/// count, ncclFloat, ncclSum, comm, stream)</c> takes; an <c>NcclCommunicator</c> would implement the device-buffer
/// overloads without the host staging copy <see cref="Communicator"/> makes for non-host memory today.
/// </remarks>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's index in [0, <see cref="Size"/>).</summary>
    int Rank { get; }

    /// <summary>The number of processes (the world size).</summary>
    int Size { get; }

    /// <summary>A short description, e.g. "Open MPI 4.1, rank 1 of 4".</summary>
    string Description { get; }

    /// <summary>Every rank's <paramref name="values"/> become the combination over all ranks (in place).</summary>
    void AllReduce(Span<float> values, ReduceOp op);

    void AllReduce(Span<double> values, ReduceOp op);

    /// <summary>Every rank's <paramref name="values"/> become those of rank <paramref name="root"/>.</summary>
    void Broadcast(Span<float> values, int root = 0);

    void Broadcast(Span<byte> values, int root = 0);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// Ends the whole job now (every rank) with <paramref name="exitCode"/>, after writing <paramref name="message"/>
    /// (naming this rank) to standard error; never returns.
    /// </summary>
    void Abort(int exitCode, string message);
}
