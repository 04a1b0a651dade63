namespace Engine.Tests.Nn;

/// <summary>
/// LSTM and GRU in plain double-precision loops, straight from torch.nn's formulas: the fused cell kernels' reference
/// (forward and the analytic backward) and the whole stacked, bidirectional network that finite differences run on.
/// Layouts: gates [N, G·H] in torch's order (LSTM i, f, g, o; GRU r, z, n), states [N, H], sequences [T, N, ·].
/// </summary>
public static class RecurrentReference
{
    private static double Sigmoid(double x) => 1.0 / (1.0 + Math.Exp(-x));

    /// <summary>From a = xGates + hGates: c′ = f∘c + i∘g, h′ = o∘tanh c′.</summary>
    public static (double[] H, double[] C) LstmCell(double[] xGates, double[] hGates, double[] c, int n, int h)
    {
        var hNext = new double[n * h];
        var cNext = new double[n * h];
        for (int row = 0; row < n; row++)
            for (int j = 0; j < h; j++)
            {
                double A(int gate) => xGates[row * 4 * h + gate * h + j] + hGates[row * 4 * h + gate * h + j];
                double i = Sigmoid(A(0)), f = Sigmoid(A(1)), g = Math.Tanh(A(2)), o = Sigmoid(A(3));
                int t = row * h + j;
                cNext[t] = f * c[t] + i * g;
                hNext[t] = o * Math.Tanh(cNext[t]);
            }
        return (hNext, cNext);
    }

    /// <summary>∂L/∂a [N, 4H] and ∂L/∂c [N, H] of the LSTM cell, from dh′ and dc′, by the chain rule written out.</summary>
    public static (double[] DGates, double[] DC) LstmCellGrad(double[] xGates, double[] hGates, double[] c,
        double[] dh, double[] dcNext, int n, int h)
    {
        var dGates = new double[n * 4 * h];
        var dC = new double[n * h];
        for (int row = 0; row < n; row++)
            for (int j = 0; j < h; j++)
            {
                double A(int gate) => xGates[row * 4 * h + gate * h + j] + hGates[row * 4 * h + gate * h + j];
                double i = Sigmoid(A(0)), f = Sigmoid(A(1)), g = Math.Tanh(A(2)), o = Sigmoid(A(3));
                int t = row * h + j;
                double cn = f * c[t] + i * g, tc = Math.Tanh(cn);
                double dcTotal = dcNext[t] + dh[t] * o * (1 - tc * tc);
                dGates[row * 4 * h + j] = dcTotal * g * i * (1 - i);
                dGates[row * 4 * h + h + j] = dcTotal * c[t] * f * (1 - f);
                dGates[row * 4 * h + 2 * h + j] = dcTotal * i * (1 - g * g);
                dGates[row * 4 * h + 3 * h + j] = dh[t] * tc * o * (1 - o);
                dC[t] = dcTotal * f;
            }
        return (dGates, dC);
    }

    /// <summary>h′ = (1 − z)∘n + z∘h with n = tanh(x_n + r∘h_n), hGates holding h·W_hhᵀ + b_hh.</summary>
    public static double[] GruCell(double[] xGates, double[] hGates, double[] hPrev, int n, int h)
    {
        var hNext = new double[n * h];
        for (int row = 0; row < n; row++)
            for (int j = 0; j < h; j++)
            {
                double X(int gate) => xGates[row * 3 * h + gate * h + j];
                double Hg(int gate) => hGates[row * 3 * h + gate * h + j];
                double r = Sigmoid(X(0) + Hg(0)), z = Sigmoid(X(1) + Hg(1)), cand = Math.Tanh(X(2) + r * Hg(2));
                int t = row * h + j;
                hNext[t] = (1 - z) * cand + z * hPrev[t];
            }
        return hNext;
    }

