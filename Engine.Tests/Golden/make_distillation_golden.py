#!/usr/bin/env python3
"""Writes the PyTorch fixture for Loss.Distillation (Hinton et al. 2015's knowledge-distillation loss).

Run with Debian's PyTorch (apt-get install python3-torch, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_distillation_golden.py
The file is committed; the tests never need torch.

distillation.json: for each case, student and teacher logits [N, C], labels [N], temperature T and weight alpha, and
PyTorch's loss
    alpha * T*T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
      + (1 - alpha) * F.cross_entropy(s, y)
with its gradient with respect to the student's logits (the teacher's are detached).
"""
import json
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(2015)


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def case(name, n, c, temperature, alpha, teacher_scale=3.0):
    s = (torch.randn(n, c) * 2).requires_grad_()
    t = torch.randn(n, c) * teacher_scale
    y = torch.randint(0, c, (n,))
    soft = F.kl_div(F.log_softmax(s / temperature, 1), F.softmax(t.detach() / temperature, 1), reduction="batchmean")
    loss = alpha * temperature * temperature * soft + (1 - alpha) * F.cross_entropy(s, y)
    loss.backward()
    return {"name": name, "n": n, "c": c, "temperature": temperature, "alpha": alpha, "student": flat(s),
            "teacher": flat(t), "labels": y.tolist(), "loss": float(f"{loss.item():.9g}"), "grad": flat(s.grad)}


cases = [
    case("t1_alpha_half", 4, 5, 1.0, 0.5),
    case("t4_alpha_0_9", 6, 10, 4.0, 0.9),
    case("t2_soft_only", 3, 7, 2.0, 1.0),
    case("hard_only", 5, 4, 3.0, 0.0),
    case("t20_high_temperature", 4, 10, 20.0, 0.7),
    # A confident teacher at T = 1: some softmax(t) entries underflow to 0, where kl_div's terms are 0.
    case("confident_teacher", 4, 6, 1.0, 0.5, teacher_scale=60.0),
]
with open(os.path.join(HERE, "distillation.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to distillation.json")
