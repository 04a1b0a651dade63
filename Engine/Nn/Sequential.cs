namespace Engine.Nn;

/// <summary>Modules applied in order, named "0", "1", … as <c>torch.nn.Sequential</c>.</summary>
public sealed class Sequential : Module
{
    public Sequential(params Module[] modules)
    {
        for (int i = 0; i < modules.Length; i++) RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), modules[i]);
    }

    public Module this[int index] => Children[index].Child;

    public int Count => Children.Count;

    public override Tensor Forward(Tensor input)
    {
        var x = input;
        foreach (var (_, module) in Children) x = module.Forward(x);
        return x;
    }
}
