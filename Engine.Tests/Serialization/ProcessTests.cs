using System.Diagnostics;
using Examples;

namespace Engine.Tests.Serialization;

/// <summary>
/// Checkpoints across processes, with the Examples app's <c>soak</c> command as the child: resuming in a new
/// process equals an uninterrupted run, and a child killed with SIGKILL at random moments, mid-save included,
/// always leaves a complete checkpoint.
/// </summary>
public class ProcessTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("engine-proc-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static Process StartSoak(params string[] args) => ExamplesProcess.Start("soak", args);

    private static string RunSoak(params string[] args) => ExamplesProcess.Run("soak", args);

    private static string Digest(string output) =>
        output.Split('\n').Single(l => l.StartsWith("params-sha256 ", StringComparison.Ordinal))["params-sha256 ".Length..].Trim();

    [Fact]
    public void Resuming_in_a_fresh_process_equals_an_uninterrupted_run()
    {
        string path = Path.Combine(folder, "soak.safetensors");
        string straight = RunSoak("--steps", "300", "--report-every", "300");
        string first = RunSoak("--steps", "150", "--report-every", "150", "--checkpoint", path, "--save-every", "150");
        string second = RunSoak("--steps", "300", "--report-every", "300", "--checkpoint", path, "--save-every", "150", "--resume");
        Assert.Contains("resumed from", second);
        Assert.NotEqual(Digest(first), Digest(straight));
        Assert.Equal(Digest(straight), Digest(second));
    }

    [Fact]
    public void A_process_killed_at_random_moments_always_leaves_a_complete_checkpoint()
    {
        string path = Path.Combine(folder, "killed.safetensors");
        var rng = new Random(2026);
        long previous = -1;
        int advanced = 0;
        for (int round = 0; round < 10; round++)
        {
            // Saves after every sample, so about half of the child's time is spent inside a save.
            var before = File.Exists(path) ? File.GetLastWriteTimeUtc(path) : DateTime.MinValue;
            using var child = StartSoak("--steps", "100000000", "--report-every", "100000000", "--checkpoint", path,
                "--save-every", "1", "--resume");
            _ = child.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            _ = child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            var clock = Stopwatch.StartNew();
            // Wait for this child's first save (after its start-up and resume), then kill it a random moment later.
            while ((!File.Exists(path) || File.GetLastWriteTimeUtc(path) == before) && !child.HasExited &&
                   clock.Elapsed < TimeSpan.FromMinutes(1))
                Thread.Sleep(5);
            Thread.Sleep(rng.Next(50, 700));
            Assert.False(child.HasExited, $"the soak child exited early with {(child.HasExited ? child.ExitCode : 0)}");
            child.Kill(); // SIGKILL on Unix: no finally blocks, no flushing
            child.WaitForExit();

            using var dev = Device.Create(TestDevice.Instance.Kind);
            var (model, adam, online) = SoakJob.Create(dev);
            using (model)
            using (adam)
            using (online)
            {
                // Load checks the SHA-256 over every tensor and metadata entry: a torn or mixed file fails here.
                long samples = online.LoadCheckpoint(path);
                Assert.True(samples >= previous, $"round {round}: checkpoint went back from {previous} to {samples}");
                if (samples > previous) advanced++;
                previous = samples;
            }
            Assert.True(Directory.GetFiles(folder).Length <= 2, "temporary files pile up: " +
                string.Join(", ", Directory.GetFiles(folder).Select(Path.GetFileName)));
        }
        Assert.True(advanced >= 8, $"only {advanced} of 10 rounds saved progress");
    }
}
