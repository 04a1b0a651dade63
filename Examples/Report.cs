using Spectre.Console;

namespace Examples;

/// <summary>Console output: live progress bars when the console is interactive, plain lines otherwise (or with CI=true).</summary>
public static class Report
{
    public static bool Interactive =>
        !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null or "" or "false";

    /// <summary>Prints nothing (the ranks other than 0 of a distributed run).</summary>
    public static bool Quiet { get; set; }

    /// <summary>Runs <paramref name="work"/> with a progress reporter taking (done, total, description).</summary>
    public static T WithProgress<T>(string title, Func<Action<double, double, string>, T> work)
    {
        if (Quiet) return work((_, _, _) => { });
        if (!Interactive)
        {
            Console.WriteLine(title);
            double lastPrinted = -1;
            return work((done, total, text) =>
            {
                double pct = Math.Floor(10 * done / total);
                if (pct > lastPrinted) Console.WriteLine($"  {100 * done / total,5:F0}%  {text}");
                lastPrinted = pct;
            });
        }
        T result = default!;
        AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask(Markup.Escape(title));
            result = work((done, total, text) =>
            {
                task.MaxValue = total;
                task.Value = done;
                task.Description = Markup.Escape($"{title}  {text}");
            });
        });
        return result;
    }
}
