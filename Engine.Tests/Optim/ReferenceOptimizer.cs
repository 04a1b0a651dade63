namespace Engine.Tests.Optim;

/// <summary>
/// Plain double-precision references of every update rule, one loop per tensor, written from torch.optim's
/// algorithm boxes and, for Lion, LAMB and AdaptiveSgd, from their papers' pseudo-code.
/// </summary>
public sealed class ReferenceOptimizer
{
    private readonly OptimizerCase o;
    private readonly Dictionary<string, double[][]> state = new();
    private readonly int[] sizes;
    private long t;
    private double muProduct = 1;

    public ReferenceOptimizer(OptimizerCase options, int[] sizes)
    {
        o = options;
        this.sizes = sizes;
    }

    private double[] S(string name, int k, double init = 0)
    {
        if (!state.TryGetValue(name, out var all))
            state[name] = all = sizes.Select(n => Enumerable.Repeat(init, n).ToArray()).ToArray();
        return all[k];
    }

    private double Effective(double g, double theta, bool coupled)
    {
        double e = o.Maximize ? -g : g;
        if (coupled) e += o.WeightDecay * theta;
        if (o.L1 != 0) e += o.L1 * Math.Sign(theta);
        return e;
    }

    public void Step(double[][] p, double[][] grads)
    {
        t++;
        if (o.Name == "NAdam") muProduct *= Mu(t);
        if (o.Name == "AdaptiveSgd")
        {
            double normSq = 0;
            for (int k = 0; k < p.Length; k++)
                for (int i = 0; i < p[k].Length; i++) normSq += Math.Pow(Effective(grads[k][i], p[k][i], true), 2);
            double eta = o.Lr / (1 + normSq);
            for (int k = 0; k < p.Length; k++)
                for (int i = 0; i < p[k].Length; i++) p[k][i] -= eta * Effective(grads[k][i], p[k][i], true);
            return;
        }
        for (int k = 0; k < p.Length; k++)
        {
            if (o.Name == "Lamb")
            {
                LambTensor(k, p[k], grads[k]);
                continue;
            }
            for (int i = 0; i < p[k].Length; i++) p[k][i] = Element(k, i, p[k][i], grads[k][i]);
        }
    }

    private double Mu(long step) => o.Beta1 * (1 - 0.5 * Math.Pow(0.96, step * (double)o.MomentumDecay));

