using System.Collections;
using System.Globalization;

namespace Engine.Nn;

/// <summary>
/// Modules held in a list, as <c>torch.nn.ModuleList</c>: children named "0", "1", …, so a model's
/// <c>layers</c> list names its parameters <c>layers.0.weight</c>, <c>layers.1.weight</c>, … as in PyTorch. It has no
/// forward of its own: the owner iterates over it. <see cref="ModuleList"/> holds any module; this typed form
/// (e.g. <c>ModuleList&lt;TransformerEncoderLayer&gt;</c>) gives its items back with their type.
/// </summary>
public class ModuleList<TModule> : Module, IReadOnlyList<TModule> where TModule : Module
{
    private readonly List<TModule> items = new();

    public ModuleList(IEnumerable<TModule> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var m in modules) Append(m);
    }

    public ModuleList(params TModule[] modules) : this((IEnumerable<TModule>)modules)
    {
    }

    /// <summary>The module at <paramref name="index"/>; negative indices count from the end, as Python's.</summary>
    public TModule this[int index]
    {
        get
        {
            int at = index < 0 ? index + items.Count : index;
            if (at < 0 || at >= items.Count)
                throw new ArgumentOutOfRangeException(nameof(index),
                    $"{GetType().Name}: index {index} is out of range for {items.Count} module(s).");
            return items[at];
        }
    }

    public int Count => items.Count;

    /// <summary>Adds <paramref name="module"/> at the end, named by its position (<c>append</c>); returns this list.</summary>
    public ModuleList<TModule> Append(TModule module)
    {
        ArgumentNullException.ThrowIfNull(module);
        RegisterModule(items.Count.ToString(CultureInfo.InvariantCulture), module);
        items.Add(module);
        return this;
    }

    /// <summary>Adds every module of <paramref name="modules"/> at the end (<c>extend</c>); returns this list.</summary>
    public ModuleList<TModule> Extend(IEnumerable<TModule> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var m in modules) Append(m);
        return this;
    }

    /// <summary>Not defined, as in PyTorch: a ModuleList is a container; iterate over it in the owner's forward.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new NotSupportedException(
            $"{GetType().Name} has no forward of its own (as torch.nn.ModuleList); iterate over its {Count} module(s).");

    public IEnumerator<TModule> GetEnumerator() => items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A <see cref="ModuleList{TModule}"/> of any modules (<c>torch.nn.ModuleList</c>).</summary>
public sealed class ModuleList : ModuleList<Module>
{
    public ModuleList(IEnumerable<Module> modules) : base(modules)
    {
    }

    public ModuleList(params Module[] modules) : base(modules)
    {
    }
}

/// <summary>
/// Modules held by name in insertion order, as <c>torch.nn.ModuleDict</c>: each is a child under its key, so
/// <c>heads["cls"]</c>'s weight is <c>heads.cls.weight</c>. It has no forward of its own.
/// </summary>
public sealed class ModuleDict : Module, IReadOnlyDictionary<string, Module>
{
    public ModuleDict()
    {
    }

    public ModuleDict(IEnumerable<KeyValuePair<string, Module>> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var (key, m) in modules) Add(key, m);
    }

    /// <summary>The module under <paramref name="key"/>.</summary>
    /// <exception cref="KeyNotFoundException">no module has that key (the keys are listed).</exception>
    public Module this[string key] => TryGetValue(key, out var m)
        ? m
        : throw new KeyNotFoundException(
            $"ModuleDict: no module named '{key}'; the keys are [{string.Join(", ", Keys)}].");

    public int Count => Children.Count;

    public IEnumerable<string> Keys => Children.Select(c => c.Name);

    public IEnumerable<Module> Values => Children.Select(c => c.Child);

    /// <summary>Adds <paramref name="module"/> under <paramref name="key"/> (a name without '.'), as <c>dict[key] = module</c> for a new key.</summary>
    public void Add(string key, Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        RegisterModule(key, module);
    }

    public bool ContainsKey(string key) => Children.Any(c => c.Name == key);

    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Module value)
    {
        foreach (var (name, child) in Children)
            if (name == key)
            {
                value = child;
                return true;
            }
        value = null;
        return false;
    }

    /// <summary>Not defined, as in PyTorch: a ModuleDict is a container; call its modules from the owner's forward.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new NotSupportedException(
            $"ModuleDict has no forward of its own (as torch.nn.ModuleDict); call its modules [{string.Join(", ", Keys)}].");

    public IEnumerator<KeyValuePair<string, Module>> GetEnumerator() =>
        Children.Select(c => new KeyValuePair<string, Module>(c.Name, c.Child)).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
