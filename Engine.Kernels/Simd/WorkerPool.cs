namespace Engine.Kernels.Simd;

/// <summary>A piece of work split into numbered parts that may run on different threads.</summary>
public interface IParallelWork
{
    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    void Execute(int part, int parts);
}

/// <summary>
/// The SIMD backend's threads: <see cref="Threads"/> − 1 background workers that, with the calling thread, run the
/// parts of one <see cref="IParallelWork"/> at a time. A hand-off costs a semaphore release and, if the workers are
/// still polling (for 200 µs after each job, before they sleep), no system call; one small object is allocated per job.
/// Small problems never come here: each kernel decides whether its size is worth more than one thread.
/// </summary>
public sealed class WorkerPool
{
    private readonly object runGate = new();
    private readonly SemaphoreSlim wake = new(0);
    private readonly List<Thread> workers = new();
    private Assignment? current;
    private int threads;

    /// <summary>The process-wide pool, sized to the machine's cores until <see cref="Threads"/> is set.</summary>
    public static WorkerPool Shared { get; } = new(Environment.ProcessorCount);

    public WorkerPool(int threads) => Threads = threads;

    /// <summary>
    /// Threads that run kernels, the caller's included (PyTorch's <c>torch.set_num_threads</c>); at least 1.
    /// Workers are started when first needed and never stopped (they sleep when idle).
    /// </summary>
    public int Threads
    {
        get => threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), $"Threads must be ≥ 1, got {value}.");
            lock (runGate)
            {
                threads = value;
                while (workers.Count < threads - 1)
                {
                    var t = new Thread(WorkerLoop) { IsBackground = true, Name = $"engine-simd-{workers.Count + 1}" };
                    workers.Add(t);
                    t.Start();
                }
            }
        }
    }

    /// <summary>
    /// Runs parts 0 … <paramref name="count"/> − 1 of <paramref name="job"/> across the pool and returns when all
    /// are done (rethrowing the first exception a part threw). With one thread, or one part, it runs them in order on
    /// the caller.
    /// </summary>
    public void Run(IParallelWork job, int count)
    {
        if (count <= 1 || threads <= 1)
        {
            for (int i = 0; i < count; i++) job.Execute(i, count);
            return;
        }
        lock (runGate)
        {
            // One small object per job: a worker that wakes late sees its own, finished, assignment and does nothing.
            var assignment = new Assignment(job, count);
            Volatile.Write(ref current, assignment);
            wake.Release(Math.Min(threads - 1, count - 1));
            assignment.RunParts();
            var spin = new SpinWait();
            while (Volatile.Read(ref assignment.Unfinished) > 0) spin.SpinOnce(sleep1Threshold: -1);
            Volatile.Write(ref current, null);
            if (assignment.Failure is { } failure) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>How long an idle worker keeps polling for the next job before it sleeps (the steps of a training loop
    /// come microseconds apart; waking a sleeping thread costs tens of microseconds).</summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 5000; // 200 µs

    private void WorkerLoop()
    {
        while (true)
        {
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            while (wake.CurrentCount == 0 && System.Diagnostics.Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
            wake.Wait();
            Volatile.Read(ref current)?.RunParts();
        }
    }

    private sealed class Assignment(IParallelWork job, int parts)
    {
        private readonly int count = parts;
        private int next;
        public int Unfinished = parts;
        public Exception? Failure;

        public void RunParts()
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < count)
            {
                try
                {
                    job.Execute(i, count);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Failure, e, null);
                }
                finally
                {
                    Interlocked.Decrement(ref Unfinished);
                }
            }
        }
    }
}
