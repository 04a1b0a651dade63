using System.Globalization;

namespace Engine.Data;

/// <summary>
/// Reads a comma-separated file with a header row into a <see cref="Dataset"/>: one column is the label (class
/// index, or a regression target), every other column a numeric feature. A bad value is reported with its file,
/// line and column.
/// </summary>
public static class CsvLoader
{
    /// <param name="path">the file.</param>
    /// <param name="labelColumn">the label column's header name.</param>
    /// <param name="regression">true: the label is a float target; false: a class index (whole number ≥ 0).</param>
    public static Dataset Load(string path, string labelColumn, bool regression = false)
    {
        using var reader = new StreamReader(path);
        return Parse(reader, labelColumn, regression, path);
    }

    public static Dataset Parse(TextReader reader, string labelColumn, bool regression = false, string source = "csv")
    {
        string? header = reader.ReadLine();
        if (header == null) throw new FormatException($"{source}: the file is empty (no header line).");
        var names = header.Split(',').Select(n => n.Trim()).ToArray();
        int label = Array.IndexOf(names, labelColumn);
        if (label < 0)
            throw new FormatException($"{source}: no column named '{labelColumn}' in the header ({string.Join(", ", names)}).");
        var features = new List<float>();
        var labels = new List<int>();
        var targets = new List<float>();
        int lineNumber = 1;
        for (string? line = reader.ReadLine(); line != null; line = reader.ReadLine())
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            var cells = line.Split(',');
            if (cells.Length != names.Length)
                throw new FormatException($"{source}: line {lineNumber} has {cells.Length} values, the header {names.Length}.");
            for (int c = 0; c < cells.Length; c++)
            {
                string cell = cells[c].Trim();
                if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) ||
                    !float.IsFinite(value))
                    throw new FormatException(
                        $"{source}: line {lineNumber}, column {c + 1} ('{names[c]}'): '{cell}' is not a finite number.");
                if (c != label) features.Add(value);
                else if (regression) targets.Add(value);
                else if (value < 0 || value != MathF.Floor(value))
                    throw new FormatException(
                        $"{source}: line {lineNumber}, column {c + 1} ('{names[c]}'): label '{cell}' is not a class index.");
                else labels.Add((int)value);
            }
        }
        if (lineNumber == 1 || (labels.Count == 0 && targets.Count == 0))
            throw new FormatException($"{source}: no data rows after the header.");
        return regression
            ? Dataset.WithTargets(features.ToArray(), names.Length - 1, targets.ToArray())
            : Dataset.WithLabels(features.ToArray(), names.Length - 1, labels.ToArray());
    }
}
