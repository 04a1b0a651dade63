using System.Diagnostics;

namespace Engine.Tests;

/// <summary>Runs the Examples app as a child process, the way this test process was started (dotnet host or apphost).</summary>
public static class ExamplesProcess
{
    /// <summary>Starts <c>Examples command args… --device (the test device)</c> with CI=true and redirected output.</summary>
    public static Process Start(string command, params string[] args) => Start(addDevice: true, command, args);

    /// <summary>Runs <c>Examples args…</c> exactly as given (no device added) and returns its exit code and output.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunAsGiven(params string[] args)
    {
        using var p = Start(addDevice: false, args[0], args[1..]);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), $"{string.Join(' ', args)} did not finish in 3 minutes");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static Process Start(bool addDevice, string command, string[] args)
    {
        string host = Environment.ProcessPath!;
        var info = Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? new ProcessStartInfo(host) { ArgumentList = { "exec", Path.Combine(AppContext.BaseDirectory, "Examples.dll") } }
            : new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "Examples.exe" : "Examples"));
        info.ArgumentList.Add(command);
        foreach (var a in args) info.ArgumentList.Add(a);
        if (addDevice)
        {
            info.ArgumentList.Add("--device");
            info.ArgumentList.Add(TestDevice.Instance.Kind);
        }
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.Environment["CI"] = "true";
        return Process.Start(info)!;
    }

    /// <summary>Runs a command to its end (at most 3 minutes), asserts exit code 0 and returns its standard output.</summary>
    public static string Run(string command, params string[] args) => RunWithin(TimeSpan.FromMinutes(3), command, args);

    /// <summary>The same with another time limit (a training command on ILGPU's CPU accelerator, whose every kernel
    /// launch is a rendezvous of OS threads, needs minutes on a loaded 2-core machine where the SIMD backend needs
    /// seconds).</summary>
    public static string RunWithin(TimeSpan limit, string command, params string[] args)
    {
        using var p = Start(command, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{command} did not finish in {limit.TotalMinutes:0.#} minutes");
        }
        Assert.True(p.ExitCode == 0, $"{command} exited {p.ExitCode}: {stdout.Result}{stderr.Result}");
        return stdout.Result;
    }
}
