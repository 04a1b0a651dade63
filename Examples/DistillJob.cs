using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using Spectre.Console;

namespace Examples;

/// <summary>
/// Knowledge distillation (Hinton et al. 2015) on the bundled MNIST: a LeNet-5 teacher (<see cref="CnnJob.LeNet5"/>, its
/// batch recipe: SGD lr 0.01 momentum 0.9) is trained first; then the same small MLP student is trained twice from the
/// same initial weights and batch order, once on the labels alone (cross-entropy) and once on
/// <see cref="Loss.Distillation(Tensor, Tensor, int[], float, float)"/> against the teacher's logits, which are computed
/// once, in eval mode, for every training image (offline distillation). Repeated over seeds; prints a table and writes it
/// as markdown.
/// </summary>
public static class DistillJob
{
    public static int Run(string deviceKind, string? dataDir, string outDir, int hidden, float temperature, float alpha,
        int teacherEpochs, int studentEpochs, int batchSize, float lr, int seeds, int seed)
    {
        if (hidden < 1) throw new ArgumentException($"--hidden must be ≥ 1, got {hidden}.");
        if (seeds < 1) throw new ArgumentException($"--seeds must be ≥ 1, got {seeds}.");
        if (!(temperature > 0) || float.IsInfinity(temperature))
            throw new ArgumentException($"--temperature must be positive and finite, got {temperature}.");
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentException($"--alpha must be in [0, 1], got {alpha}.");
        using var dev = Device.Create(deviceKind);
        var (train, test) = CnnJob.LoadImages(dataDir);
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"device: {dev}; MNIST {train.Count} train / {test.Count} test; teacher LeNet-5, student " +
                          $"784→{hidden}→10 MLP; T = {temperature}, α = {alpha}");

        Generator.ManualSeed(seed);
        using var teacher = CnnJob.LeNet5(dev);
        using (var optimizer = new Sgd(teacher.Parameters(), 0.01f, momentum: 0.9f))
            Fit(teacher, Trainer.CrossEntropy, optimizer, train, teacherEpochs, batchSize, seed,
                $"teacher: LeNet-5, {teacherEpochs} epochs (SGD lr 0.01 momentum 0.9)");
        double teacherAccuracy = Accuracy(teacher, test, dev);
        double teacherSeconds = clock.Elapsed.TotalSeconds;
        float[] soft = TeacherLogits(teacher, train, dev);

        var plain = new List<double>();
        var distilled = new List<double>();
        for (int s = seed; s < seed + seeds; s++)
        {
            plain.Add(TrainStudent(dev, train, test, hidden, studentEpochs, batchSize, lr, s, null,
                $"student {s - seed + 1}/{seeds}: labels only"));
            int run = s;
            BatchLoss distillation = (logits, batch) =>
            {
                var rows = new float[batch.Count * 10];
                for (int i = 0; i < batch.Count; i++) Array.Copy(soft, batch.Indices[i] * 10, rows, i * 10, 10);
                return Loss.Distillation(logits, Tensor.FromArray(dev, rows, new[] { batch.Count, 10 }), batch.Labels!,
                    temperature, alpha);
            };
            distilled.Add(TrainStudent(dev, train, test, hidden, studentEpochs, batchSize, lr, s, distillation,
                $"student {s - seed + 1}/{seeds}: distilled from the teacher"));
        }

