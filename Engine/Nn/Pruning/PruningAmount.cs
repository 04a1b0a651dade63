using System.Globalization;

namespace Engine.Nn;

/// <summary>
/// How much to prune, as <c>torch.nn.utils.prune</c>'s <c>amount</c>: a fraction in [0, 1] of the units still unpruned
/// (a <see cref="double"/>: <c>0.3</c>), or a count of units (an <see cref="int"/>: <c>5</c>). As in PyTorch,
/// <c>1</c> is one unit and <c>1.0</c> is all of them. A fraction f of n units prunes round(f·n) of them, rounding
/// halves to even (Python's <c>round</c>), so the engine picks the counts PyTorch picks.
/// </summary>
public readonly record struct PruningAmount
{
    private PruningAmount(double? fraction, int? count)
    {
        Fraction = fraction;
        Count = count;
    }

    /// <summary>The fraction of units, or null for a count.</summary>
    public double? Fraction { get; }

    /// <summary>The number of units, or null for a fraction.</summary>
    public int? Count { get; }

    /// <exception cref="ArgumentOutOfRangeException">a negative count, naming it.</exception>
    public static implicit operator PruningAmount(int count) => count >= 0
        ? new PruningAmount(null, count)
        : throw new ArgumentOutOfRangeException(nameof(count), count,
            $"prune: amount = {count} should either be a float in the range [0, 1] or a non-negative integer.");

    /// <exception cref="ArgumentOutOfRangeException">a fraction outside [0, 1] (or NaN), naming it.</exception>
    public static implicit operator PruningAmount(double fraction) => fraction is >= 0 and <= 1
        ? new PruningAmount(fraction, null)
        : throw new ArgumentOutOfRangeException(nameof(fraction), fraction,
            $"prune: amount = {fraction.ToString("R", CultureInfo.InvariantCulture)} should either be a float in the range " +
            "[0, 1] or a non-negative integer.");

    /// <summary>
    /// The number of units to prune out of <paramref name="units"/> (PyTorch's <c>_compute_nparams_toprune</c> and
    /// <c>_validate_pruning_amount</c>).
    /// </summary>
    /// <exception cref="ArgumentException">a count larger than <paramref name="units"/>, naming both and <paramref name="what"/>.</exception>
    internal int UnitsToPrune(int units, string what)
    {
        if (Count is int count)
        {
            if (count > units)
                throw new ArgumentException(
                    $"prune: amount = {count} should be smaller than the number of {what} to prune = {units}.");
            return count;
        }
        return (int)Math.Round((Fraction ?? 0) * units, MidpointRounding.ToEven);
    }

    public override string ToString() =>
        Count is int c ? c.ToString(CultureInfo.InvariantCulture) : (Fraction ?? 0).ToString("R", CultureInfo.InvariantCulture);
}
