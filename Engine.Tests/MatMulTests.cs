using Engine.Kernels;
using FsCheck;
using FsCheck.Xunit;

namespace Engine.Tests;

[Properties(Arbitrary = new[] { typeof(Generators) }, MaxTest = 60)]
public class MatMulTests
{
    /// <summary>
    /// Runs <paramref name="body"/> with the given matmul kernel variant when the suite's device runs the ILGPU kernels,
    /// restoring the device's own; on the SIMD backend (one GEMM) it just runs it.
    /// </summary>
    private static void WithVariant(MatMulVariant variant, Action body)
    {
        if (TestDevice.Instance.Kernels is not Engine.Kernels.Ilgpu.IlgpuKernels ilgpu)
        {
            body();
            return;
        }
        var kernels = ilgpu.Context;
        var saved = kernels.MatMulVariant;
        kernels.MatMulVariant = variant;
        try
        {
            body();
        }
        finally
        {
            kernels.MatMulVariant = saved;
        }
    }

    [Property]
    public void Both_kernel_variants_match_reference_for_any_shape(MatMulDims s, int seed, bool tiled) =>
        WithVariant(tiled ? MatMulVariant.Tiled : MatMulVariant.Direct, () => Product_matches_reference(s, seed));

    [Property(MaxTest = 30)]
    public void Both_kernel_variants_back_propagate_correctly(MatMulDims s, int seed, bool tiled) =>
        WithVariant(tiled ? MatMulVariant.Tiled : MatMulVariant.Direct, () => Gradients_match(s, seed));

    private static void Product_matches_reference(MatMulDims s, int seed)
    {
        var a = Reference.RandomValues(seed, s.M * s.K);
        var b = Reference.RandomValues(seed + 1, s.K * s.N);
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var c = Tensor.FromArray(dev, a, new[] { s.M, s.K }).MatMul(Tensor.FromArray(dev, b, new[] { s.K, s.N }));
        Assert.Equal(new[] { s.M, s.N }, c.Shape);
        Expect.Close(Reference.MatMul(Reference.ToDouble(a), Reference.ToDouble(b), s.M, s.K, s.N), c.ToArray(),
            1e-4, 1e-5, $"{s}");
    }

    /// <summary>dA = dC·Bᵀ and dB = Aᵀ·dC come from the layouts that read operands transposed in place.</summary>
    private static void Gradients_match(MatMulDims s, int seed)
    {
        var a = Reference.RandomValues(seed, s.M * s.K);
        var b = Reference.RandomValues(seed + 1, s.K * s.N);
        GradCheck.Run(t => t[0].MatMul(t[1]), r => Reference.MatMul(r[0], r[1], s.M, s.K, s.N), new[] { a, b },
            new[] { new[] { s.M, s.K }, new[] { s.K, s.N } }, atol: 5e-3);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1, 7, 1)]
    [InlineData(17, 1, 13)]
    [InlineData(31, 37, 29)]
    [InlineData(64, 33, 65)]
    public void Edge_shapes_match_reference_in_both_variants(int m, int k, int n)
    {
        foreach (var variant in new[] { MatMulVariant.Tiled, MatMulVariant.Direct })
            WithVariant(variant, () => Product_matches_reference(new MatMulDims(m, k, n), m * 1000 + k * 10 + n));
    }

    [Fact]
    public void Mismatched_inner_dimensions_name_both_shapes()
    {
        using var scope = new DisposeScope();
        var dev = TestDevice.Instance;
        var e = Assert.Throws<ArgumentException>(() =>
            Tensor.Zeros(dev, new[] { 2, 3 }).MatMul(Tensor.Zeros(dev, new[] { 4, 5 })));
        Assert.Contains("matmul", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4, 5]", e.Message);
    }

    [Fact]
    public void Transpose_round_trips_and_back_propagates()
    {
        var x = Reference.RandomValues(5, 6 * 7);
        GradCheck.Run(t => t[0].Transpose(), r =>
        {
            var y = new double[42];
            for (int i = 0; i < 6; i++)
            for (int j = 0; j < 7; j++)
                y[j * 6 + i] = r[0][i * 7 + j];
            return y;
        }, new[] { x }, new[] { new[] { 6, 7 } });
        using var scope = new DisposeScope();
        var t = Tensor.FromArray(TestDevice.Instance, x, new[] { 6, 7 });
        Assert.Equal(new[] { 7, 6 }, t.Transpose().Shape);
        Assert.Equal(x, t.Transpose().Transpose().ToArray());
    }
}
