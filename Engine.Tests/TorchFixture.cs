using System.Text.Json;

namespace Engine.Tests;

/// <summary>
/// A PyTorch fixture file of Golden/ (written by a make_*_golden.py script): its cases by name, and the readers of their
/// JSON arrays.
/// </summary>
public sealed class TorchFixture
{
    private readonly JsonElement[] cases;

    public TorchFixture(string file)
    {
        var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", file)));
        cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToArray();
    }

    public TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in cases) data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    public JsonElement Case(string name) => cases.Single(e => e.GetProperty("name").GetString() == name);

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    public static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
}
