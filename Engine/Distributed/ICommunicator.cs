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
/// <see cref="Communicator.Broadcast"/>, <see cref="Communicator.ReduceScatter"/> and <see cref="Communicator.AllGather"/>
/// run them on device buffers.
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

    /// <summary>
    /// MPI_Reduce_scatter_block in place: <paramref name="values"/> holds <see cref="Size"/> equal blocks (its length a
    /// multiple of the world size); on return this rank's block, [<see cref="Rank"/>·b, (<see cref="Rank"/> + 1)·b) with
    /// b = length / <see cref="Size"/>, holds the combination over all ranks of their values at that block, and every
    /// other block keeps this rank's input. ZeRO's gradient step: each rank ends with the summed gradient of its shard.
    /// </summary>
    /// <exception cref="ArgumentException">the length is not a multiple of <see cref="Size"/>.</exception>
    void ReduceScatter(Span<float> values, ReduceOp op);

    /// <summary>
    /// MPI_Allgather in place: <paramref name="values"/> holds <see cref="Size"/> equal blocks; on return block r is
    /// rank r's block r, on every rank (what this rank had in the other blocks is overwritten). ZeRO's parameter step:
    /// each rank contributes the shard it updated.
    /// </summary>
    /// <exception cref="ArgumentException">the length is not a multiple of <see cref="Size"/>.</exception>
    void AllGather(Span<float> values);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// Ends the whole job now (every rank) with <paramref name="exitCode"/>, after writing <paramref name="message"/>
    /// (naming this rank) to standard error; never returns.
    /// </summary>
    void Abort(int exitCode, string message);
}
