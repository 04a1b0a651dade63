using Engine;
using Engine.Distributed;

namespace Examples;

/// <summary>
/// Runs a command in the process layout <c>mpirun</c> set up (or as a world of one): the cores shared among this
/// machine's ranks, progress printed by rank 0 only, and any exception on any rank ending the whole job with a
/// message naming the rank (MPI_Abort) instead of leaving the others waiting.
/// </summary>
public static class DistributedRun
{
    public static int Run(Func<ICommunicator, int> command)
    {
        using var comm = Communicator.FromEnvironment();
        if (comm.Size == 1) return command(comm);
        Device.NumThreads = Math.Max(1, Environment.ProcessorCount / Communicator.LocalSize);
        Report.Quiet = comm.Rank != 0;
        comm.AbortOnUnhandledException();
        try
        {
            return command(comm);
        }
        catch (Exception e)
        {
            comm.Abort(e is ArgumentException or FileNotFoundException ? 2 : 3, $"{e.GetType().Name}: {e.Message}");
            return 3;
        }
    }
}
