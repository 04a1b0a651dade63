using System.Diagnostics;

namespace Engine.Tests;

/// <summary>
/// The other direction of the PyTorch fixtures: modules the engine initialised itself are saved as safetensors and
/// loaded by PyTorch (Golden/load_engine_state_dicts.py: <c>load_state_dict(strict=True)</c>, then the same inputs
/// must give the engine's outputs). Skipped, saying why, where /usr/bin/python3 has no torch.
/// </summary>
public static class TorchLoadsEngineState
{
    private static readonly Lazy<bool> TorchThere = new(() =>
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", "-c \"import torch\"")
                { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit(60_000);
            return p.HasExited && p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    });

    /// <summary>
    /// Calls <paramref name="write"/>(name, module's file, output's file) through <paramref name="save"/> for each case,
    /// then has PyTorch load and run them all against <paramref name="fixture"/>'s configurations.
    /// </summary>
    public static void Check(string fixture, Action<Func<string, (string Weights, string Output)>> save)
    {
        if (!TorchThere.Value)
            Assert.Skip("PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch): the check that " +
                        "PyTorch loads the engine's state dicts did not run.");
        string folder = Path.Combine(Path.GetTempPath(), $"torch-loads-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            save(name => (Path.Combine(folder, name + ".safetensors"), Path.Combine(folder, name + ".output")));
            string script = Path.Combine(AppContext.BaseDirectory, "Golden", "load_engine_state_dicts.py");
            var info = new ProcessStartInfo("/usr/bin/python3")
            {
                ArgumentList = { script, Path.Combine(AppContext.BaseDirectory, "Golden", fixture), folder },
                RedirectStandardOutput = true, RedirectStandardError = true,
            };
            info.Environment["OMP_NUM_THREADS"] = "1";
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            Assert.True(p.WaitForExit(300_000), "load_engine_state_dicts.py did not finish in 5 minutes");
            Assert.True(p.ExitCode == 0, $"PyTorch could not load or reproduce the engine's modules:\n{stdout.Result}{stderr.Result}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// Runs Golden/<paramref name="script"/> with <paramref name="arguments"/> under /usr/bin/python3 and fails with its
    /// output unless it exits 0; skips, saying why, where there is no torch.
    /// </summary>
    public static void RunScript(string script, params string[] arguments)
    {
        if (!TorchThere.Value)
            Assert.Skip($"PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch): {script} did not run.");
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Golden", script));
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(300_000), $"{script} did not finish in 5 minutes");
        Assert.True(p.ExitCode == 0, $"{script} failed:\n{stdout.Result}{stderr.Result}");
    }

    /// <summary>A tensor's values as raw little-endian float32 (what the script reads as the engine's output).</summary>
    public static void WriteFloats(string path, Tensor t)
    {
        var values = t.ToArray();
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        File.WriteAllBytes(path, bytes);
    }
}