    private double Element(int k, int i, double theta, double grad)
    {
        double b1 = o.Beta1, b2 = o.Beta2, lr = o.Lr, eps = o.Eps;
        switch (o.Name)
        {
            case "SGD":
            {
                double d = Effective(grad, theta, true);
                bool nesterov = o.Nesterov && o.Momentum > 0;
                if (o.Momentum != 0)
                {
                    var buf = S("momentum_buffer", k);
                    double damp = nesterov ? 0 : o.Dampening;
                    buf[i] = t == 1 ? d : o.Momentum * buf[i] + (1 - damp) * d;
                    d = nesterov ? d + o.Momentum * buf[i] : buf[i];
                }
                return theta - lr * d;
            }
            case "Adagrad":
            {
                double d = Effective(grad, theta, true);
                var sum = S("sum", k, o.InitialAccumulator);
                sum[i] += d * d;
                return theta - lr / (1 + (t - 1) * o.LrDecay) * d / (Math.Sqrt(sum[i]) + eps);
            }
            case "RMSprop":
            {
                double d = Effective(grad, theta, true), alpha = o.Alpha;
                var v = S("square_avg", k);
                v[i] = alpha * v[i] + (1 - alpha) * d * d;
                double a;
                if (o.Centered)
                {
                    var m = S("grad_avg", k);
                    m[i] = alpha * m[i] + (1 - alpha) * d;
                    a = Math.Sqrt(v[i] - m[i] * m[i]) + eps;
                }
                else a = Math.Sqrt(v[i]) + eps;
                if (o.Momentum > 0)
                {
                    var buf = S("momentum_buffer", k);
                    buf[i] = o.Momentum * buf[i] + d / a;
                    return theta - lr * buf[i];
                }
                return theta - lr * d / a;
            }
            case "Adadelta":
            {
                double d = Effective(grad, theta, true), rho = o.Alpha;
                var v = S("square_avg", k);
                var u = S("acc_delta", k);
                v[i] = rho * v[i] + (1 - rho) * d * d;
                double delta = Math.Sqrt(u[i] + eps) / Math.Sqrt(v[i] + eps) * d;
                u[i] = rho * u[i] + (1 - rho) * delta * delta;
                return theta - lr * delta;
            }
            case "Adam":
            case "AdamW":
            {
                bool decoupled = o.Name == "AdamW";
                if (decoupled) theta *= 1 - lr * o.WeightDecay;
                double d = Effective(grad, theta, !decoupled);
                var m = S("exp_avg", k);
                var v = S("exp_avg_sq", k);
                m[i] = b1 * m[i] + (1 - b1) * d;
                v[i] = b2 * v[i] + (1 - b2) * d * d;
                double vv = v[i];
                if (o.AmsGrad)
                {
                    var vmax = S("max_exp_avg_sq", k);
                    vmax[i] = Math.Max(vmax[i], v[i]);
                    vv = vmax[i];
                }
                double mHat = m[i] / (1 - Math.Pow(b1, t)), vHat = vv / (1 - Math.Pow(b2, t));
                return theta - lr * mHat / (Math.Sqrt(vHat) + eps);
            }
            case "Adamax":
            {
                double d = Effective(grad, theta, true);
                var m = S("exp_avg", k);
                var u = S("exp_inf", k);
                m[i] = b1 * m[i] + (1 - b1) * d;
                u[i] = Math.Max(b2 * u[i], Math.Abs(d) + eps);
                return theta - lr / (1 - Math.Pow(b1, t)) * m[i] / u[i];
            }
            case "NAdam":
            {
                double d = Effective(grad, theta, true);
                var m = S("exp_avg", k);
                var v = S("exp_avg_sq", k);
                m[i] = b1 * m[i] + (1 - b1) * d;
                v[i] = b2 * v[i] + (1 - b2) * d * d;
                double mu = Mu(t), muNext = Mu(t + 1);
                double denom = Math.Sqrt(v[i] / (1 - Math.Pow(b2, t))) + eps;
                return theta - lr * (1 - mu) / (1 - muProduct) * d / denom
                             - lr * muNext / (1 - muProduct * muNext) * m[i] / denom;
            }
            case "RAdam":
            {
                double d = Effective(grad, theta, true);
                var m = S("exp_avg", k);
                var v = S("exp_avg_sq", k);
                m[i] = b1 * m[i] + (1 - b1) * d;
                v[i] = b2 * v[i] + (1 - b2) * d * d;
                double mHat = m[i] / (1 - Math.Pow(b1, t));
                double rhoInf = 2 / (1 - b2) - 1, bc2 = 1 - Math.Pow(b2, t);
                double rhoT = rhoInf - 2 * t * Math.Pow(b2, t) / bc2;
                if (rhoT <= 5) return theta - lr * mHat;
                double r = Math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
                return theta - lr * mHat * r * Math.Sqrt(bc2) / (Math.Sqrt(v[i]) + eps);
            }
            case "Lion":
            {
                // Chen et al. 2023, Algorithm 2: c = β₁m + (1−β₁)g; θ ← θ − η(sign(c) + λθ); m ← β₂m + (1−β₂)g.
                double d = Effective(grad, theta * (1 - lr * o.WeightDecay), false);
                var m = S("exp_avg", k);
                double c = b1 * m[i] + (1 - b1) * d;
                m[i] = b2 * m[i] + (1 - b2) * d;
                return theta - lr * (Math.Sign(c) + o.WeightDecay * theta);
            }
            default:
                throw new ArgumentException(o.Name);
        }
    }

    /// <summary>You et al. 2019, Algorithm 2 (LAMB), one tensor: trust ratio ‖θ‖/‖r‖.</summary>
    private void LambTensor(int k, double[] p, double[] g)
    {
        var m = S("exp_avg", k);
        var v = S("exp_avg_sq", k);
        var r = new double[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            double d = Effective(g[i], p[i], false);
            m[i] = o.Beta1 * m[i] + (1 - o.Beta1) * d;
            v[i] = o.Beta2 * v[i] + (1 - o.Beta2) * d * d;
            double mHat = m[i] / (1 - Math.Pow(o.Beta1, t)), vHat = v[i] / (1 - Math.Pow(o.Beta2, t));
            r[i] = mHat / (Math.Sqrt(vHat) + o.Eps) + o.WeightDecay * p[i];
        }
        double pn = Math.Sqrt(p.Sum(x => x * x)), rn = Math.Sqrt(r.Sum(x => x * x));
        double trust = pn > 0 && rn > 0 ? pn / rn : 1;
        for (int i = 0; i < p.Length; i++) p[i] -= o.Lr * trust * r[i];
    }
}
