using System.Diagnostics;

namespace Engine.Tests.Distributed;

/// <summary>
/// Runs the Examples app under <c>mpirun -np N</c> (Debian's Open MPI, shared memory only, oversubscription allowed,
/// root allowed as in CI), with a hard time limit after which the whole job is killed; skips the test where Open MPI
/// is not installed.
/// </summary>
public static class MpiJob
{
    public sealed record Outcome(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed);

    private static readonly Lazy<string?> Mpirun = new(() =>
        new[] { "/usr/bin/mpirun", "/usr/local/bin/mpirun" }.FirstOrDefault(File.Exists));

    public static Outcome Run(int ranks, TimeSpan limit, params string[] args) =>
        RunWith(new Dictionary<string, string>(), ranks, limit, args);

    /// <summary><see cref="Run"/> with environment variables set for every rank (e.g. ENGINE_COLLECTIVE_TIMEOUT).</summary>
    public static Outcome RunWith(IReadOnlyDictionary<string, string> environment, int ranks, TimeSpan limit, params string[] args)
    {
        if (Mpirun.Value == null) Assert.Skip("Open MPI is not installed here (apt-get install openmpi-bin; .ci/run installs it).");
        var info = new ProcessStartInfo(Mpirun.Value!)
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        // --oversubscribe: more ranks than cores (the 4-rank tests on 2 cores), under Open MPI 4 and 5 alike.
        foreach (var a in new[] { "--oversubscribe", "-np", ranks.ToString() }) info.ArgumentList.Add(a);
        string host = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(host);
            info.ArgumentList.Add("exec");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Examples.dll"));
        }
        else
        {
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "Examples.exe" : "Examples"));
        }
        foreach (var a in args) info.ArgumentList.Add(a);
        info.ArgumentList.Add("--device");
        info.ArgumentList.Add(TestDevice.Instance.Kind);
        info.Environment["CI"] = "true";
        info.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        info.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        info.Environment["OMPI_MCA_btl"] = "self,vader";
        info.Environment["OMPI_MCA_rmaps_base_oversubscribe"] = "1";
        foreach (var (name, value) in environment) info.Environment[name] = value;
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} {string.Join(' ', args)} did not end within {limit.TotalSeconds} s.");
        }
        p.WaitForExit();
        return new Outcome(p.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }
}
