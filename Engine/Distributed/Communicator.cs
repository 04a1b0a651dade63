using ILGPU;
using ILGPU.Runtime;

namespace Engine.Distributed;

/// <summary>
/// The process layout from the environment and the collectives on device buffers. A process started by
/// <c>mpirun</c> (which sets <c>OMPI_COMM_WORLD_SIZE</c>) joins Open MPI's world; any other process is a world of
/// one, so nothing changes for a user who never starts <c>mpirun</c>.
/// </summary>
public static class Communicator
{
    /// <summary>Open MPI's world when started by <c>mpirun</c>, else <see cref="SingleProcessCommunicator"/>.</summary>
    public static ICommunicator FromEnvironment() =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is { Length: > 0 }
            ? OpenMpiCommunicator.World()
            : new SingleProcessCommunicator();

    /// <summary>Processes of this job on this machine (<c>OMPI_COMM_WORLD_LOCAL_SIZE</c>; 1 outside mpirun): share the cores among them.</summary>
    public static int LocalSize =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), out int n) && n > 0 ? n : 1;

    /// <summary>
    /// In-place all-reduce of a device buffer. Host-addressable memory (the SIMD <c>cpu</c> device and ILGPU's CPU
    /// accelerator) goes to MPI directly by address; other devices stage through a host copy (NCCL would avoid it).
    /// </summary>
    public static unsafe void AllReduce(this ICommunicator communicator, Device device, ArrayView<float> buffer, ReduceOp op) =>
        InPlace(communicator, device, buffer,
            (mpi, data, count) => mpi.AllReduce(data, count, op), values => communicator.AllReduce(values, op));

    /// <summary>A device buffer becomes rank <paramref name="root"/>'s (in place), as <see cref="AllReduce"/> moves it.</summary>
    public static unsafe void Broadcast(this ICommunicator communicator, Device device, ArrayView<float> buffer, int root = 0) =>
        InPlace(communicator, device, buffer,
            (mpi, data, count) => mpi.Broadcast(data, count, root), values => communicator.Broadcast(values, root));

    /// <summary>
    /// <see cref="ICommunicator.ReduceScatter"/> of a device buffer (its length a multiple of the world size), moved as
    /// <see cref="AllReduce"/> moves it: this rank's block ends up combined over the ranks, the others keep their input.
    /// </summary>
    public static unsafe void ReduceScatter(this ICommunicator communicator, Device device, ArrayView<float> buffer, ReduceOp op) =>
        InPlace(communicator, device, buffer,
            (mpi, data, count) => mpi.ReduceScatter(data, count, op), values => communicator.ReduceScatter(values, op));

    /// <summary><see cref="ICommunicator.AllGather"/> of a device buffer, moved as <see cref="AllReduce"/> moves it.</summary>
    public static unsafe void AllGather(this ICommunicator communicator, Device device, ArrayView<float> buffer) =>
        InPlace(communicator, device, buffer,
            (mpi, data, count) => mpi.AllGather(data, count), values => communicator.AllGather(values));

    private unsafe delegate void OnAddress(OpenMpiCommunicator mpi, float* data, long count);

    private static unsafe void InPlace(ICommunicator communicator, Device device, ArrayView<float> buffer,
        OnAddress byAddress, SpanAction onHost)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        if (communicator.Size == 1 || buffer.Length == 0) return;
        device.Synchronize();
        if (device.Accelerator.AcceleratorType == AcceleratorType.CPU)
        {
            var data = (float*)buffer.LoadEffectiveAddressAsPtr();
            if (communicator is OpenMpiCommunicator mpi) byAddress(mpi, data, buffer.Length);
            else onHost(new Span<float>(data, checked((int)buffer.Length)));
            return;
        }
        var host = new float[buffer.Length];
        device.Kernels.Download(buffer, host);
        onHost(host);
        device.Kernels.Upload<float>(host, buffer);
    }

    private delegate void SpanAction(Span<float> values);

    /// <summary>
    /// Makes an unhandled exception on this rank end the whole job (MPI_Abort) with a message naming the rank and the
    /// cause, instead of leaving the other ranks waiting in a collective forever (Horovod users' most common hang).
    /// </summary>
    public static void AbortOnUnhandledException(this ICommunicator communicator)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        if (communicator.Size == 1) return;
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            communicator.Abort(1, $"unhandled {e.ExceptionObject.GetType().Name}: {(e.ExceptionObject as Exception)?.Message}");
    }
}
