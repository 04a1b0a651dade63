using Engine.Kernels;
using Engine.Kernels.Simd;

namespace Engine.Tests.Nn;

/// <summary>
/// The fused LSTM and GRU cell kernels of every backend (SIMD at both register widths, ILGPU) against the double
/// reference in <see cref="RecurrentReference"/>: the new state, and the backward's accumulation into gradient targets
/// that already hold values (an empty target is skipped). Widths 1, 5, 17 and 33 cover a partial register, one and a
/// half registers and more than two. Tolerance |a − r| ≤ 1e-5 + 1e-4·|r|.
/// </summary>
public class RecurrentCellKernelTests
{
    public static IEnumerable<object[]> Cases() =>
        from backend in new[] { "simd", "simd-narrow", "ilgpu" }
        from shape in new[] { (1, 1), (2, 5), (3, 17), (1, 33) }
        select new object[] { backend, shape.Item1, shape.Item2 };

    private static T OnBackend<T>(string backend, Func<Device, T> body)
    {
        var dev = backend == "ilgpu" ? TestDevice.Ilgpu : TestDevice.Simd;
        bool wide = Lanes.Wide;
        if (backend == "simd-narrow") Lanes.Wide = false;
        try
        {
            return body(dev);
        }
        finally
        {
            Lanes.Wide = wide;
        }
    }

    private static Tensor Values(Device dev, int seed, int count, double low = -3, double high = 3) =>
        Tensor.FromArray(dev, Reference.RandomValues(seed, count, low, high), new[] { count });

