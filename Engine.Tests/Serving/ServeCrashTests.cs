using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Engine.Tests.Serving;

/// <summary>
/// The real serve process: killed with SIGKILL after acknowledging learns (and with a torn, unacknowledged record
/// left at the end of its log), restarted on the same state, it holds bit for bit the model of a server that was
/// never killed and learned the same requests; SIGTERM stops a server gracefully with a final checkpoint.
/// </summary>
public sealed class ServeCrashTests : IDisposable
{
    private const string Token = "crash-test-token";
    private readonly string stateA = Directory.CreateTempSubdirectory("engine-serve-a-").FullName;
    private readonly string stateB = Directory.CreateTempSubdirectory("engine-serve-b-").FullName;
    private readonly List<Process> processes = new();

    public void Dispose()
    {
        foreach (var p in processes)
        {
            if (!p.HasExited) p.Kill();
            p.Dispose();
        }
        Directory.Delete(stateA, recursive: true);
        Directory.Delete(stateB, recursive: true);
    }

    private sealed record Server(Process Process, HttpClient Client, StringBuilder Output);

    /// <summary>POSIX kill(2): sends <paramref name="signal"/> (15 = SIGTERM) without needing a kill binary.</summary>
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task<Server> Start(string state, long checkpointEvery, params string[] more)
    {
        int port = FreePort();
        var p = ExamplesProcess.Start("serve", ["--port", port.ToString(), "--token", Token, "--state", state,
            "--checkpoint-every", checkpointEvery.ToString(), .. more]);
        processes.Add(p);
        var output = new StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(p.HasExited, $"serve exited early: {output}");
            try
            {
                if ((await client.GetAsync("/health", TestContext.Current.CancellationToken)).IsSuccessStatusCode) break;
            }
            catch (HttpRequestException)
            {
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"serve did not answer /health in 60 s: {output}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return new Server(p, client, output);
    }

    private static async Task<JsonElement> Metrics(Server s) =>
        JsonDocument.Parse(await s.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken)).RootElement.Clone();

    private static Task<byte[]> Model(Server s) => s.Client.GetByteArrayAsync("/model", TestContext.Current.CancellationToken);

    [Fact]
    public async Task After_kill_9_and_a_restart_the_model_equals_a_server_that_was_never_killed()
    {
        var a = await Start(stateA, checkpointEvery: 25);
        var b = await Start(stateB, checkpointEvery: 1_000_000);
        long total = 0;
        for (int i = 0; i < 40; i++)
        {
            int rows = 1 + i % 3;
            string body = ServeTestHost.LearnBody(i, rows);
            foreach (var s in new[] { a, b })
            {
                var r = await s.Client.PostAsync("/learn", new StringContent(body, Encoding.UTF8, "application/json"),
                    TestContext.Current.CancellationToken);
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }
            total += rows;
        }
        Assert.True((await Metrics(a)).GetProperty("checkpoints").GetInt64() >= 2);

        a.Process.Kill(); // SIGKILL: no shutdown code runs
        Assert.True(a.Process.WaitForExit(10_000));
        // A crash in the middle of appending leaves a torn record that was never acknowledged.
        string tail = Directory.GetFiles(Path.Combine(stateA, "log")).Order().Last();
        using (var f = new FileStream(tail, FileMode.Append))
            f.Write(new byte[] { 0x4C, 0x52, 0x4E, 0x31, 0xE8, 0x03, 0, 0, 1, 2, 3 }); // magic, length 1000, 3 bytes

        var restarted = await Start(stateA, checkpointEvery: 25);
        var metrics = await Metrics(restarted);
        Assert.Equal(total, metrics.GetProperty("stream_position").GetInt64());
        Assert.Equal(total, metrics.GetProperty("samples_learned").GetInt64());
        Assert.Equal(1, metrics.GetProperty("torn_log_records_dropped").GetInt32());
        Assert.True(metrics.GetProperty("replayed_samples").GetInt64() > 0, "some learns came from the log, after the last checkpoint");
        Assert.Contains("torn (unacknowledged) record dropped", restarted.Output.ToString());
        Assert.Equal(await Model(b), await Model(restarted));
        Assert.Equal((await Metrics(b)).GetProperty("progressive_accuracy").GetDouble(), metrics.GetProperty("progressive_accuracy").GetDouble());

        // SIGTERM: a graceful stop with a final checkpoint at the last sample.
        Assert.Equal(0, Kill(b.Process.Id, 15));
        Assert.True(b.Process.WaitForExit(20_000), "serve did not stop within 20 s of SIGTERM");
        b.Process.WaitForExit();
        Assert.Equal(0, b.Process.ExitCode);
        Assert.Contains($"stopped: checkpoint at sample {total}", b.Output.ToString());
        Assert.True(File.Exists(Path.Combine(stateB, "checkpoint.safetensors")));
    }

