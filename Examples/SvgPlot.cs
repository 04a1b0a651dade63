using System.Globalization;
using System.Text;

namespace Examples;

/// <summary>
/// A minimal SVG line chart: panels side by side, each with named series of (x, y) points, ticked and labelled axes,
/// optional vertical markers, and a legend below the plot area so it never covers the data.
/// </summary>
public static class SvgPlot
{
    private static readonly string[] Colours = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd" };

    /// <summary>A vertical line at <paramref name="X"/> with a label, e.g. where a concept changes.</summary>
    public readonly record struct Marker(double X, string Label);

    public static string Panels(params (string Title, string XLabel, (string Name, IReadOnlyList<(double X, double Y)> Points)[] Series)[] panels) =>
        Panels(panels.Select(p => (p.Title, p.XLabel, p.Series, Array.Empty<Marker>())).ToArray());

    public static string Panels(
        params (string Title, string XLabel, (string Name, IReadOnlyList<(double X, double Y)> Points)[] Series, Marker[] Markers)[] panels)
    {
        const int w = 520, left = 64, right = 24, top = 36, plotHeight = 240, legendLine = 18;
        int legendRows = panels.Max(p => p.Series.Length + p.Markers.Length);
        int h = top + plotHeight + 44 + legendRows * legendLine + 8;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg xmlns='http://www.w3.org/2000/svg' width='{w * panels.Length}' height='{h}' font-family='sans-serif' font-size='12'>");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width='{w * panels.Length}' height='{h}' fill='white'/>");
        for (int p = 0; p < panels.Length; p++)
        {
            var (title, xLabel, series, markers) = panels[p];
            var all = series.SelectMany(s => s.Points).ToList();
            if (all.Count == 0) continue;
            double x0 = Math.Min(all.Min(v => v.X), markers.Length > 0 ? markers.Min(m => m.X) : double.MaxValue);
            double x1 = Math.Max(all.Max(v => v.X), markers.Length > 0 ? markers.Max(m => m.X) : double.MinValue);
            double y0 = all.Min(v => v.Y), y1 = all.Max(v => v.Y);
            if (x1 == x0) x1 = x0 + 1;
            if (y1 == y0) y1 = y0 + 1;
            int px = p * w + left, pw = w - left - right, bottom = top + plotHeight;
            double Sx(double x) => px + (x - x0) / (x1 - x0) * pw;
            double Sy(double y) => bottom - (y - y0) / (y1 - y0) * plotHeight;
            svg.Append(CultureInfo.InvariantCulture, $"<text x='{px + pw / 2}' y='20' text-anchor='middle' font-weight='bold'>{title}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x='{px}' y='{top}' width='{pw}' height='{plotHeight}' fill='none' stroke='black'/>");
            foreach (double t in Ticks(x0, x1))
            {
                svg.Append(CultureInfo.InvariantCulture, $"<line x1='{Sx(t):F1}' y1='{bottom}' x2='{Sx(t):F1}' y2='{bottom + 5}' stroke='black'/>");
                svg.Append(CultureInfo.InvariantCulture, $"<text x='{Sx(t):F1}' y='{bottom + 18}' text-anchor='middle'>{Label(t)}</text>");
            }
            foreach (double t in Ticks(y0, y1))
            {
                svg.Append(CultureInfo.InvariantCulture, $"<line x1='{px - 5}' y1='{Sy(t):F1}' x2='{px}' y2='{Sy(t):F1}' stroke='black'/>");
                svg.Append(CultureInfo.InvariantCulture, $"<line x1='{px}' y1='{Sy(t):F1}' x2='{px + pw}' y2='{Sy(t):F1}' stroke='#e0e0e0'/>");
                svg.Append(CultureInfo.InvariantCulture, $"<text x='{px - 8}' y='{Sy(t) + 4:F1}' text-anchor='end'>{Label(t)}</text>");
            }
            svg.Append(CultureInfo.InvariantCulture, $"<text x='{px + pw / 2}' y='{bottom + 36}' text-anchor='middle'>{xLabel}</text>");
            int row = 0;
            for (int s = 0; s < series.Length; s++, row++)
            {
                var pts = string.Join(" ", series[s].Points.Select(v => string.Create(CultureInfo.InvariantCulture, $"{Sx(v.X):F1},{Sy(v.Y):F1}")));
                string colour = Colours[s % Colours.Length];
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{pts}'/>");
                LegendEntry(svg, px, bottom + 44 + row * legendLine, colour, dashed: false, series[s].Name);
            }
            foreach (var m in markers)
            {
                svg.Append(CultureInfo.InvariantCulture,
                    $"<line x1='{Sx(m.X):F1}' y1='{top}' x2='{Sx(m.X):F1}' y2='{bottom}' stroke='#555' stroke-dasharray='4 3'/>");
                LegendEntry(svg, px, bottom + 44 + row++ * legendLine, "#555", dashed: true, $"{m.Label} ({Label(m.X)})");
            }
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    private static void LegendEntry(StringBuilder svg, int x, int y, string colour, bool dashed, string name)
    {
        svg.Append(CultureInfo.InvariantCulture,
            $"<line x1='{x}' y1='{y}' x2='{x + 24}' y2='{y}' stroke='{colour}' stroke-width='2'{(dashed ? " stroke-dasharray='4 3'" : "")}/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x='{x + 30}' y='{y + 4}'>{System.Security.SecurityElement.Escape(name)}</text>");
    }

    /// <summary>At most about five round tick values (1, 2 or 5 × 10ᵏ apart) within [lo, hi].</summary>
    public static IEnumerable<double> Ticks(double lo, double hi)
    {
        double raw = (hi - lo) / 5, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw))), n = raw / magnitude;
        double step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * magnitude;
        for (double t = Math.Ceiling(lo / step) * step; t <= hi + step * 1e-9; t += step)
            yield return Math.Abs(t) < step * 1e-9 ? 0 : t;
    }

    private static string Label(double v) =>
        Math.Abs(v) >= 1000 ? (v / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "k" : v.ToString("G4", CultureInfo.InvariantCulture);
}
