namespace Engine.Nn;

/// <summary>ReLU as a module (<c>torch.nn.ReLU</c>).</summary>
public sealed class Relu : Module
{
    public override Tensor Forward(Tensor input) => input.Relu();
}

/// <summary>LeakyReLU as a module (<c>torch.nn.LeakyReLU</c>, slope 0.01 by default).</summary>
public sealed class LeakyRelu : Module
{
    public LeakyRelu(float negativeSlope = 0.01f) => NegativeSlope = negativeSlope;

    public float NegativeSlope { get; }

    public override Tensor Forward(Tensor input) => input.LeakyRelu(NegativeSlope);
}

/// <summary>Sigmoid as a module.</summary>
public sealed class Sigmoid : Module
{
    public override Tensor Forward(Tensor input) => input.Sigmoid();
}

/// <summary>Tanh as a module.</summary>
public sealed class Tanh : Module
{
    public override Tensor Forward(Tensor input) => input.Tanh();
}

/// <summary>GELU as a module (<c>torch.nn.GELU(approximate="none")</c>; <c>"tanh"</c> for the tanh form).</summary>
public sealed class Gelu : Module
{
    public Gelu(string approximate = "none")
    {
        if (approximate is not ("none" or "tanh"))
            throw new ArgumentException($"GELU: approximate must be \"none\" or \"tanh\", got \"{approximate}\".",
                nameof(approximate));
        Approximate = approximate;
    }

    public string Approximate { get; }

    public override Tensor Forward(Tensor input) => input.Gelu(Approximate);
}

/// <summary>Log-softmax along an axis as a module (<c>torch.nn.LogSoftmax(dim)</c>).</summary>
public sealed class LogSoftmax : Module
{
    public LogSoftmax(int axis = -1) => Axis = axis;

    public int Axis { get; }

    public override Tensor Forward(Tensor input) => input.LogSoftmax(Axis);
}

/// <summary>Softplus as a module (PyTorch's <c>nn.Softplus(beta=1, threshold=20)</c>).</summary>
public sealed class Softplus : Module
{
    public Softplus(float beta = 1f, float threshold = 20f)
    {
        Beta = beta;
        Threshold = threshold;
    }

    public float Beta { get; }
    public float Threshold { get; }

    public override Tensor Forward(Tensor input) => input.Softplus(Beta, Threshold);
}

/// <summary>Softmax along an axis as a module.</summary>
public sealed class Softmax : Module
{
    public Softmax(int axis = -1) => Axis = axis;

    public int Axis { get; }

    public override Tensor Forward(Tensor input) => input.Softmax(Axis);
}

/// <summary>SiLU (swish), x·σ(x) (PyTorch <c>nn.SiLU</c>).</summary>
public sealed class Silu : Module
{
    public override Tensor Forward(Tensor input) => input.Silu();
}

/// <summary>Mish, x·tanh(softplus(x)) (PyTorch <c>nn.Mish</c>).</summary>
public sealed class Mish : Module
{
    public override Tensor Forward(Tensor input) => input.Mish();
}

/// <summary>ELU with <see cref="Alpha"/> (PyTorch <c>nn.ELU</c>, α = 1).</summary>
public sealed class Elu : Module
{
    public Elu(float alpha = 1f) => Alpha = alpha;

    public float Alpha { get; }

    public override Tensor Forward(Tensor input) => input.Elu(Alpha);
}

/// <summary>Hardtanh (PyTorch <c>nn.Hardtanh</c>, [−1, 1]).</summary>
public sealed class Hardtanh : Module
{
    public Hardtanh(float minVal = -1f, float maxVal = 1f)
    {
        MinVal = minVal;
        MaxVal = maxVal;
    }

    public float MinVal { get; }
    public float MaxVal { get; }

    public override Tensor Forward(Tensor input) => input.Hardtanh(MinVal, MaxVal);
}
