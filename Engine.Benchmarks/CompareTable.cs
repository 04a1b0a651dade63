using System.Globalization;
using System.Text;

namespace Engine.Benchmarks;

/// <summary>One workload measured in one round of <c>compare</c>: the engine and PyTorch in the same run.</summary>
/// <param name="Torch1Rate">PyTorch on 1 thread (CPU only), null where PyTorch is absent.</param>
/// <param name="TorchAllRate">PyTorch on all cores (or the GPU), null where PyTorch is absent.</param>
public sealed record RowMeasure(string Workload, string Unit, double EngineRate, double EngineMs, double? Torch1Rate,
    double? TorchAllRate, double? TorchMs, double? IlgpuRate)
{
    /// <summary>PyTorch's better figure of its runs (what the ratio is taken against).</summary>
    public double? TorchRate => (Torch1Rate, TorchAllRate) switch
    {
        (double a, double b) => Math.Max(a, b),
        (double a, null) => a,
        (null, double b) => b,
        _ => null,
    };

    /// <summary>Engine ÷ PyTorch's better figure; null without PyTorch.</summary>
    public double? Ratio => TorchRate is double t && t > 0 ? EngineRate / t : null;
}

/// <summary>One whole pass over the table, with the bandwidth ceiling and the load average around it.</summary>
/// <param name="CeilingGBs">the STREAM ceiling of that round (the best of copy, scale, add, triad past the caches), GB/s.</param>
public sealed record CompareRound(IReadOnlyList<RowMeasure> Rows, double? CeilingGBs, double? LoadBefore, double? LoadAfter);

/// <summary>A workload over all rounds: medians and the spread (min–max) of each figure.</summary>
public sealed record RowSummary(string Workload, string Unit, Spread Engine, Spread? Torch, Spread? Ratio,
    Spread? CeilingFraction, double? Torch1Median, double? TorchAllMedian, double? IlgpuMedian, double EngineMsMedian,
    double? TorchMsMedian)
{
    /// <summary>Rows in GB/s move memory: they are judged against the bandwidth ceiling as well as against PyTorch.</summary>
    public bool MemoryBound => CompareTable.IsMemoryBound(Unit);
}

/// <summary>The median of some figures and their range.</summary>
public readonly record struct Spread(double Median, double Min, double Max, int Count)
{
    public static Spread? Of(IEnumerable<double?> values)
    {
        var v = values.Where(x => x is double d && double.IsFinite(d)).Select(x => x!.Value).Order().ToArray();
        if (v.Length == 0) return null;
        double median = v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
        return new Spread(median, v[0], v[^1], v.Length);
    }
}

/// <summary>
/// The compare table from its rounds (pure: what <see cref="Compare"/> prints, writes and plots, tested on its own):
/// each figure is the median over the rounds with its spread, the ratio is taken per round (engine ÷ PyTorch's better
/// figure of that round) before its median is, and memory-bound rows (GB/s) also get the fraction of that round's
/// bandwidth ceiling they reach.
/// </summary>
public static class CompareTable
{
    public static bool IsMemoryBound(string unit) => unit == "GB/s";

