using System.Runtime.InteropServices;

namespace Engine.Serialization;

/// <summary>
/// Replaces a file so that a reader — or a process restarted after a crash — sees either the old contents or the
/// new, never a mixture: the new contents go to a temporary file in the same folder, are flushed to the disk
/// (fsync), and the temporary is renamed over the target (an atomic rename on POSIX file systems and NTFS); on
/// POSIX the folder is then fsynced so the rename itself survives a power cut.
/// </summary>
public static class AtomicFile
{
    /// <summary>Temporary files are named <c>{file}.tmp-{pid}-{random}</c>.</summary>
    public const string TemporaryInfix = ".tmp-";

    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        RemoveStaleTemporaries(full);
        string temporary = $"{full}{TemporaryInfix}{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None,
                       bufferSize: 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        FlushFolder(folder);
    }

    /// <summary>
    /// Deletes temporaries left by writers of this file that died mid-write (their process no longer runs).
    /// </summary>
    private static void RemoveStaleTemporaries(string full)
    {
        string folder = Path.GetDirectoryName(full)!;
        string prefix = Path.GetFileName(full) + TemporaryInfix;
        foreach (var candidate in Directory.EnumerateFiles(folder, prefix + "*"))
        {
            var rest = Path.GetFileName(candidate)[prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out int pid) || IsRunning(pid)) continue;
            try { File.Delete(candidate); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static void FlushFolder(string folder)
    {
        if (OperatingSystem.IsWindows()) return; // NTFS journals the rename; folders cannot be opened for fsync.
        int fd = Posix.open(folder, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try
        {
            Posix.fsync(fd);
        }
        finally
        {
            Posix.close(fd);
        }
    }

    private static class Posix
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
