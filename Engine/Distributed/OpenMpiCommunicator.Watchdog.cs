using System.Diagnostics;

namespace Engine.Distributed;

// The collective watchdog. Every collective is numbered; a thread per rank checks that the one in progress has not
// waited longer than ENGINE_COLLECTIVE_TIMEOUT, and when it has, asks every other rank over a duplicate of the world
// communicator where it is (the other ranks' watchdog threads answer, even while their main thread is blocked in the
// collective; a stopped, hung or dead rank cannot), then aborts the job with a message naming the collective, how
// long it waited, the ranks that did not arrive and where the others are. Needs MPI_THREAD_MULTIPLE (Open MPI
// provides it); without it the watchdog still aborts, naming only this rank's wait.
public sealed unsafe partial class OpenMpiCommunicator
{
    private const int ProbeTag = 0x5EED;
    private const int Probe = 0, Answer = 1;

    private readonly TimeSpan timeout = CollectiveTimeout.FromEnvironment();
    private Thread? watchdog;
    private volatile bool stopWatchdog;
    private nint side; // MPI_Comm_dup(world): the watchdog's messages never meet the collectives'

    // The collective in progress (what, its size, number, start), written by the calling thread, read by the watchdog.
    private volatile string? currentCollective;
    private long currentCount;
    private long currentNumber, completed;
    private long startedTicks;

    /// <summary>The configured wait limit (<see cref="TimeSpan.Zero"/>: none).</summary>
    public TimeSpan CollectiveTimeoutLimit => timeout;

    private void StartWatchdog(bool threadMultiple)
    {
        if (Size == 1 || timeout <= TimeSpan.Zero) return;
        if (threadMultiple)
        {
            nint dup;
            Check(commDup(world, &dup), "MPI_Comm_dup");
            side = dup;
        }
        watchdog = new Thread(WatchdogLoop) { IsBackground = true, Name = "collective watchdog" };
        watchdog.Start();
    }

    private void StopWatchdog()
    {
        stopWatchdog = true;
        watchdog?.Join();
        watchdog = null;
    }

    /// <summary>A collective starts (<paramref name="name"/> a constant, e.g. "all-reduce"; its size in elements): it
    /// gets the next number and the watchdog's clock starts. Nothing is allocated.</summary>
    private void Begin(string name, long count)
    {
        Interlocked.Exchange(ref startedTicks, Stopwatch.GetTimestamp());
        Interlocked.Exchange(ref currentCount, count);
        Interlocked.Increment(ref currentNumber);
        currentCollective = name;
    }

    /// <summary>The collective begun last has returned (or thrown).</summary>
    private void End()
    {
        currentCollective = null;
        Interlocked.Exchange(ref completed, Interlocked.Read(ref currentNumber));
    }

    private void WatchdogLoop()
    {
        var message = new int[3];
        while (!stopWatchdog)
        {
            if (side != 0) AnswerProbes(message);
            string? name = currentCollective;
            long number = Interlocked.Read(ref currentNumber);
            var waited = Stopwatch.GetElapsedTime(Interlocked.Read(ref startedTicks));
            if (name != null && waited > timeout && Interlocked.Read(ref completed) < number)
                TimedOut(name, number, waited);
            Thread.Sleep(50);
        }
    }

    /// <summary>Answers every pending "where are you?" with [Answer, collective number, waiting in it ? 1 : 0].</summary>
    private void AnswerProbes(int[] message)
    {
        int* reply = stackalloc int[3];
        while (true)
        {
            int flag;
            Status status;
            Check(iprobe(-1, ProbeTag, side, &flag, &status), "MPI_Iprobe");
            if (flag == 0) return;
            fixed (int* m = message) Check(recv(m, 3, mpiInt, status.Source, ProbeTag, side, null), "MPI_Recv");
            if (message[0] != Probe) continue; // an answer to a probe this rank no longer waits for
            bool waiting = currentCollective != null;
            long number = waiting ? Interlocked.Read(ref currentNumber) : Interlocked.Read(ref completed);
            (reply[0], reply[1], reply[2]) = (Answer, (int)number, waiting ? 1 : 0);
            Check(send(reply, 3, mpiInt, status.Source, ProbeTag, side), "MPI_Send");
        }
    }

    private void TimedOut(string name, long number, TimeSpan waited)
    {
        string detail = side == 0 ? "(the other ranks could not be asked: MPI without thread support)" : AskTheOthers(number);
        Abort(4, $"collective timeout: {name} of {Interlocked.Read(ref currentCount)} elements, collective #{number}, waited {waited.TotalSeconds:F0} s (limit {timeout.TotalSeconds:F0} s, " +
                 $"{CollectiveTimeout.EnvironmentVariable}); {detail}.");
    }

    /// <summary>Asks every other rank where it is for a few seconds; says who did not arrive at collective #number.</summary>
    private string AskTheOthers(long number)
    {
        var positions = new Dictionary<int, (long Number, bool Waiting)>();
        int* probe = stackalloc int[] { Probe, (int)number, 1 };
        int* reply = stackalloc int[] { Answer, (int)number, 1 }; // to another rank timing out too: this one waits here
        for (int r = 0; r < Size; r++)
            if (r != Rank) Check(send(probe, 3, mpiInt, r, ProbeTag, side), "MPI_Send");
        var message = new int[3];
        var clock = Stopwatch.StartNew();
        var grace = TimeSpan.FromSeconds(Math.Clamp(timeout.TotalSeconds / 4, 1, 10));
        while (positions.Count < Size - 1 && clock.Elapsed < grace)
        {
            int flag;
            Status status;
            Check(iprobe(-1, ProbeTag, side, &flag, &status), "MPI_Iprobe");
            if (flag == 0)
            {
                Thread.Sleep(10);
                continue;
            }
            fixed (int* m = message) Check(recv(m, 3, mpiInt, status.Source, ProbeTag, side, null), "MPI_Recv");
            if (message[0] == Answer) positions[status.Source] = (message[1], message[2] != 0);
            else Check(send(reply, 3, mpiInt, status.Source, ProbeTag, side), "MPI_Send");
        }
        var missing = Enumerable.Range(0, Size)
            .Where(r => r != Rank && !(positions.TryGetValue(r, out var p) && p.Waiting && p.Number == number)).ToList();
        var parts = new List<string>
        {
            missing.Count == 0
                ? "every rank is waiting in it (a slow network or a collective too large for the limit?)"
                : $"ranks that did not arrive: {string.Join(", ", missing)}",
        };
        foreach (int r in missing)
            parts.Add(positions.TryGetValue(r, out var p)
                ? $"rank {r} is {(p.Waiting ? "waiting in" : "past")} collective #{p.Number}"
                : $"rank {r} did not answer in {grace.TotalSeconds:F0} s (stopped, hung or dead)");
        var with = positions.Where(kv => kv.Value.Waiting && kv.Value.Number == number).Select(kv => kv.Key).Append(Rank).Order();
        parts.Add($"waiting in it: ranks {string.Join(", ", with)}");
        return string.Join("; ", parts);
    }

    /// <summary>Open MPI's MPI_Status: source, tag, error, then private fields.</summary>
    private struct Status
    {
        public int Source, Tag, Error, Cancelled;
        public nuint Count;
    }
}
