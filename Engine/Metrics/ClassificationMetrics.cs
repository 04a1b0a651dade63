namespace Engine.Metrics;

/// <summary>
/// A confusion matrix and the figures derived from it: Counts[actual, predicted]. Precision, recall and F1 per
/// class, their unweighted (macro) mean, and the micro average (which for single-label classification equals
/// accuracy). A class never predicted has precision 0, never present recall 0 (scikit-learn's zero_division=0).
/// </summary>
public sealed class ConfusionMatrix
{
    public ConfusionMatrix(int classes)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), $"classes must be ≥ 1, got {classes}.");
        Classes = classes;
        Counts = new long[classes, classes];
    }

    public int Classes { get; }

    /// <summary>Counts[actual, predicted].</summary>
    public long[,] Counts { get; }

    public long Total { get; private set; }

    public static ConfusionMatrix From(IReadOnlyList<int> actual, IReadOnlyList<int> predicted, int classes)
    {
        var m = new ConfusionMatrix(classes);
        m.Add(actual, predicted);
        return m;
    }

    public void Add(int actual, int predicted)
    {
        if ((uint)actual >= Classes || (uint)predicted >= Classes)
            throw new ArgumentOutOfRangeException(nameof(actual),
                $"confusion matrix: class {actual} / prediction {predicted} outside [0, {Classes}).");
        Counts[actual, predicted]++;
        Total++;
    }

    public void Add(IReadOnlyList<int> actual, IReadOnlyList<int> predicted)
    {
        if (actual.Count != predicted.Count)
            throw new ArgumentException($"confusion matrix: {actual.Count} labels but {predicted.Count} predictions.");
        for (int i = 0; i < actual.Count; i++) Add(actual[i], predicted[i]);
    }

    public double Accuracy => Total == 0 ? 0 : Enumerable.Range(0, Classes).Sum(c => (double)Counts[c, c]) / Total;

    public double Precision(int c)
    {
        long predicted = Enumerable.Range(0, Classes).Sum(a => Counts[a, c]);
        return predicted == 0 ? 0 : (double)Counts[c, c] / predicted;
    }

    public double Recall(int c)
    {
        long actual = Enumerable.Range(0, Classes).Sum(p => Counts[c, p]);
        return actual == 0 ? 0 : (double)Counts[c, c] / actual;
    }

    public double F1(int c)
    {
        double p = Precision(c), r = Recall(c);
        return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }

    public double MacroPrecision => Enumerable.Range(0, Classes).Average(Precision);
    public double MacroRecall => Enumerable.Range(0, Classes).Average(Recall);
    public double MacroF1 => Enumerable.Range(0, Classes).Average(F1);

    /// <summary>Micro-averaged precision = recall = F1 = accuracy for single-label predictions.</summary>
    public double MicroF1 => Accuracy;
}

/// <summary>Classification helpers on host arrays.</summary>
public static class Classification
{
    /// <summary>Row-wise arg-max of [rows, classes] scores (first maximum on ties).</summary>
    public static int[] ArgMax(float[] scores, int classes)
    {
        if (classes < 1 || scores.Length % classes != 0)
            throw new ArgumentException($"argmax: {scores.Length} scores do not split into rows of {classes}.");
        var result = new int[scores.Length / classes];
        for (int r = 0; r < result.Length; r++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++)
                if (scores[r * classes + c] > scores[r * classes + best]) best = c;
            result[r] = best;
        }
        return result;
    }

    public static double Accuracy(IReadOnlyList<int> actual, IReadOnlyList<int> predicted)
    {
        if (actual.Count != predicted.Count)
            throw new ArgumentException($"accuracy: {actual.Count} labels but {predicted.Count} predictions.");
        if (actual.Count == 0) return 0;
        int hits = 0;
        for (int i = 0; i < actual.Count; i++) if (actual[i] == predicted[i]) hits++;
        return (double)hits / actual.Count;
    }
}