        long teacherParameters = teacher.Parameters().Sum(p => (long)p.Numel);
        long studentParameters = 784L * hidden + hidden + hidden * 10L + 10;
        string Spread(List<double> xs) => xs.Count == 1 ? $"{xs[0]:P2}" : $"{xs.Average():P2} ({xs.Min():P2}–{xs.Max():P2})";
        var rowsOut = new[]
        {
            ("teacher: LeNet-5", teacherParameters, $"{teacherAccuracy:P2}", $"{teacherEpochs} epochs, SGD lr 0.01 momentum 0.9"),
            ($"student: 784→{hidden}→10 MLP, labels only", studentParameters, Spread(plain),
                $"{studentEpochs} epochs, Adam lr {lr}, cross-entropy"),
            ($"student: 784→{hidden}→10 MLP, distilled", studentParameters, Spread(distilled),
                $"{studentEpochs} epochs, Adam lr {lr}, Loss.Distillation T = {temperature}, α = {alpha}"),
        };
        var table = new Table().AddColumns("model", "parameters", $"test accuracy{(seeds > 1 ? $" (mean of {seeds} seeds, range)" : "")}", "training");
        foreach (var (model, parameters, accuracy, how) in rowsOut)
            table.AddRow(Markup.Escape(model), parameters.ToString("N0", CultureInfo.InvariantCulture), accuracy, Markup.Escape(how));
        AnsiConsole.Write(table);
        double gain = distilled.Average() - plain.Average();
        Console.WriteLine($"distillation: {100 * gain:+0.00;-0.00} points of test accuracy for the student " +
                          $"(teacher trained in {teacherSeconds:F1} s; whole run {clock.Elapsed.TotalSeconds:F1} s)");

        var md = new StringBuilder();
        md.AppendLine("# Knowledge distillation on MNIST");
        md.AppendLine();
        string seedsText = seeds > 1 ? $"for seeds {seed}–{seed + seeds - 1} (mean, range)" : $"seed {seed}";
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Bundled MNIST ({train.Count} train / {test.Count} test digits), device {dev}, batch {batchSize}. The student is trained from the same initial weights and batch order with and without the teacher, {seedsText}.");
        md.AppendLine();
        md.AppendLine("| model | parameters | test accuracy | training |");
        md.AppendLine("|---|---:|---:|---|");
        foreach (var (model, parameters, accuracy, how) in rowsOut)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {model} | {parameters:N0} | {accuracy} | {how} |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Distillation changes the student's test accuracy by {100 * gain:+0.00;-0.00} points.");
        Directory.CreateDirectory(outDir);
        string file = Path.Combine(outDir, "distill.md");
        File.WriteAllText(file, md.ToString());
        Console.WriteLine($"table: {Path.GetFullPath(file)}");
        return 0;
    }

    /// <summary>The teacher's logits for every training image, in eval mode, without gradient: [count × 10] row-major.</summary>
    private static float[] TeacherLogits(Module teacher, Dataset train, Device dev)
    {
        teacher.Eval();
        var logits = new float[train.Count * 10];
        int n = train.FeatureCount;
        using (Autograd.NoGrad())
            for (int start = 0; start < train.Count; start += 500)
            {
                using var scope = new DisposeScope();
                int rows = Math.Min(500, train.Count - start);
                var x = Tensor.FromArray(dev, train.Features[(start * n)..((start + rows) * n)], new[] { rows }.Concat(train.SampleShape).ToArray());
                teacher.Forward(x).ToArray().CopyTo(logits, start * 10);
            }
        return logits;
    }

    private static double TrainStudent(Device dev, Dataset train, Dataset test, int hidden, int epochs, int batchSize,
        float lr, int seed, BatchLoss? loss, string title)
    {
        Generator.ManualSeed(1000 + seed);
        using var student = new Sequential(new Flatten(), new Linear(dev, 784, hidden), new Relu(), new Linear(dev, hidden, 10));
        using var optimizer = new Adam(student.Parameters(), lr);
        Fit(student, loss ?? Trainer.CrossEntropy, optimizer, train, epochs, batchSize, seed, title);
        return Accuracy(student, test, dev);
    }

    private static void Fit(Module model, BatchLoss loss, Optimizer optimizer, Dataset train, int epochs, int batchSize,
        int seed, string title)
    {
        int batches = (train.Count + batchSize - 1) / batchSize;
        Report.WithProgress(title, progress => Trainer.Fit(model, loss, optimizer, train, new TrainerOptions
        {
            Epochs = epochs,
            BatchSize = batchSize,
            Seed = seed,
            OnBatchEnd = b => progress((b.Epoch - 1) * batches + b.Step, epochs * batches, $"epoch {b.Epoch}, loss {b.Loss:F3}"),
        }));
    }

    private static double Accuracy(Module model, Dataset test, Device dev) =>
        Trainer.Evaluate(model, Trainer.CrossEntropy, test, dev).Accuracy!.Value;
}
