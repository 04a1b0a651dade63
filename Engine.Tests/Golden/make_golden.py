#!/usr/bin/env python3
"""Writes the PyTorch golden files the optimizer and schedule tests compare against.

Run with Debian's PyTorch (apt-get install python3-torch libopenblas0-pthread, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_golden.py
The files are committed; the tests never need torch.

optimizers.json: three parameter tensors with fixed initial values, a fixed sequence of 30 gradients (stored,
so no RNG has to agree), and for every optimizer/option set the flat parameter values after each step; then the
same with some parameters given no gradient in some steps ("skip"), which PyTorch leaves alone without advancing
their own step count (state[p]['step']), so their later bias corrections differ from the others'.
schedules.json: the lr (and momentum where cycled) after each of 30 scheduler steps.
"""
import json
import os

import torch

torch.manual_seed(1234)
SHAPES = [[3, 4], [5], [2, 3]]
STEPS = 30
INITIAL = [torch.randn(s) for s in SHAPES]
GRADS = [[torch.randn(s) * 0.5 for s in SHAPES] for _ in range(STEPS)]


def nadam_with_upstream_fix():
    """torch 1.13's NAdam computes the second term's product as Πμ·μₜ·μₜ₊₁ (μₜ twice); PyTorch 2.0 fixed it
    to Πμ·μₜ₊₁ (pytorch/pytorch#90286-era fix). The engine implements the fixed rule, so the golden NAdam
    trajectories come from torch 1.13's own code with that single line corrected."""
    import torch.optim.nadam as nadam

    def single_tensor_nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps, *, beta1, beta2, lr,
                            weight_decay, momentum_decay, eps):
        for i, param in enumerate(params):
            grad, exp_avg, exp_avg_sq, mu_product, step_t = (grads[i], exp_avgs[i], exp_avg_sqs[i],
                                                             mu_products[i], state_steps[i])
            step_t += 1
            step = step_t.item()
            bias_correction2 = 1 - beta2 ** step
            if weight_decay != 0:
                grad = grad.add(param, alpha=weight_decay)
            mu = beta1 * (1. - 0.5 * (0.96 ** (step * momentum_decay)))
            mu_next = beta1 * (1. - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
            mu_product *= mu
            mu_product_next = mu_product * mu_next  # the fix: 1.13 has mu_product * mu * mu_next
            exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = exp_avg_sq.div(bias_correction2).sqrt().add_(eps)
            param.addcdiv_(grad, denom, value=-lr * (1. - mu) / (1. - mu_product.item()))
            param.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1. - mu_product_next.item()))

    nadam._single_tensor_nadam = single_tensor_nadam


def flat(tensors):
    return [float(v) for t in tensors for v in t.reshape(-1).tolist()]


OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}),
    ("SGD", {"lr": 0.1, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("Adagrad", {"lr": 0.05, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.9, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.05}),
    ("Adadelta", {"maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "betas": [0.85, 0.95]}),
]


# SKIP[t][i]: parameter i gets no gradient (p.grad = None) in step t: the third skips the first three steps, the
# second every third step, the first three scattered steps.
SKIP = [[t in (5, 6, 13), t % 3 == 1, t < 3] for t in range(STEPS)]


def run_optimizer(name, options, skip=None):
    params = [p.clone().requires_grad_(True) for p in INITIAL]
    kwargs = dict(options)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    opt = getattr(torch.optim, name)(params, **kwargs)
    trajectory = []
    for t, grads in enumerate(GRADS):
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if skip is not None and skip[t][i] else g.clone()
        opt.step()
        trajectory.append(flat([p.detach() for p in params]))
    return trajectory


def schedule(make, steps=STEPS, optimizer="SGD", opt_kwargs=None, metrics=None, track_momentum=False):
    p = torch.zeros(2, requires_grad=True)
    opt = getattr(torch.optim, optimizer)([p], **(opt_kwargs or {"lr": 0.1}))
    sched = make(opt)
    lrs, momenta = [], []
    for t in range(steps):
        p.grad = torch.zeros(2)
        opt.step()
        if metrics is not None:
            sched.step(metrics[t])
            lrs.append(opt.param_groups[0]["lr"])
        else:
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        if track_momentum:
            g = opt.param_groups[0]
            momenta.append(g["momentum"] if "momentum" in g and optimizer == "SGD" else g["betas"][0])
    return lrs, momenta


def main():
    nadam_with_upstream_fix()
    here = os.path.dirname(os.path.abspath(__file__))
    cases, skipped = [], []
    for name, options in OPTIMIZERS:
        cases.append({"optimizer": name, "options": options, "trajectory": run_optimizer(name, options)})
        skipped.append({"optimizer": name, "options": options, "trajectory": run_optimizer(name, options, SKIP)})
    with open(os.path.join(here, "optimizers.json"), "w") as f:
        json.dump({"torch": torch.__version__, "shapes": SHAPES, "initial": flat(INITIAL),
                   "grads": [flat(g) for g in GRADS], "cases": cases, "skip": SKIP, "skipped_cases": skipped}, f)

    S = torch.optim.lr_scheduler
    plateau_metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.89, 0.9, 0.9, 0.9, 0.9, 0.5, 0.6, 0.6, 0.6, 0.6,
                       0.6, 0.45, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    rising = [0.1 * t for t in range(STEPS)]
    rising[10:16] = [1.0] * 6
    specs = [
        ("StepLR", {"step_size": 7, "gamma": 0.5}, lambda o: S.StepLR(o, step_size=7, gamma=0.5), {}),
        ("MultiStepLR", {"milestones": [5, 12, 12, 20], "gamma": 0.3},
         lambda o: S.MultiStepLR(o, milestones=[5, 12, 12, 20], gamma=0.3), {}),
        ("ExponentialLR", {"gamma": 0.9}, lambda o: S.ExponentialLR(o, gamma=0.9), {}),
        ("CosineAnnealingLR", {"t_max": 10, "eta_min": 0.001},
         lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), {}),
        ("LinearLR", {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 8},
         lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8), {}),
        ("OneCycleLR", {"max_lr": 0.5, "total_steps": 30, "optimizer": "SGD"},
         lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=30),
         {"steps": 29, "opt_kwargs": {"lr": 0.1, "momentum": 0.9}, "track_momentum": True}),
        ("OneCycleLR", {"max_lr": 0.01, "total_steps": 30, "anneal_strategy": "linear", "pct_start": 0.25,
                        "optimizer": "Adam"},
         lambda o: S.OneCycleLR(o, max_lr=0.01, total_steps=30, anneal_strategy="linear", pct_start=0.25),
         {"steps": 29, "optimizer": "Adam", "opt_kwargs": {"lr": 0.001}, "track_momentum": True}),
        ("ReduceLROnPlateau", {"mode": "min", "factor": 0.5, "patience": 2, "threshold": 0.01, "cooldown": 1,
                               "metrics": plateau_metrics},
         lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1),
         {"metrics": plateau_metrics}),
        ("ReduceLROnPlateau", {"mode": "max", "factor": 0.3, "patience": 1, "threshold": 0.05,
                               "threshold_mode": "abs", "min_lr": 0.005, "metrics": rising},
         lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=1, threshold=0.05,
                                       threshold_mode="abs", min_lr=0.005),
         {"metrics": rising}),
    ]
    schedules = []
    for name, options, make, extra in specs:
        lrs, momenta = schedule(make, **extra)
        schedules.append({"schedule": name, "options": options, "lr": lrs, "momentum": momenta})
    with open(os.path.join(here, "schedules.json"), "w") as f:
        json.dump({"torch": torch.__version__, "base_lr": 0.1, "cases": schedules}, f, indent=1)


if __name__ == "__main__":
    main()
