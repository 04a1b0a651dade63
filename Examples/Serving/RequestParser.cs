using System.Text.Json;

namespace Examples.Serving;

/// <summary>A request the service refuses (HTTP 400, or <see cref="Status"/>), with a message naming the problem.</summary>
public sealed class BadRequestException(string message, int status = 400) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>The samples of a predict or learn request: features row-major [Count, FeatureCount], and labels or targets.</summary>
public sealed record ParsedSamples(int Count, float[] Features, int[]? Labels, float[]? Targets);

/// <summary>
/// Reads <c>{"features": [[…], …], "labels": […]}</c> (or <c>"targets"</c>) with <see cref="Utf8JsonReader"/>, checking
/// everything before anything is used: strict JSON (one object, no key twice, nothing after it), each row's length, every
/// value a finite float32 (features within ±max-abs-feature), labels whole and in range, as many labels (targets) as
/// rows. Each error names the field, the sample index and (for features) the feature index, so nothing of a bad request
/// is ever learned.
/// </summary>
public static class RequestParser
{
    /// <param name="body">the request body (UTF-8 JSON).</param>
    /// <param name="featureCount">the model's inputs.</param>
    /// <param name="outputs">the model's outputs: classes for a classifier, targets per sample for regression.</param>
    /// <param name="classification">true: labels in [0, outputs); false: targets, <paramref name="outputs"/> per sample.</param>
    /// <param name="needAnswers">true for /learn (labels or targets required), false for /predict (refused if present).</param>
    /// <param name="maxAbsFeature">largest |feature| accepted (<see cref="ServeOptions.MaxAbsFeature"/>).</param>
    public static ParsedSamples Parse(ReadOnlySpan<byte> body, int featureCount, int outputs, bool classification,
        bool needAnswers, double maxAbsFeature = double.PositiveInfinity)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8 });
        List<float>? features = null;
        List<int>? labels = null;
        List<float>? targets = null;
        int rows = 0, targetRows = 0;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new BadRequestException("the body must be a JSON object such as {\"features\": [[…]]}.");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                string name = reader.GetString()!;
                // System.Text.Json keeps the last of two equal keys; which one the sender meant is not ours to guess.
                if (!seen.Add(name)) throw new BadRequestException($"duplicate key '{name}': each field may appear once.");
                reader.Read();
                switch (name)
                {
                    case "features":
                        features = new List<float>();
                        rows = ReadRows(ref reader, features, featureCount, "features", maxAbsFeature);
                        break;
                    case "labels" when needAnswers && classification:
                        labels = ReadLabels(ref reader, outputs);
                        break;
                    case "targets" when needAnswers && !classification:
                        targets = new List<float>();
                        targetRows = ReadTargets(ref reader, targets, outputs);
                        break;
                    case "labels" or "targets" when !needAnswers:
                        throw new BadRequestException($"'{name}' belongs in /learn; /predict takes only \"features\".");
                    case "labels" or "targets":
                        throw new BadRequestException(
                            $"'{name}' does not fit this model: it is a {(classification ? "classifier (send \"labels\")" : "regression model (send \"targets\")")}.");
                    default:
                        throw new BadRequestException($"unknown field '{name}' (expected \"features\"{(needAnswers ? (classification ? " and \"labels\"" : " and \"targets\"") : "")}).");
                }
            }
            int end = (int)reader.BytesConsumed;
            int trailing = body[end..].IndexOfAnyExcept(" \t\r\n"u8);
            if (trailing >= 0)
                throw new BadRequestException($"data after the closing brace of the JSON object (at byte {end + trailing}): the body must be one object.");
        }
        catch (JsonException e)
        {
            throw new BadRequestException($"the body is not valid JSON: {e.Message.Split(" LineNumber")[0]}");
        }
        catch (InvalidOperationException e)
        {
            throw new BadRequestException($"the body is not the expected JSON: {e.Message}");
        }
        if (features == null) throw new BadRequestException("missing \"features\": an array of samples, each an array of " + featureCount + " numbers.");
        if (rows == 0) throw new BadRequestException("\"features\" holds no samples.");
        if (needAnswers)
        {
            int answers = classification ? labels?.Count ?? -1 : targets == null ? -1 : targetRows;
            string field = classification ? "labels" : "targets";
            if (answers < 0) throw new BadRequestException($"missing \"{field}\": one per sample of \"features\".");
            if (answers != rows) throw new BadRequestException($"{rows} samples in \"features\" but {answers} {field}.");
        }
        return new ParsedSamples(rows, features.ToArray(), labels?.ToArray(), targets?.ToArray());
    }

    private static int ReadRows(ref Utf8JsonReader reader, List<float> into, int width, string field, double maxAbs)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new BadRequestException($"\"{field}\" must be an array of samples, each an array of {width} numbers.");
        int row = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartArray)
                throw new BadRequestException($"sample {row}: \"{field}\" rows must be arrays of {width} numbers, got a {Describe(reader.TokenType)}.");
            int column = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                string where = $"sample {row}, {(field == "features" ? "feature" : "target")} {column}";
                float value = ReadFloat(ref reader, where);
                if (Math.Abs(value) > maxAbs)
                    throw new BadRequestException($"{where} is {Raw(ref reader)}: beyond ±{maxAbs.ToString(System.Globalization.CultureInfo.InvariantCulture)} (--max-abs-feature).");
                into.Add(value);
                column++;
            }
            if (column != width)
                throw new BadRequestException($"sample {row} has {column} {field}; the model takes {width}.");
            row++;
        }
        return row;
    }

    private static List<int> ReadLabels(ref Utf8JsonReader reader, int classes)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new BadRequestException("\"labels\" must be an array of class indices.");
        var labels = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            int i = labels.Count;
            if (reader.TokenType != JsonTokenType.Number)
                throw new BadRequestException($"label of sample {i} is a {Describe(reader.TokenType)}, not a class index.");
            if (!reader.TryGetInt32(out int label))
                throw new BadRequestException($"label of sample {i} is {Raw(ref reader)}, not a whole number.");
            if ((uint)label >= (uint)classes)
                throw new BadRequestException($"label of sample {i} is {label}, outside [0, {classes}).");
            labels.Add(label);
        }
        return labels;
    }

    /// <summary>"targets": [[…], …] rows of <paramref name="width"/>, or a flat [t₀, t₁, …] when each sample has one target.</summary>
    private static int ReadTargets(ref Utf8JsonReader reader, List<float> into, int width)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new BadRequestException("\"targets\" must be an array.");
        int rows = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                int column = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    into.Add(ReadFloat(ref reader, $"sample {rows}, target {column++}"));
                if (column != width) throw new BadRequestException($"sample {rows} has {column} targets; the model has {width} outputs.");
            }
            else
            {
                if (width != 1) throw new BadRequestException($"sample {rows}: the model has {width} outputs, so each target must be an array of {width}.");
                into.Add(ReadFloat(ref reader, $"sample {rows}, target 0"));
            }
            rows++;
        }
        return rows;
    }

    private static float ReadFloat(ref Utf8JsonReader reader, string where)
    {
        if (reader.TokenType != JsonTokenType.Number)
            throw new BadRequestException($"{where} is a {Describe(reader.TokenType)}{(reader.TokenType == JsonTokenType.String ? $" ({reader.GetString()})" : "")}, not a number.");
        if (!reader.TryGetDouble(out double value) || !double.IsFinite(value) || Math.Abs(value) > float.MaxValue)
            throw new BadRequestException($"{where} is {Raw(ref reader)}: not a finite float32 (NaN and ±∞ are refused).");
        return (float)value;
    }

    private static string Raw(ref Utf8JsonReader reader) => System.Text.Encoding.UTF8.GetString(reader.ValueSpan);

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "array",
        JsonTokenType.StartObject => "object",
        _ => t.ToString(),
    };
}
