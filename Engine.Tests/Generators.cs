using FsCheck;
using FsCheck.Fluent;

namespace Engine.Tests;

/// <summary>A tensor shape drawn by FsCheck: rank 1–3, dimensions mostly 1–9 with primes and tile-straddling sizes.</summary>
public sealed record Dims(int[] Values)
{
    public int Numel => Values.Aggregate(1, (p, d) => p * d);

    public override string ToString() => "[" + string.Join(", ", Values) + "]";
}

/// <summary>Sizes of a matrix product [M, K]·[K, N], independent of each other.</summary>
public sealed record MatMulDims(int M, int K, int N);

/// <summary>FsCheck arbitraries with shrinkers toward the smallest failing shape.</summary>
public static class Generators
{
    private static readonly int[] Awkward = { 1, 2, 5, 13, 17, 31, 33 };

    private static Gen<int> Dimension(int small) =>
        Gen.OneOf(Gen.Choose(1, small), Gen.Choose(1, small), Gen.Elements(Awkward));

    public static Arbitrary<Dims> Dims() => Arb.From(
        Gen.Choose(1, 3).SelectMany(rank => Dimension(7).ArrayOf(rank)).Select(a => new Dims(a)),
        d => ShrinkDims(d.Values).Select(v => new Dims(v)));

    public static Arbitrary<MatMulDims> MatMulDims() => Arb.From(
        Dimension(24).Three().Select(t => new MatMulDims(t.Item1, t.Item2, t.Item3)),
        m => ShrinkDims(new[] { m.M, m.K, m.N }).Select(v => new MatMulDims(v[0], v[1], v[2])));

    private static IEnumerable<int[]> ShrinkDims(int[] dims)
    {
        if (dims.Length > 1) yield return dims.Skip(1).ToArray();
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] == 1) continue;
            foreach (int smaller in new[] { 1, dims[i] / 2, dims[i] - 1 }.Distinct().Where(s => s >= 1 && s < dims[i]))
            {
                var copy = (int[])dims.Clone();
                copy[i] = smaller;
                yield return copy;
            }
        }
    }
}