    /// <summary>serve on <paramref name="state"/> run to its end: it must refuse to start.</summary>
    private static (int ExitCode, string Stdout, string Stderr) RunRefused(string state) =>
        ExamplesProcess.RunAsGiven("serve", "--port", FreePort().ToString(), "--token", Token, "--state", state,
            "--device", TestDevice.Instance.Kind);

    private static async Task Learn(Server s, string body)
    {
        var r = await s.Client.PostAsync("/learn", new StringContent(body, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task A_flipped_bit_in_record_31_of_60_stops_the_start_with_one_line_and_exit_2_and_salvage_starts_with_the_other_59()
    {
        var a = await Start(stateA, checkpointEvery: 1_000_000);
        for (int i = 0; i < 60; i++) await Learn(a, ServeTestHost.LearnBody(i, 1));
        a.Process.Kill();
        Assert.True(a.Process.WaitForExit(10_000));
        string segment = Directory.GetFiles(Path.Combine(stateA, "log")).Single();
        var bytes = File.ReadAllBytes(segment);
        int recordBytes = bytes.Length / 60, at = 30 * recordBytes; // one 784-feature sample per record
        bytes[at + 100] ^= 0x04;
        File.WriteAllBytes(segment, bytes);

        var (exit, _, stderr) = RunRefused(stateA);
        Assert.Equal(2, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: learn log ", line);
        Assert.Contains(segment, line);
        Assert.Contains($"record 31 at byte {at} is corrupt (CRC-32C mismatch) and 29 complete record(s) follow it", line);
        Assert.Equal(bytes, File.ReadAllBytes(segment)); // nothing truncated

        var salvaged = await Start(stateA, 1_000_000, "--salvage");
        var metrics = await Metrics(salvaged);
        Assert.Equal(60, metrics.GetProperty("stream_position").GetInt64());
        Assert.Equal(59, metrics.GetProperty("samples_learned").GetInt64());
        Assert.Equal(1, metrics.GetProperty("salvage_lost_samples").GetInt64());
        Assert.Equal(60, metrics.GetProperty("checkpoint_sample").GetInt64()); // saved at once: the gap is out of the log
        Assert.Contains("salvage: salvaged ", salvaged.Output.ToString());
        Assert.Contains("samples 30–30 are lost", salvaged.Output.ToString());
        Assert.Single(Directory.GetFiles(Path.Combine(stateA, "log"), "*.corrupt-*"));
        await Learn(salvaged, ServeTestHost.LearnBody(99, 2));
        salvaged.Process.Kill();
        Assert.True(salvaged.Process.WaitForExit(10_000));

        var plain = await Start(stateA, 1_000_000); // a plain restart after the salvage
        Assert.Equal(62, (await Metrics(plain)).GetProperty("stream_position").GetInt64());
    }

    [Fact]
    public async Task A_missing_checkpoint_with_a_log_after_it_is_one_line_and_exit_2_not_a_stack_trace()
    {
        var a = await Start(stateA, checkpointEvery: 5);
        for (int i = 0; i < 3; i++) await Learn(a, ServeTestHost.LearnBody(i, 3));
        Assert.True((await Metrics(a)).GetProperty("checkpoints").GetInt64() >= 1);
        a.Process.Kill();
        Assert.True(a.Process.WaitForExit(10_000));
        File.Delete(Path.Combine(stateA, "checkpoint.safetensors"));

        var (exit, _, stderr) = RunRefused(stateA);
        Assert.Equal(2, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: serve: ", line);
        Assert.Contains("checkpoint.safetensors is missing", line);
    }

    /// <summary>Runs a program to its end; its exit code.</summary>
    private static int RunTool(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(info)!;
            p.WaitForExit();
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1; // no such program
        }
    }

    /// <summary>
    /// A real full disk (an 8 MB tmpfs as the state folder; needs root, as CI runs): learns refused while it is full
    /// leave no bytes, a checkpoint that cannot be written answers 507 and the server goes on, and once space returns
    /// the learns continue; after kill -9 the restart holds exactly the acknowledged learns, bit for bit the model of
    /// a twin on an ordinary disk that got only those.
    /// </summary>
    [Fact]
    public async Task On_a_full_disk_refused_learns_leave_nothing_a_failed_checkpoint_is_survived_and_kill_9_loses_nothing()
    {
        string small = Path.Combine(stateA, "tmpfs");
        Directory.CreateDirectory(small);
        if (RunTool("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small) != 0)
        {
            Assert.Skip("mounting a small tmpfs needs root (CI runs as root)");
            return;
        }
        try
        {
            string state = Path.Combine(small, "state");
            var a = await Start(state, checkpointEvery: 1_000_000);
            var b = await Start(stateB, checkpointEvery: 1_000_000);
            long acknowledged = 0;
            async Task BothLearn(int seed, int rows)
            {
                string body = ServeTestHost.LearnBody(seed, rows);
                foreach (var s in new[] { a, b }) await Learn(s, body);
                acknowledged += rows;
            }
            for (int i = 0; i < 8; i++) await BothLearn(i, 1 + i % 3);

            string filler = Path.Combine(small, "filler");
            using (var f = new FileStream(filler, FileMode.Create))
            {
                var chunk = new byte[64 << 10];
                try
                {
                    while (true) f.Write(chunk);
                }
                catch (IOException)
                {
                    // the disk is full
                }
            }
            string segment = Directory.GetFiles(Path.Combine(state, "log")).Order().Last();
            long logBytes = new FileInfo(segment).Length;
            for (int i = 0; i < 4; i++)
            {
                var r = await a.Client.PostAsync("/learn", new StringContent(ServeTestHost.LearnBody(100 + i, 2), Encoding.UTF8,
                    "application/json"), TestContext.Current.CancellationToken);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
                Assert.Contains("nothing was learned", await r.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            }
            Assert.Equal(logBytes, new FileInfo(segment).Length); // the refused learns left no bytes
            var checkpoint = await a.Client.PostAsync("/checkpoint", null, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.InsufficientStorage, checkpoint.StatusCode);
            Assert.Contains("\"error\":\"the checkpoint could not be written",
                await checkpoint.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            Assert.True((await Metrics(a)).GetProperty("checkpoint_failures").GetInt64() >= 1);

            File.Delete(filler); // space returns
            for (int i = 8; i < 14; i++) await BothLearn(i, 1 + i % 3);
            a.Process.Kill();
            Assert.True(a.Process.WaitForExit(10_000));

            var restarted = await Start(state, checkpointEvery: 1_000_000);
            var metrics = await Metrics(restarted);
            Assert.Equal(acknowledged, metrics.GetProperty("stream_position").GetInt64());
            Assert.Equal(acknowledged, metrics.GetProperty("samples_learned").GetInt64());
            Assert.Equal(await Model(b), await Model(restarted));
            restarted.Process.Kill();
            Assert.True(restarted.Process.WaitForExit(10_000));
        }
        finally
        {
            RunTool("umount", "-l", small);
        }
    }
}