    private static double[] Plus(float[] prior, double[] grad) => prior.Select((p, i) => p + grad[i]).ToArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Lstm_cell_forward_and_backward_equal_the_reference(string backend, int n, int h)
    {
        OnBackend(backend, dev =>
        {
            using var scope = new DisposeScope();
            var k = dev.Kernels;
            var shape = new RecurrentCellShape(n, h);
            var xg = Values(dev, 1, n * 4 * h);
            var hg = Values(dev, 2, n * 4 * h);
            var c = Values(dev, 3, n * h, -2, 2);
            var state = Tensor.Zeros(dev, new[] { 2 * n * h });
            var saved = Tensor.Zeros(dev, new[] { 5 * n * h });
            k.LstmCellForward(xg.Elements, hg.Elements, c.Elements, state.Elements, saved.Elements, shape);

            var (rx, rh, rc) = (Reference.ToDouble(xg.ToArray()), Reference.ToDouble(hg.ToArray()), Reference.ToDouble(c.ToArray()));
            var (hNext, cNext) = RecurrentReference.LstmCell(rx, rh, rc, n, h);
            Expect.Close(hNext.Concat(cNext).ToArray(), state.ToArray(), 1e-5, 1e-4, $"{backend} lstm state");

            var dState = Values(dev, 4, 2 * n * h, -1, 1);
            var dx = Values(dev, 5, n * 4 * h, -1, 1);
            var dhg = Values(dev, 6, n * 4 * h, -1, 1);
            var dc = Values(dev, 7, n * h, -1, 1);
            var (px, ph, pc) = (dx.ToArray(), dhg.ToArray(), dc.ToArray());
            k.LstmCellBackward(saved.Elements, c.Elements, dState.Elements, dx.Elements, dhg.Elements, dc.Elements, shape);
            var ds = Reference.ToDouble(dState.ToArray());
            var (dGates, dC) = RecurrentReference.LstmCellGrad(rx, rh, rc, ds[..(n * h)], ds[(n * h)..], n, h);
            Expect.Close(Plus(px, dGates), dx.ToArray(), 1e-5, 1e-4, $"{backend} lstm dXGates");
            Expect.Close(Plus(ph, dGates), dhg.ToArray(), 1e-5, 1e-4, $"{backend} lstm dHGates");
            Expect.Close(Plus(pc, dC), dc.ToArray(), 1e-5, 1e-4, $"{backend} lstm dC");

            // Empty targets are skipped: only dXGates is written.
            var none = dx.Elements.SubView(0, 0);
            var again = dx.ToArray();
            k.LstmCellBackward(saved.Elements, c.Elements, dState.Elements, dx.Elements, none, none, shape);
            Expect.Close(Plus(again, dGates), dx.ToArray(), 1e-5, 1e-4, $"{backend} lstm dXGates alone");
            return 0;
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gru_cell_forward_and_backward_equal_the_reference(string backend, int n, int h)
    {
        OnBackend(backend, dev =>
        {
            using var scope = new DisposeScope();
            var k = dev.Kernels;
            var shape = new RecurrentCellShape(n, h);
            var xg = Values(dev, 11, n * 3 * h);
            var hg = Values(dev, 12, n * 3 * h);
            var hPrev = Values(dev, 13, n * h, -1, 1);
            var hNext = Tensor.Zeros(dev, new[] { n * h });
            var saved = Tensor.Zeros(dev, new[] { 4 * n * h });
            k.GruCellForward(xg.Elements, hg.Elements, hPrev.Elements, hNext.Elements, saved.Elements, shape);

            var (rx, rh, rp) = (Reference.ToDouble(xg.ToArray()), Reference.ToDouble(hg.ToArray()), Reference.ToDouble(hPrev.ToArray()));
            Expect.Close(RecurrentReference.GruCell(rx, rh, rp, n, h), hNext.ToArray(), 1e-5, 1e-4, $"{backend} gru h′");

            var dNext = Values(dev, 14, n * h, -1, 1);
            var dx = Values(dev, 15, n * 3 * h, -1, 1);
            var dhg = Values(dev, 16, n * 3 * h, -1, 1);
            var dPrev = Values(dev, 17, n * h, -1, 1);
            var (px, ph, pp) = (dx.ToArray(), dhg.ToArray(), dPrev.ToArray());
            k.GruCellBackward(saved.Elements, hPrev.Elements, dNext.Elements, dx.Elements, dhg.Elements, dPrev.Elements, shape);
            var (gx, gh, gp) = RecurrentReference.GruCellGrad(rx, rh, rp, Reference.ToDouble(dNext.ToArray()), n, h);
            Expect.Close(Plus(px, gx), dx.ToArray(), 1e-5, 1e-4, $"{backend} gru dXGates");
            Expect.Close(Plus(ph, gh), dhg.ToArray(), 1e-5, 1e-4, $"{backend} gru dHGates");
            Expect.Close(Plus(pp, gp), dPrev.ToArray(), 1e-5, 1e-4, $"{backend} gru dH");

            var none = dx.Elements.SubView(0, 0);
            var again = dPrev.ToArray();
            k.GruCellBackward(saved.Elements, hPrev.Elements, dNext.Elements, none, none, dPrev.Elements, shape);
            Expect.Close(Plus(again, gp), dPrev.ToArray(), 1e-5, 1e-4, $"{backend} gru dH alone");
            return 0;
        });
    }

    [Theory]
    [InlineData("simd")]
    [InlineData("ilgpu")]
    public void Launchers_reject_buffers_of_the_wrong_length(string backend)
    {
        OnBackend(backend, dev =>
        {
            using var scope = new DisposeScope();
            var k = dev.Kernels;
            var shape = new RecurrentCellShape(2, 3);
            var gates4 = Tensor.Zeros(dev, new[] { 24 }).Elements;
            var unit = Tensor.Zeros(dev, new[] { 6 }).Elements;
            var state = Tensor.Zeros(dev, new[] { 12 }).Elements;
            var saved = Tensor.Zeros(dev, new[] { 30 }).Elements;
            var wrong = Tensor.Zeros(dev, new[] { 7 }).Elements;
            var e = Assert.Throws<ArgumentException>(() =>
                k.LstmCellForward(gates4, gates4, wrong, state, saved, shape));
            Assert.Contains("lstm_cell: c holds 7 floats, expected 6", e.Message);
            e = Assert.Throws<ArgumentException>(() =>
                k.GruCellBackward(saved.SubView(0, 24), unit, unit, wrong, gates4.SubView(0, 18), unit, shape));
            Assert.Contains("dXGates holds 7 floats, expected 18", e.Message);
            return 0;
        });
    }
}
