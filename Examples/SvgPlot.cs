using System.Globalization;
using System.Text;

namespace Examples;

/// <summary>A minimal SVG line chart: named series of (x, y) points in one panel, with axes and a legend.</summary>
public static class SvgPlot
{
    private static readonly string[] Colours = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd" };

    public static string Panels(params (string Title, string XLabel, (string Name, IReadOnlyList<(double X, double Y)> Points)[] Series)[] panels)
    {
        const int w = 480, h = 320, pad = 48;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns='http://www.w3.org/2000/svg' width='{w * panels.Length}' height='{h}' font-family='sans-serif' font-size='12'>");
        for (int p = 0; p < panels.Length; p++)
        {
            var (title, xLabel, series) = panels[p];
            var all = series.SelectMany(s => s.Points).ToList();
            if (all.Count == 0) continue;
            double x0 = all.Min(v => v.X), x1 = all.Max(v => v.X), y0 = all.Min(v => v.Y), y1 = all.Max(v => v.Y);
            if (x1 == x0) x1 = x0 + 1;
            if (y1 == y0) y1 = y0 + 1;
            double Sx(double x) => p * w + pad + (x - x0) / (x1 - x0) * (w - 2 * pad);
            double Sy(double y) => h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad);
            svg.Append(CultureInfo.InvariantCulture, $"<text x='{p * w + w / 2}' y='20' text-anchor='middle' font-weight='bold'>{title}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1='{p * w + pad}' y1='{h - pad}' x2='{p * w + w - pad}' y2='{h - pad}' stroke='black'/>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1='{p * w + pad}' y1='{pad}' x2='{p * w + pad}' y2='{h - pad}' stroke='black'/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x='{p * w + w / 2}' y='{h - 12}' text-anchor='middle'>{xLabel}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x='{p * w + 4}' y='{pad - 6}'>{y1:G3}</text><text x='{p * w + 4}' y='{h - pad}'>{y0:G3}</text>");
            for (int s = 0; s < series.Length; s++)
            {
                var pts = string.Join(" ", series[s].Points.Select(v => string.Create(CultureInfo.InvariantCulture, $"{Sx(v.X):F1},{Sy(v.Y):F1}")));
                string colour = Colours[s % Colours.Length];
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{pts}'/>");
                svg.Append(CultureInfo.InvariantCulture, $"<text x='{p * w + w - pad - 110}' y='{pad + 16 * s}' fill='{colour}'>{series[s].Name}</text>");
            }
        }
        svg.Append("</svg>");
        return svg.ToString();
    }
}
