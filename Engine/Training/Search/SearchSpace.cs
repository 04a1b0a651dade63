using System.Globalization;

namespace Engine.Training.Search;

/// <summary>Where a hyperparameter's values come from in a search.</summary>
public abstract record Distribution
{
    /// <summary>One value drawn with <paramref name="random"/>.</summary>
    public abstract object Sample(Random random);
}

/// <summary>One of a fixed list of values (numbers, strings, …), each equally likely; the only kind a grid takes.</summary>
public sealed record Choice(params object[] Values) : Distribution
{
    public override object Sample(Random random) => Values[random.Next(Values.Length)];
}

/// <summary>Log-uniform on [Low, High] (scipy's <c>loguniform</c>): log x uniform, the usual prior for a learning rate.</summary>
public sealed record LogUniform(double Low, double High) : Distribution
{
    public override object Sample(Random random) => Math.Exp(Math.Log(Low) + random.NextDouble() * (Math.Log(High) - Math.Log(Low)));
}

/// <summary>Uniform on [Low, High].</summary>
public sealed record Uniform(double Low, double High) : Distribution
{
    public override object Sample(Random random) => Low + random.NextDouble() * (High - Low);
}

/// <summary>A whole number uniform on [Low, High], both included.</summary>
public sealed record IntUniform(int Low, int High) : Distribution
{
    public override object Sample(Random random) => random.Next(Low, High + 1);
}

/// <summary>
/// The hyperparameters a search varies, by name, in the order added (scikit-learn's <c>param_grid</c> /
/// <c>param_distributions</c>). <see cref="HyperparameterSearch"/> reads <c>epochs</c> and <c>batch_size</c> itself
/// when present; the others (<c>lr</c>, <c>momentum</c>, <c>weight_decay</c>, an optimizer's name, …) are for the
/// model and optimizer builders.
/// </summary>
public sealed class SearchSpace
{
    private readonly List<(string Name, Distribution Values)> entries = new();

    public IReadOnlyList<(string Name, Distribution Values)> Entries => entries;

    /// <summary>Adds a hyperparameter with a distribution.</summary>
    public SearchSpace Add(string name, Distribution values)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(values);
        if (entries.Any(e => e.Name == name)) throw new ArgumentException($"search space: '{name}' is already in it.");
        string? problem = values switch
        {
            Choice c when c.Values.Length == 0 => "an empty choice",
            LogUniform l when !(l.Low > 0 && l.High >= l.Low && double.IsFinite(l.High)) => $"log-uniform needs 0 < low ≤ high, got [{l.Low}, {l.High}]",
            Uniform u when !(u.High >= u.Low && double.IsFinite(u.Low) && double.IsFinite(u.High)) => $"uniform needs low ≤ high, got [{u.Low}, {u.High}]",
            IntUniform i when i.High < i.Low => $"int-uniform needs low ≤ high, got [{i.Low}, {i.High}]",
            _ => null,
        };
        if (problem != null) throw new ArgumentException($"search space: '{name}' has {problem}.");
        entries.Add((name, values));
        return this;
    }

    /// <summary>Adds a hyperparameter taking one of <paramref name="values"/>.</summary>
    public SearchSpace Add(string name, params object[] values) => Add(name, new Choice(values));

    /// <summary>
    /// Every combination of the choices (scikit-learn's <c>ParameterGrid</c>), the first hyperparameter varying
    /// slowest. Only <see cref="Choice"/> entries can be gridded.
    /// </summary>
    public IReadOnlyList<Hyperparameters> Grid()
    {
        var grid = new List<Hyperparameters> { Hyperparameters.Empty };
        foreach (var (name, values) in entries)
        {
            if (values is not Choice choice)
                throw new InvalidOperationException(
                    $"search space: '{name}' is {values.GetType().Name}, which a grid cannot enumerate; give it a Choice or use Random().");
            grid = grid.SelectMany(h => choice.Values.Select(v => h.With(name, v))).ToList();
        }
        return grid;
    }

    /// <summary><paramref name="trials"/> independent draws from every distribution (scikit-learn's <c>ParameterSampler</c>), seeded.</summary>
    public IReadOnlyList<Hyperparameters> Random(int trials, int seed)
    {
        if (trials < 1) throw new ArgumentOutOfRangeException(nameof(trials), $"search space: trials must be ≥ 1, got {trials}.");
        var random = new Random(seed);
        return Enumerable.Range(0, trials)
            .Select(_ => entries.Aggregate(Hyperparameters.Empty, (h, e) => h.With(e.Name, e.Values.Sample(random))))
            .ToList();
    }
}

/// <summary>One configuration of a search: hyperparameter values by name, with typed getters.</summary>
public sealed class Hyperparameters
{
    private readonly (string Name, object Value)[] values;

    private Hyperparameters((string, object)[] values) => this.values = values;

    public static Hyperparameters Empty { get; } = new(Array.Empty<(string, object)>());

    /// <summary>A configuration from name/value pairs, e.g. <c>Of(("lr", 0.01), ("batch_size", 64))</c>.</summary>
    public static Hyperparameters Of(params (string Name, object Value)[] pairs) =>
        pairs.Aggregate(Empty, (h, p) => h.With(p.Name, p.Value));

    public IReadOnlyList<(string Name, object Value)> Values => values;

    public bool Contains(string name) => values.Any(v => v.Name == name);

    /// <summary>A copy with <paramref name="name"/> set to <paramref name="value"/>.</summary>
    public Hyperparameters With(string name, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new Hyperparameters(values.Where(v => v.Name != name).Append((name, value)).ToArray());
    }

    public object this[string name] => values.FirstOrDefault(v => v.Name == name).Value ??
        throw new KeyNotFoundException($"hyperparameters: no '{name}' in {this}.");

    public double Double(string name) => Convert.ToDouble(this[name], CultureInfo.InvariantCulture);

    public double Double(string name, double fallback) => Contains(name) ? Double(name) : fallback;

    public int Int(string name) => this[name] switch
    {
        int i => i,
        var v when Convert.ToDouble(v, CultureInfo.InvariantCulture) is var d && d == Math.Round(d) => (int)d,
        var v => throw new InvalidCastException($"hyperparameters: '{name}' is {v}, not a whole number."),
    };

    public int Int(string name, int fallback) => Contains(name) ? Int(name) : fallback;

    public string String(string name) => Convert.ToString(this[name], CultureInfo.InvariantCulture)!;

    public string String(string name, string fallback) => Contains(name) ? String(name) : fallback;

    /// <summary>"lr=0.001, batch_size=64".</summary>
    public override string ToString() => string.Join(", ", values.Select(v => $"{v.Name}={Format(v.Value)}"));

    private static string Format(object v) => v switch
    {
        double d => d.ToString("G4", CultureInfo.InvariantCulture),
        float f => f.ToString("G4", CultureInfo.InvariantCulture),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };
}