    /// <summary>∂L/∂xGates, ∂L/∂hGates [N, 3H] and ∂L/∂h [N, H] of the GRU cell from dh′.</summary>
    public static (double[] DX, double[] DH, double[] DPrev) GruCellGrad(double[] xGates, double[] hGates,
        double[] hPrev, double[] dh, int n, int h)
    {
        var dx = new double[n * 3 * h];
        var dhg = new double[n * 3 * h];
        var dPrev = new double[n * h];
        for (int row = 0; row < n; row++)
            for (int j = 0; j < h; j++)
            {
                double X(int gate) => xGates[row * 3 * h + gate * h + j];
                double Hg(int gate) => hGates[row * 3 * h + gate * h + j];
                double r = Sigmoid(X(0) + Hg(0)), z = Sigmoid(X(1) + Hg(1)), cand = Math.Tanh(X(2) + r * Hg(2));
                int t = row * h + j, at = row * 3 * h + j;
                double dn = dh[t] * (1 - z) * (1 - cand * cand);
                double dz = dh[t] * (hPrev[t] - cand) * z * (1 - z);
                double dr = dn * Hg(2) * r * (1 - r);
                dx[at] = dhg[at] = dr;
                dx[at + h] = dhg[at + h] = dz;
                dx[at + 2 * h] = dn;
                dhg[at + 2 * h] = dn * r;
                dPrev[t] = dh[t] * z;
            }
        return (dx, dhg, dPrev);
    }

    /// <summary>rows [m, k]·Wᵀ (W [out, k]) + b (or no bias).</summary>
    private static double[] Affine(double[] x, int m, int k, double[] w, double[]? b, int outputs)
    {
        var y = new double[m * outputs];
        for (int r = 0; r < m; r++)
            for (int o = 0; o < outputs; o++)
            {
                double s = b?[o] ?? 0;
                for (int i = 0; i < k; i++) s += x[r * k + i] * w[o * k + i];
                y[r * outputs + o] = s;
            }
        return y;
    }

    /// <summary>
    /// The stacked network: x [T, N, in], parameters by torch's names, h0 (and c0 for an LSTM) [L·D, N, H] or null for
    /// zeros → output [T, N, D·H], h_n and c_n [L·D, N, H] (c_n empty for a GRU).
    /// </summary>
    public static (double[] Output, double[] H, double[] C) Network(bool lstm, IReadOnlyDictionary<string, double[]> p,
        double[] x, double[]? h0, double[]? c0, int steps, int batch, int inputSize, int hidden, int layers,
        bool bidirectional)
    {
        int dirs = bidirectional ? 2 : 1, gates = lstm ? 4 : 3, unit = batch * hidden;
        var hN = new double[layers * dirs * unit];
        var cN = lstm ? new double[layers * dirs * unit] : Array.Empty<double>();
        var input = x;
        int width = inputSize;
        for (int layer = 0; layer < layers; layer++)
        {
            var output = new double[steps * batch * dirs * hidden];
            for (int d = 0; d < dirs; d++)
            {
                string suffix = $"_l{layer}" + (d == 1 ? "_reverse" : "");
                int index = layer * dirs + d;
                var h = h0?.Skip(index * unit).Take(unit).ToArray() ?? new double[unit];
                var c = c0?.Skip(index * unit).Take(unit).ToArray() ?? new double[unit];
                p.TryGetValue("bias_ih" + suffix, out var bIh);
                p.TryGetValue("bias_hh" + suffix, out var bHh);
                for (int s = 0; s < steps; s++)
                {
                    int t = d == 0 ? s : steps - 1 - s;
                    var xt = input.Skip(t * batch * width).Take(batch * width).ToArray();
                    var xg = Affine(xt, batch, width, p["weight_ih" + suffix], bIh, gates * hidden);
                    var hg = Affine(h, batch, hidden, p["weight_hh" + suffix], bHh, gates * hidden);
                    if (lstm) (h, c) = LstmCell(xg, hg, c, batch, hidden);
                    else h = GruCell(xg, hg, h, batch, hidden);
                    for (int row = 0; row < batch; row++)
                        for (int j = 0; j < hidden; j++)
                            output[(t * batch + row) * dirs * hidden + d * hidden + j] = h[row * hidden + j];
                }
                Array.Copy(h, 0, hN, index * unit, unit);
                if (lstm) Array.Copy(c, 0, cN, index * unit, unit);
            }
            input = output;
            width = dirs * hidden;
        }
        return (input, hN, cN);
    }
}
