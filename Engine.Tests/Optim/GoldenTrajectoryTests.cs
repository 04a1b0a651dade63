using System.Text.Json;
using Engine.Optim;
using Engine.Optim.Schedules;

namespace Engine.Tests.Optim;

/// <summary>
/// Trajectories and schedules equal PyTorch 1.13's on the committed golden files (Golden/make_golden.py):
/// the same initial parameters and 30 fixed gradients, compared after every step within rtol 1e-5, atol 1e-6.
/// </summary>
public class GoldenTrajectoryTests
{
    private static readonly JsonDocument Optimizers =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "optimizers.json")));

    private static readonly JsonDocument Schedules =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "schedules.json")));

    public static TheoryData<int, string> OptimizerCases()
    {
        var data = new TheoryData<int, string>();
        int i = 0;
        foreach (var c in Optimizers.RootElement.GetProperty("cases").EnumerateArray())
            data.Add(i++, c.GetProperty("optimizer").GetString() + " " + c.GetProperty("options").GetRawText());
        return data;
    }

    public static TheoryData<int, string> ScheduleCases()
    {
        var data = new TheoryData<int, string>();
        int i = 0;
        foreach (var c in Schedules.RootElement.GetProperty("cases").EnumerateArray())
            data.Add(i++, c.GetProperty("schedule").GetString() + " " + c.GetProperty("options").GetRawText());
        return data;
    }

    private static float F(JsonElement o, string name, float fallback) =>
        o.TryGetProperty(name, out var v) ? v.GetSingle() : fallback;

    private static bool B(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.GetBoolean();

    private static (float, float)? Betas(JsonElement o) =>
        o.TryGetProperty("betas", out var b) ? (b[0].GetSingle(), b[1].GetSingle()) : null;

    /// <summary>Builds our optimizer from torch's name and keyword arguments (defaults are ours, = torch's).</summary>
    public static Optimizer Create(string name, JsonElement o, IEnumerable<Tensor> p) => name switch
    {
        "SGD" => new Sgd(p, F(o, "lr", 0), F(o, "momentum", 0), F(o, "dampening", 0), F(o, "weight_decay", 0),
            B(o, "nesterov"), B(o, "maximize")),
        "Adagrad" => new AdaGrad(p, F(o, "lr", 0.01f), F(o, "lr_decay", 0), F(o, "weight_decay", 0),
            F(o, "initial_accumulator_value", 0), F(o, "eps", 1e-10f), B(o, "maximize")),
        "RMSprop" => new RmsProp(p, F(o, "lr", 0.01f), F(o, "alpha", 0.99f), F(o, "eps", 1e-8f),
            F(o, "weight_decay", 0), F(o, "momentum", 0), B(o, "centered"), B(o, "maximize")),
        "Adadelta" => new Adadelta(p, F(o, "lr", 1f), F(o, "rho", 0.9f), F(o, "eps", 1e-6f), F(o, "weight_decay", 0),
            B(o, "maximize")),
        "Adam" => new Adam(p, F(o, "lr", 1e-3f), Betas(o), F(o, "eps", 1e-8f), F(o, "weight_decay", 0),
            B(o, "amsgrad"), B(o, "maximize")),
        "AdamW" => new AdamW(p, F(o, "lr", 1e-3f), Betas(o), F(o, "eps", 1e-8f), F(o, "weight_decay", 0.01f),
            B(o, "amsgrad"), B(o, "maximize")),
        "Adamax" => new Adamax(p, F(o, "lr", 2e-3f), Betas(o), F(o, "eps", 1e-8f), F(o, "weight_decay", 0),
            B(o, "maximize")),
        "NAdam" => new NAdam(p, F(o, "lr", 2e-3f), Betas(o), F(o, "eps", 1e-8f), F(o, "weight_decay", 0),
            F(o, "momentum_decay", 4e-3f)),
        "RAdam" => new RAdam(p, F(o, "lr", 1e-3f), Betas(o), F(o, "eps", 1e-8f), F(o, "weight_decay", 0)),
        _ => throw new ArgumentException($"no mapping for torch optimizer {name}"),
    };

    [Theory]
    [MemberData(nameof(OptimizerCases))]
    public void Trajectory_equals_pytorch(int index, string description) =>
        FollowTrajectory("cases", index, description, skip: null);

    /// <summary>
    /// The same with some parameters given no gradient in some steps (<c>p.grad = None</c> in PyTorch, <c>p.Grad =
    /// null</c> here): each parameter keeps its own step count, so after a skip its bias corrections (Adam, AdamW,
    /// Adamax, NAdam, RAdam), lr decay (Adagrad) and first momentum step (SGD) are PyTorch's.
    /// </summary>
    [Theory]
    [MemberData(nameof(OptimizerCases))]
    public void Trajectory_with_skipped_parameters_equals_pytorch(int index, string description)
    {
        var skip = Optimizers.RootElement.GetProperty("skip").EnumerateArray()
            .Select(t => t.EnumerateArray().Select(b => b.GetBoolean()).ToArray()).ToArray();
        FollowTrajectory("skipped_cases", index, description + " with skipped parameters", skip);
    }

    private static void FollowTrajectory(string cases, int index, string description, bool[][]? skip)
    {
        var root = Optimizers.RootElement;
        var c = root.GetProperty(cases)[index];
        var shapes = root.GetProperty("shapes").EnumerateArray()
            .Select(s => s.EnumerateArray().Select(d => d.GetInt32()).ToArray()).ToArray();
        var initial = root.GetProperty("initial").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var grads = root.GetProperty("grads").EnumerateArray()
            .Select(g => g.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        var expected = c.GetProperty("trajectory").EnumerateArray()
            .Select(g => g.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();

        var dev = TestDevice.Instance;
        var parameters = new List<Tensor>();
        int at = 0;
        foreach (var shape in shapes)
        {
            int n = shape.Aggregate(1, (a, d) => a * d);
            parameters.Add(Tensor.FromArray(dev, initial[at..(at + n)], shape, requiresGrad: true));
            at += n;
        }
        using var optimizer = Create(c.GetProperty("optimizer").GetString()!, c.GetProperty("options"), parameters);
        var steps = new long[parameters.Count];
        for (int step = 0; step < expected.Length; step++)
        {
            at = 0;
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                if (skip?[step][i] == true)
                {
                    p.Grad = null;
                }
                else
                {
                    p.Grad!.CopyFrom(grads[step][at..(at + p.Numel)]);
                    steps[i]++;
                }
                at += p.Numel;
            }
            optimizer.Step();
            var actual = parameters.SelectMany(p => p.ToArray()).ToArray();
            Expect.Close(expected[step], actual, 1e-6, 1e-5, $"{description}, step {step + 1}");
            Assert.Equal(steps, parameters.Select(optimizer.StepOf).ToArray());
        }
        foreach (var p in parameters) p.Dispose();
    }

    [Theory]
    [MemberData(nameof(ScheduleCases))]
    public void Schedule_equals_pytorch(int index, string description)
    {
        var c = Schedules.RootElement.GetProperty("cases")[index];
        var o = c.GetProperty("options");
        var expectedLr = c.GetProperty("lr").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var expectedMomentum = c.GetProperty("momentum").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        string optimizerName = o.TryGetProperty("optimizer", out var on) ? on.GetString()! : "SGD";
        var dev = TestDevice.Instance;
        using var p = Tensor.Zeros(dev, new[] { 2 }, requiresGrad: true);
        using Optimizer optimizer = optimizerName == "Adam"
            ? new Adam(new[] { p }, lr: 0.001f)
            : new Sgd(new[] { p }, lr: 0.1f, momentum: description.StartsWith("OneCycle") ? 0.9f : 0f);
        p.Grad!.FillInPlace(0f);

        Action step;
        string name = c.GetProperty("schedule").GetString()!;
        if (name == "ReduceLROnPlateau")
        {
            var plateau = new ReduceLROnPlateau(optimizer, o.GetProperty("mode").GetString()!,
                o.GetProperty("factor").GetDouble(), o.GetProperty("patience").GetInt32(),
                o.GetProperty("threshold").GetDouble(),
                o.TryGetProperty("threshold_mode", out var tm) ? tm.GetString()! : "rel",
                o.TryGetProperty("cooldown", out var cd) ? cd.GetInt32() : 0,
                o.TryGetProperty("min_lr", out var ml) ? ml.GetDouble() : 0);
            var metrics = o.GetProperty("metrics").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            int t = 0;
            step = () => plateau.Step(metrics[t++]);
        }
        else
        {
            LrScheduler scheduler = name switch
            {
                "StepLR" => new StepLR(optimizer, o.GetProperty("step_size").GetInt32(), o.GetProperty("gamma").GetDouble()),
                "MultiStepLR" => new MultiStepLR(optimizer,
                    o.GetProperty("milestones").EnumerateArray().Select(v => v.GetInt32()), o.GetProperty("gamma").GetDouble()),
                "ExponentialLR" => new ExponentialLR(optimizer, o.GetProperty("gamma").GetDouble()),
                "CosineAnnealingLR" => new CosineAnnealingLR(optimizer, o.GetProperty("t_max").GetInt32(),
                    o.GetProperty("eta_min").GetDouble()),
                "LinearLR" => new LinearLR(optimizer, o.GetProperty("start_factor").GetDouble(),
                    o.GetProperty("end_factor").GetDouble(), o.GetProperty("total_iters").GetInt32()),
                "OneCycleLR" => new OneCycleLR(optimizer, o.GetProperty("max_lr").GetDouble(),
                    o.GetProperty("total_steps").GetInt32(),
                    o.TryGetProperty("pct_start", out var ps) ? ps.GetDouble() : 0.3,
                    o.TryGetProperty("anneal_strategy", out var an) ? an.GetString()! : "cos"),
                _ => throw new ArgumentException(name),
            };
            step = scheduler.Step;
        }

        for (int t = 0; t < expectedLr.Length; t++)
        {
            optimizer.Step();
            step();
            Expect.Close(new[] { expectedLr[t] }, new[] { optimizer.Lr }, 1e-9, 1e-6, $"{description}: lr at step {t + 1}");
            if (expectedMomentum.Length > 0)
            {
                float m = optimizer is Sgd sgd ? sgd.Momentum : ((Adam)optimizer).Beta1;
                Expect.Close(new[] { expectedMomentum[t] }, new[] { m }, 1e-7, 1e-6, $"{description}: momentum at step {t + 1}");
            }
        }
    }
}