    public static IReadOnlyList<RowSummary> Summarize(IReadOnlyList<CompareRound> rounds)
    {
        if (rounds.Count == 0) return Array.Empty<RowSummary>();
        var names = rounds.SelectMany(r => r.Rows).Select(r => r.Workload).Distinct().ToList();
        var summaries = new List<RowSummary>();
        foreach (var name in names)
        {
            var measures = rounds.Select(r => (Row: r.Rows.FirstOrDefault(x => x.Workload == name), r.CeilingGBs))
                .Where(m => m.Row != null).ToList();
            var first = measures[0].Row!;
            var engine = Spread.Of(measures.Select(m => (double?)m.Row!.EngineRate))!.Value;
            summaries.Add(new RowSummary(name, first.Unit, engine,
                Spread.Of(measures.Select(m => m.Row!.TorchRate)),
                Spread.Of(measures.Select(m => m.Row!.Ratio)),
                IsMemoryBound(first.Unit)
                    ? Spread.Of(measures.Select(m => m.CeilingGBs is double c && c > 0 ? m.Row!.EngineRate / c : (double?)null))
                    : null,
                Spread.Of(measures.Select(m => m.Row!.Torch1Rate))?.Median,
                Spread.Of(measures.Select(m => m.Row!.TorchAllRate))?.Median,
                Spread.Of(measures.Select(m => m.Row!.IlgpuRate))?.Median,
                Spread.Of(measures.Select(m => (double?)m.Row!.EngineMs))!.Value.Median,
                Spread.Of(measures.Select(m => m.Row!.TorchMs))?.Median));
        }
        return summaries;
    }

    private static string F(double? v) =>
        v is double d ? d.ToString(d >= 100 ? "F0" : d >= 1 ? "F2" : "F4", CultureInfo.InvariantCulture) : "–";

    private static string Range(Spread? s, string format, string suffix = "") => s is { Count: > 1 } r && r.Min != r.Max
        ? $" ({r.Min.ToString(format, CultureInfo.InvariantCulture)}–{r.Max.ToString(format, CultureInfo.InvariantCulture)}{suffix})"
        : "";

    /// <summary>The markdown table: one line per workload, medians over the rounds with their spread.</summary>
    public static string Markdown(IReadOnlyList<RowSummary> rows, IReadOnlyList<CompareRound> rounds, string machine,
        bool twoTorchRuns, bool ilgpu)
    {
        var b = new StringBuilder();
        b.AppendLine(machine).AppendLine();
        var ceiling = Spread.Of(rounds.Select(r => r.CeilingGBs));
        if (ceiling is { } c)
            b.AppendLine($"Bandwidth ceiling (STREAM on the engine's buffers, past the caches): {F(c.Median)} GB/s" +
                         Range(c, "F1", " GB/s") + ".").AppendLine();
        b.Append("| workload | unit | this engine |");
        b.Append(twoTorchRuns ? " PyTorch 1 thread | PyTorch all cores |" : " PyTorch |");
        b.Append(" engine / PyTorch | of the ceiling |");
        if (ilgpu) b.Append(" ILGPU CPU accelerator |");
        b.AppendLine(" engine ms/step | PyTorch ms/step |");
        int columns = 8 + (twoTorchRuns ? 1 : 0) + (ilgpu ? 1 : 0);
        b.AppendLine("|---|---|" + string.Concat(Enumerable.Repeat("---:|", columns - 2)));
        foreach (var r in rows)
        {
            b.Append($"| {r.Workload} | {r.Unit} | {F(r.Engine.Median)} |");
            b.Append(twoTorchRuns ? $" {F(r.Torch1Median)} | {F(r.TorchAllMedian)} |" : $" {F(r.Torch?.Median)} |");
            b.Append(r.Ratio is { } q ? $" {q.Median.ToString("F3", CultureInfo.InvariantCulture)}×{Range(q, "F2", "×")} |" : " – |");
            b.Append(r.CeilingFraction is { } f ? $" {f.Median.ToString("F2", CultureInfo.InvariantCulture)}{Range(f, "F2")} |" : " – |");
            if (ilgpu) b.Append($" {F(r.IlgpuMedian)} |");
            b.AppendLine($" {F(r.EngineMsMedian)} | {F(r.TorchMsMedian)} |");
        }
        b.AppendLine();
        static string L(double? v) => v?.ToString("F2", CultureInfo.InvariantCulture) ?? "?";
        var loads = rounds.Select(r => $"{L(r.LoadBefore)}→{L(r.LoadAfter)}");
        b.AppendLine($"{rounds.Count} round(s) of the whole table; figures are medians, ranges in parentheses. Rates: higher " +
                     "is better; the ratio is engine ÷ PyTorch" + (twoTorchRuns ? "'s better figure of its two runs" : "") +
                     ", per round. \"Of the ceiling\": the bytes a memory-bound row moves per second ÷ that round's " +
                     "bandwidth ceiling. Load average before→after each round: " + string.Join(", ", loads) + "." +
                     (ilgpu ? " The ILGPU CPU accelerator column is the same engine on `ilgpu-cpu`, ILGPU's GPU simulator." : ""));
        return b.ToString();
    }

