using Engine.Kernels.Simd;

namespace Engine.Tests.Simd;

public class WorkerPoolTests
{
    private sealed class Count(int parts) : IParallelWork
    {
        public readonly int[] Runs = new int[parts];
        public readonly int[] Threads = new int[parts];

        public void Execute(int part, int count)
        {
            Assert.Equal(Runs.Length, count);
            Interlocked.Increment(ref Runs[part]);
            Threads[part] = Environment.CurrentManagedThreadId;
        }
    }

    private sealed class Throwing : IParallelWork
    {
        public void Execute(int part, int count)
        {
            if (part == 3) throw new InvalidOperationException("part 3 failed");
        }
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 17)]
    public void Every_part_runs_exactly_once(int threads, int parts)
    {
        var pool = new WorkerPool(threads);
        for (int round = 0; round < 200; round++)
        {
            var job = new Count(parts);
            pool.Run(job, parts);
            Assert.All(job.Runs, r => Assert.Equal(1, r));
        }
    }

    [Fact]
    public void A_failing_part_rethrows_on_the_caller_and_the_pool_keeps_working()
    {
        var pool = new WorkerPool(2);
        var e = Assert.Throws<InvalidOperationException>(() => pool.Run(new Throwing(), 6));
        Assert.Equal("part 3 failed", e.Message);
        var job = new Count(4);
        pool.Run(job, 4);
        Assert.All(job.Runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void One_thread_runs_everything_on_the_caller()
    {
        var job = new Count(3);
        new WorkerPool(1).Run(job, 3);
        Assert.All(job.Threads, t => Assert.Equal(Environment.CurrentManagedThreadId, t));
    }
}
