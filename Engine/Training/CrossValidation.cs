using Engine.Data;

namespace Engine.Training;

/// <summary>Each fold's score and their mean and (population) standard deviation.</summary>
public sealed record CrossValidationResult(IReadOnlyList<double> FoldScores)
{
    public double Mean => FoldScores.Average();

    public double StandardDeviation => Math.Sqrt(FoldScores.Average(s => (s - Mean) * (s - Mean)));
}

/// <summary>k-fold cross-validation: the rows are shuffled with a seed and cut into k folds.</summary>
public static class CrossValidation
{
    /// <summary>
    /// Calls <paramref name="runFold"/>(train, validation) once per fold, validation being the fold and train the
    /// other k − 1, and collects the score it returns (e.g. the validation accuracy of a freshly built model).
    /// </summary>
    public static CrossValidationResult KFold(Dataset data, int k, int seed, Func<Dataset, Dataset, double> runFold)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(runFold);
        if (k < 2 || k > data.Count)
            throw new ArgumentOutOfRangeException(nameof(k), $"k-fold: k must be in [2, {data.Count}], got {k}.");
        var order = Dataset.Permutation(data.Count, seed);
        var scores = new List<double>();
        for (int fold = 0; fold < k; fold++)
        {
            int start = fold * data.Count / k, end = (fold + 1) * data.Count / k;
            var validation = order[start..end];
            var train = order[..start].Concat(order[end..]).ToArray();
            scores.Add(runFold(data.Subset(train), data.Subset(validation)));
        }
        return new CrossValidationResult(scores);
    }
}