    /// <summary>
    /// An SVG bar chart of engine ÷ PyTorch per workload on a log scale (the 1× line marked; bars right of it are wins),
    /// the spread over the rounds as a whisker, and for memory-bound rows the fraction of the ceiling beside the bar.
    /// </summary>
    public static string Svg(IReadOnlyList<RowSummary> rows, string title)
    {
        var plotted = rows.Where(r => r.Ratio != null).ToList();
        const int left = 150, right = 120, top = 40, bar = 18, gap = 6, width = 720;
        int height = top + plotted.Count * (bar + gap) + 40;
        double lo = Math.Min(0.25, plotted.Select(r => r.Ratio!.Value.Min).DefaultIfEmpty(1).Min() / 1.2);
        double hi = Math.Max(4, plotted.Select(r => r.Ratio!.Value.Max).DefaultIfEmpty(1).Max() * 1.2);
        double X(double ratio) => left + (Math.Log(ratio) - Math.Log(lo)) / (Math.Log(hi) - Math.Log(lo)) * (width - left - right);
        string N(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        var s = new StringBuilder();
        s.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">");
        s.AppendLine($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        s.AppendLine($"<text x=\"{left}\" y=\"20\" font-size=\"14\">{Escape(title)}</text>");
        foreach (double tick in new[] { 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64 }.Where(t => t >= lo && t <= hi))
        {
            s.AppendLine($"<line x1=\"{N(X(tick))}\" y1=\"{top - 6}\" x2=\"{N(X(tick))}\" y2=\"{height - 30}\" " +
                         $"stroke=\"{(tick == 1 ? "black" : "#ddd")}\" stroke-width=\"{(tick == 1 ? 1.5 : 1)}\"/>");
            s.AppendLine($"<text x=\"{N(X(tick))}\" y=\"{height - 14}\" text-anchor=\"middle\">{tick.ToString(CultureInfo.InvariantCulture)}×</text>");
        }
        for (int i = 0; i < plotted.Count; i++)
        {
            var r = plotted[i];
            var q = r.Ratio!.Value;
            double y = top + i * (bar + gap);
            double x0 = X(1), x1 = X(q.Median);
            string color = q.Median >= 1 ? "#2a7ab0" : "#d0603a";
            s.AppendLine($"<text x=\"{left - 6}\" y=\"{N(y + bar - 5)}\" text-anchor=\"end\">{Escape(r.Workload)}</text>");
            s.AppendLine($"<rect x=\"{N(Math.Min(x0, x1))}\" y=\"{N(y)}\" width=\"{N(Math.Abs(x1 - x0))}\" height=\"{bar}\" fill=\"{color}\"/>");
            if (q.Count > 1)
                s.AppendLine($"<line x1=\"{N(X(q.Min))}\" y1=\"{N(y + bar / 2.0)}\" x2=\"{N(X(q.Max))}\" y2=\"{N(y + bar / 2.0)}\" stroke=\"black\"/>");
            string label = q.Median.ToString("F2", CultureInfo.InvariantCulture) + "×" +
                           (r.CeilingFraction is { } f ? $", {f.Median.ToString("F2", CultureInfo.InvariantCulture)} of ceiling" : "");
            s.AppendLine($"<text x=\"{N(Math.Max(x0, x1) + 4)}\" y=\"{N(y + bar - 5)}\">{Escape(label)}</text>");
        }
        s.AppendLine("</svg>");
        return s.ToString();
    }

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
