using System.Runtime.InteropServices;

namespace Engine.Distributed;

/// <summary>
/// MPI_COMM_WORLD of Debian's Open MPI (<c>apt-get install openmpi-bin</c>, <c>libmpi.so.40</c>) through a thin
/// P/Invoke binding. Open MPI's handles are the addresses of exported globals (<c>MPI_COMM_WORLD</c> is
/// <c>&amp;ompi_mpi_comm_world</c>, <c>MPI_FLOAT</c> <c>&amp;ompi_mpi_float</c>, <c>MPI_SUM</c>
/// <c>&amp;ompi_mpi_op_sum</c>), looked up with <see cref="NativeLibrary.GetExport"/>; <c>MPI_IN_PLACE</c> is
/// <c>(void*)1</c>. (The NuGet MPI.NET binds Microsoft MPI's integer handles and crashes on Open MPI.) Start the
/// processes with <c>mpirun -np N</c>; as root Open MPI also wants <c>OMPI_ALLOW_RUN_AS_ROOT=1
/// OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1</c>.
/// </summary>
public sealed unsafe partial class OpenMpiCommunicator : ICommunicator
{
    public const string LibraryName = "libmpi.so.40";
    private static readonly object Gate = new();
    private static OpenMpiCommunicator? instance;

    private readonly nint library, world, mpiFloat, mpiDouble, mpiByte, mpiInt, opSum, opMax, opMin;
    private readonly delegate* unmanaged<int*, byte***, int, int*, int> initThread;
    private readonly delegate* unmanaged<int*, int> queryThread;
    private readonly delegate* unmanaged<nint, nint*, int> commDup;
    private readonly delegate* unmanaged<nint*, int> commFree;
    private readonly delegate* unmanaged<int, int, nint, int*, Status*, int> iprobe;
    private readonly delegate* unmanaged<void*, int, nint, int, int, nint, void*, int> recv;
    private readonly delegate* unmanaged<void*, int, nint, int, int, nint, int> send;
    private readonly delegate* unmanaged<int*, int> initialized, finalized;
    private readonly delegate* unmanaged<int> finalize;
    private readonly delegate* unmanaged<nint, int*, int> commRank, commSize;
    private readonly delegate* unmanaged<void*, int, nint, int, nint, int> bcast;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> allreduce;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> reduceScatterBlock;
    private readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> allgather;
    private readonly delegate* unmanaged<nint, int> barrier;
    private readonly delegate* unmanaged<nint, int, int> abort;
    private bool disposed;

