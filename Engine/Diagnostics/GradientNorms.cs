using Engine.Kernels;
using Engine.Nn;

namespace Engine.Diagnostics;

/// <summary>A parameter's (or a layer's) gradient L2 norm; <paramref name="HasGradient"/> false when it had none (norm 0).</summary>
public sealed record GradientNorm(string Name, double Norm, bool HasGradient = true);

/// <summary>
/// The L2 norms of a model's gradients after a backward pass: per parameter (<c>0.weight</c>), per layer (the
/// parameters sharing a module, <c>0</c>; √Σ of their squared norms) and in total (what
/// <c>clip_grad_norm_</c> measures). Vanishing gradients show as layer norms shrinking from the output towards the
/// input; exploding ones as norms growing.
/// </summary>
public sealed record GradientNormReport(IReadOnlyList<GradientNorm> Parameters, IReadOnlyList<GradientNorm> Layers,
    double Total)
{
    /// <summary>The norm of the parameter or layer named <paramref name="name"/>.</summary>
    public double this[string name] =>
        (Parameters.FirstOrDefault(p => p.Name == name) ?? Layers.FirstOrDefault(l => l.Name == name) ??
         throw new KeyNotFoundException($"gradient norms: no parameter or layer named '{name}'.")).Norm;
}

/// <summary>Measures gradient norms on the device: one reduction kernel per parameter, then one read of a small buffer.</summary>
public static class GradientNorms
{
    /// <summary>
    /// ‖∂L/∂θ‖₂ of every parameter of <paramref name="model"/>, grouped into layers by the name before the last dot.
    /// Each parameter's Σg² is written by a kernel into its own slot of a device buffer of P floats, which is read back
    /// once (no host round-trip per tensor). Parameters without a gradient count as 0.
    /// </summary>
    public static GradientNormReport Measure(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var parameters = model.NamedParameters().ToList();
        if (parameters.Count == 0) return new GradientNormReport(Array.Empty<GradientNorm>(), Array.Empty<GradientNorm>(), 0);
        var device = parameters[0].Parameter.Device;
        var k = device.Kernels;
        var squares = device.Pool.Rent<float>(parameters.Count);
        var host = new float[parameters.Count];
        try
        {
            for (int i = 0; i < parameters.Count; i++)
            {
                var slot = squares.View.SubView(i, 1);
                var grad = parameters[i].Parameter.Grad;
                if (grad == null) k.Fill(slot, 0f);
                else k.SumAll<Square>(grad.Elements, grad.Elements, slot, 1f);
            }
            k.Download(squares.View, host.AsSpan());
        }
        finally
        {
            device.Pool.Return(squares);
        }
        var perParameter = parameters.Select((p, i) =>
            new GradientNorm(p.Name, Math.Sqrt(host[i]), p.Parameter.Grad != null)).ToList();
        var layers = parameters.Select((p, i) => (Layer: LayerOf(p.Name), Square: (double)host[i], Has: p.Parameter.Grad != null))
            .GroupBy(p => p.Layer)
            .Select(g => new GradientNorm(g.Key, Math.Sqrt(g.Sum(p => p.Square)), g.Any(p => p.Has))).ToList();
        return new GradientNormReport(perParameter, layers, Math.Sqrt(host.Sum(v => (double)v)));
    }

    /// <summary>"3.weight" → "3", "encoder.0.bias" → "encoder.0", "weight" → "" (the model itself).</summary>
    public static string LayerOf(string parameterName)
    {
        int dot = parameterName.LastIndexOf('.');
        return dot < 0 ? "" : parameterName[..dot];
    }
}
