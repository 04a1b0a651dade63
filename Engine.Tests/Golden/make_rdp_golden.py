"""Reference values of the Renyi-DP accountant for the sampled Gaussian mechanism, for RdpAccountantTests.

Opacus is not installed here and PyPI is unreachable, so this is a stand-alone transcription of the math that
Opacus 1.x (opacus/accountants/analysis/rdp.py) and TF Privacy (rdp_accountant.py) implement, after Mironov, Talwar
and Zhang 2019, "Renyi Differential Privacy of the Sampled Gaussian Mechanism", evaluated with mpmath at 60 digits:

  A_alpha = E_{z ~ mu0} [(mu(z) / mu0(z))^alpha],  mu0 = N(0, s^2), mu = (1 - q) N(0, s^2) + q N(1, s^2)
  integer alpha:    A = sum_{i=0}^{alpha} C(alpha, i) (1-q)^(alpha-i) q^i exp((i^2 - i) / (2 s^2))
  fractional alpha: A = A0 + A1, z0 = s^2 log(1/q - 1) + 1/2,
      A0 = sum_i C(alpha, i) q^i (1-q)^(alpha-i) exp((i^2 - i)/(2 s^2)) erfc((i - z0)/(sqrt(2) s)) / 2
      A1 = sum_i C(alpha, i) q^(alpha-i) (1-q)^i exp(((alpha-i)^2 - (alpha-i))/(2 s^2)) erfc((z0 - (alpha-i))/(sqrt(2) s)) / 2
      (the series summed until both terms fall below exp(-30), as the libraries stop)
  RDP(alpha) = steps * log(A) / (alpha - 1)

and two conversions to (eps, delta):
  "opacus1": eps = min_alpha RDP - (log delta + log alpha)/(alpha - 1) + log((alpha - 1)/alpha)   (Opacus >= 1.0,
             Balle et al. 2020; TF Privacy's _compute_eps since 2020 is the same bound)
  "classic": eps = min_alpha RDP - log(delta)/(alpha - 1)   (Mironov 2017 Prop. 3; Opacus 0.x, TF Privacy before 2020)

Run: python3 make_rdp_golden.py > rdp.json
"""
import json
import math

import mpmath as mp

mp.mp.dps = 60

DEFAULT_ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def log_a_int(q, s, alpha):
    q, s = mp.mpf(q), mp.mpf(s)
    total = mp.mpf(0)
    for i in range(alpha + 1):
        total += mp.binomial(alpha, i) * q**i * (1 - q) ** (alpha - i) * mp.e ** ((i * i - i) / (2 * s * s))
    return mp.log(total)


def log_a_frac(q, s, alpha):
    q, s, a = mp.mpf(q), mp.mpf(s), mp.mpf(alpha)
    z0 = s * s * mp.log(1 / q - 1) + mp.mpf(1) / 2
    a0 = a1 = mp.mpf(0)
    i = 0
    while True:
        coef = mp.binomial(a, i)
        j = a - i
        t0 = coef * q**i * (1 - q) ** j
        t1 = coef * q**j * (1 - q) ** i
        e0 = mp.erfc((i - z0) / (mp.sqrt(2) * s)) / 2
        e1 = mp.erfc((z0 - j) / (mp.sqrt(2) * s)) / 2
        s0 = t0 * mp.e ** ((i * i - i) / (2 * s * s)) * e0
        s1 = t1 * mp.e ** ((j * j - j) / (2 * s * s)) * e1
        a0 += s0
        a1 += s1
        i += 1
        if max(mp.log(abs(s0)) if s0 != 0 else -mp.inf, mp.log(abs(s1)) if s1 != 0 else -mp.inf) < -30:
            break
    return mp.log(a0 + a1)


def rdp(q, s, steps, alpha):
    if q == 1:
        return steps * alpha / (2 * s * s)
    la = log_a_int(q, s, int(alpha)) if float(alpha).is_integer() else log_a_frac(q, s, alpha)
    return float(steps * la / (alpha - 1))


def eps(q, s, steps, delta, orders=DEFAULT_ALPHAS, conversion="opacus1"):
    best = (math.inf, None)
    for a in orders:
        r = rdp(q, s, steps, a)
        if conversion == "opacus1":
            e = r - (math.log(delta) + math.log(a)) / (a - 1) + math.log((a - 1) / a)
        else:
            e = r - math.log(delta) / (a - 1)
        if e < best[0]:
            best = (e, a)
    return best


CASES = [
    # name, q, sigma, steps, delta, orders ("default" or a list), conversion
    ("tfp-tutorial-mnist", 256 / 60000, 1.1, 14063, 1e-5, "default", "classic"),
    ("tfp-tutorial-mnist-opacus1", 256 / 60000, 1.1, 14063, 1e-5, "default", "opacus1"),
    ("opacus-docs-mnist", 256 / 60000, 1.12, 14062, 1e-5, [10, 20, 100], "classic"),
    ("gdp-paper-s1.3-e20", 256 / 60000, 1.3, 4687, 1e-5, "default", "classic"),
    ("gdp-paper-s0.7-e70", 256 / 60000, 0.7, 16406, 1e-5, "default", "classic"),
    ("small-q-one-step", 0.01, 1.0, 1, 1e-5, "default", "opacus1"),
    ("mid-q", 0.1, 2.0, 100, 1e-6, "default", "opacus1"),
    ("q-one", 1.0, 5.0, 10, 1e-5, "default", "opacus1"),
    ("federated", 10 / 1000, 1.0, 500, 1e-3, "default", "opacus1"),
]

if __name__ == "__main__":
    out = []
    for name, q, s, steps, delta, orders, conv in CASES:
        o = DEFAULT_ALPHAS if orders == "default" else orders
        e, a = eps(q, s, steps, delta, o, conv)
        out.append({"name": name, "q": q, "sigma": s, "steps": steps, "delta": delta,
                    "orders": None if orders == "default" else orders, "conversion": conv,
                    "epsilon": e, "alpha": a})
    # RDP of single orders, the fractional and integer branches, for a direct check of A_alpha.
    rdps = []
    for q, s in [(0.01, 1.0), (256 / 60000, 1.1), (0.2, 0.8), (0.5, 3.0)]:
        for a in [1.5, 2, 3.7, 8, 12.5, 32, 63]:
            rdps.append({"q": q, "sigma": s, "alpha": a, "rdp": rdp(q, s, 1, a)})
    json.dump({"cases": out, "rdp": rdps}, __import__("sys").stdout, indent=1)