    private OpenMpiCommunicator()
    {
        library = NativeLibrary.Load(LibraryName);
        nint F(string name) => NativeLibrary.GetExport(library, name);
        world = F("ompi_mpi_comm_world");
        mpiFloat = F("ompi_mpi_float");
        mpiDouble = F("ompi_mpi_double");
        mpiByte = F("ompi_mpi_byte");
        mpiInt = F("ompi_mpi_int");
        opSum = F("ompi_mpi_op_sum");
        opMax = F("ompi_mpi_op_max");
        opMin = F("ompi_mpi_op_min");
        initThread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread");
        queryThread = (delegate* unmanaged<int*, int>)F("MPI_Query_thread");
        commDup = (delegate* unmanaged<nint, nint*, int>)F("MPI_Comm_dup");
        commFree = (delegate* unmanaged<nint*, int>)F("MPI_Comm_free");
        iprobe = (delegate* unmanaged<int, int, nint, int*, Status*, int>)F("MPI_Iprobe");
        recv = (delegate* unmanaged<void*, int, nint, int, int, nint, void*, int>)F("MPI_Recv");
        send = (delegate* unmanaged<void*, int, nint, int, int, nint, int>)F("MPI_Send");
        initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized");
        finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized");
        finalize = (delegate* unmanaged<int>)F("MPI_Finalize");
        commRank = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_rank");
        commSize = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_size");
        bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)F("MPI_Bcast");
        allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)F("MPI_Allreduce");
        reduceScatterBlock = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)F("MPI_Reduce_scatter_block");
        allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)F("MPI_Allgather");
        barrier = (delegate* unmanaged<nint, int>)F("MPI_Barrier");
        abort = (delegate* unmanaged<nint, int, int>)F("MPI_Abort");
        int flag, provided;
        Check(initialized(&flag), "MPI_Initialized");
        // MPI_THREAD_MULTIPLE (3): the watchdog thread talks to the other ranks while a collective blocks this one.
        if (flag == 0) Check(initThread(null, null, 3, &provided), "MPI_Init_thread");
        else Check(queryThread(&provided), "MPI_Query_thread");
        int rank, size;
        Check(commRank(world, &rank), "MPI_Comm_rank");
        Check(commSize(world, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        StartWatchdog(threadMultiple: provided >= 3);
    }

    /// <summary>
    /// The process's MPI world (MPI_Init on first use; MPI allows one initialisation per process, so this is shared).
    /// </summary>
    /// <exception cref="DllNotFoundException">Open MPI is not installed (<c>apt-get install openmpi-bin</c>).</exception>
    public static OpenMpiCommunicator World()
    {
        lock (Gate)
        {
            if (instance is { disposed: false }) return instance;
            try
            {
                return instance = new OpenMpiCommunicator();
            }
            catch (DllNotFoundException e)
            {
                throw new DllNotFoundException($"Open MPI's {LibraryName} was not found: install it with 'apt-get install openmpi-bin' ({e.Message}).", e);
            }
        }
    }

    public int Rank { get; }
    public int Size { get; }
    public string Description => $"Open MPI, rank {Rank} of {Size}";

    public void AllReduce(Span<float> values, ReduceOp op)
    {
        fixed (float* p = values) AllReduce(p, values.Length, sizeof(float), mpiFloat, op);
        if (op == ReduceOp.Mean) for (int i = 0; i < values.Length; i++) values[i] /= Size;
    }

    public void AllReduce(Span<double> values, ReduceOp op)
    {
        fixed (double* p = values) AllReduce(p, values.Length, sizeof(double), mpiDouble, op);
        if (op == ReduceOp.Mean) for (int i = 0; i < values.Length; i++) values[i] /= Size;
    }

    /// <summary>In-place all-reduce of <paramref name="count"/> floats at <paramref name="data"/> (host memory), in chunks of 2³⁰ elements.</summary>
    internal void AllReduce(float* data, long count, ReduceOp op)
    {
        AllReduce(data, count, sizeof(float), mpiFloat, op);
        if (op != ReduceOp.Mean) return;
        float inverse = 1f / Size;
        for (long i = 0; i < count; i++) data[i] *= inverse;
    }

    internal void Broadcast(float* data, long count, int root)
    {
        Begin(root == 0 ? "broadcast from rank 0" : "broadcast", count);
        try
        {
            for (long at = 0; at < count; at += 1 << 30)
                Check(bcast(data + at, (int)Math.Min(1 << 30, count - at), mpiFloat, root, world), "MPI_Bcast");
        }
        finally
        {
            End();
        }
    }

    private void AllReduce(void* data, long count, int elementBytes, nint type, ReduceOp op)
    {
        ThrowIfDisposed();
        nint mpiOp = op switch { ReduceOp.Max => opMax, ReduceOp.Min => opMin, _ => opSum };
        Begin(op switch { ReduceOp.Max => "all-reduce (max)", ReduceOp.Min => "all-reduce (min)", _ => "all-reduce (sum)" }, count);
        try
        {
            for (long at = 0; at < count; at += 1 << 30)
                Check(allreduce((void*)1, (byte*)data + at * elementBytes, (int)Math.Min(1 << 30, count - at), type, mpiOp, world),
                    "MPI_Allreduce");
        }
        finally
        {
            End();
        }
    }

    public void ReduceScatter(Span<float> values, ReduceOp op)
    {
        fixed (float* p = values) ReduceScatter(p, values.Length, op);
    }

    public void AllGather(Span<float> values)
    {
        fixed (float* p = values) AllGather(p, values.Length);
    }

    /// <summary>
    /// <see cref="ReduceScatter(Span{float}, ReduceOp)"/> of <paramref name="count"/> floats at <paramref name="data"/>
    /// (host memory). Not MPI_IN_PLACE, which would leave the result in block 0 and this rank's input there lost: the
    /// block is received into a scratch buffer and copied to its place, so the other blocks keep this rank's input.
    /// </summary>
    internal void ReduceScatter(float* data, long count, ReduceOp op)
    {
        ThrowIfDisposed();
        int block = BlockOf(count, "reduce-scatter");
        nint mpiOp = op switch { ReduceOp.Max => opMax, ReduceOp.Min => opMin, _ => opSum };
        float* received = (float*)NativeMemory.Alloc((nuint)Math.Max(1, block), sizeof(float));
        var mine = new Span<float>(data + (long)Rank * block, block);
        try
        {
            Begin(op switch { ReduceOp.Max => "reduce-scatter (max)", ReduceOp.Min => "reduce-scatter (min)", _ => "reduce-scatter (sum)" }, count);
            try
            {
                Check(reduceScatterBlock(data, received, block, mpiFloat, mpiOp, world), "MPI_Reduce_scatter_block");
            }
            finally
            {
                End();
            }
            new ReadOnlySpan<float>(received, block).CopyTo(mine);
        }
        finally
        {
            NativeMemory.Free(received);
        }
        if (op == ReduceOp.Mean)
        {
            float inverse = 1f / Size;
            for (int i = 0; i < mine.Length; i++) mine[i] *= inverse;
        }
    }

    /// <summary><see cref="AllGather(Span{float})"/> of <paramref name="count"/> floats at <paramref name="data"/> (host memory; MPI_IN_PLACE).</summary>
    internal void AllGather(float* data, long count)
    {
        ThrowIfDisposed();
        int block = BlockOf(count, "all-gather");
        Begin("all-gather", count);
        try
        {
            Check(allgather((void*)1, block, mpiFloat, data, block, mpiFloat, world), "MPI_Allgather");
        }
        finally
        {
            End();
        }
    }

    /// <summary>
    /// The block of a block collective over <paramref name="count"/> elements. MPI counts are ints and a block's elements
    /// are not contiguous across ranks, so a block of more than int.MaxValue elements is refused rather than chunked.
    /// </summary>
    private int BlockOf(long count, string collective)
    {
        if (count % Size != 0)
            throw new ArgumentException($"{collective}: {count} elements do not split into {Size} equal blocks (pad to a multiple of the world size).");
        long block = count / Size;
        if (block > int.MaxValue)
            throw new ArgumentException($"{collective}: blocks of {block:N0} elements exceed MPI's int count ({int.MaxValue:N0}); use more ranks or smaller buffers.");
        return (int)block;
    }

    public void Broadcast(Span<float> values, int root = 0)
    {
        ThrowIfDisposed();
        fixed (float* p = values) Broadcast(p, values.Length, root);
    }

    public void Broadcast(Span<byte> values, int root = 0)
    {
        ThrowIfDisposed();
        Begin(root == 0 ? "broadcast from rank 0" : "broadcast", values.Length);
        try
        {
            fixed (byte* p = values)
                for (int at = 0; at < values.Length; at += 1 << 30)
                    Check(bcast(p + at, Math.Min(1 << 30, values.Length - at), mpiByte, root, world), "MPI_Bcast");
        }
        finally
        {
            End();
        }
    }

    public void Barrier()
    {
        ThrowIfDisposed();
        Begin("barrier", 0);
        try
        {
            Check(barrier(world), "MPI_Barrier");
        }
        finally
        {
            End();
        }
    }

    public void Abort(int exitCode, string message)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"rank {Rank} of {Size}: {message}");
        Console.Error.Flush();
        abort(world, exitCode);
        Environment.Exit(exitCode); // MPI_Abort does not return; if it did, still end this process
    }

    /// <summary>MPI_Finalize (every rank must reach it); after it no collective can run in this process.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            if (disposed) return;
            disposed = true;
            StopWatchdog();
            if (side != 0)
            {
                nint dup = side;
                side = 0;
                commFree(&dup);
            }
            int flag;
            finalized(&flag);
            if (flag == 0) finalize();
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    private void Check(int code, string call)
    {
        if (code != 0) throw new InvalidOperationException($"{call} failed with MPI error {code} on rank {Rank}.");
    }
}
