#!/usr/bin/env python3
"""Writes the PyTorch fixture for torch.nn.utils.prune: which entries each method prunes.

Run with Debian's PyTorch (apt-get install python3-torch, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_prune_golden.py
The file is committed; the tests never need torch.

prune.json: for each case, the modules (Linear or Conv2d: sizes and initial weight/bias, drawn from a normal so no two
|w| tie), the pruning steps applied in order (l1_unstructured, ln_structured, global_unstructured, remove), and after
every step each pruned parameter's mask, so iterative pruning (PyTorch's PruningContainer) is checked step by step.
Amounts keep their Python type: an int is a count, a float a fraction.
"""
import json
import os

import torch
import torch.nn.utils.prune as prune

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(29)


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def make(spec):
    if spec["kind"] == "linear":
        m = torch.nn.Linear(spec["in"], spec["out"])
    else:
        m = torch.nn.Conv2d(spec["in"], spec["out"], spec["k"])
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape))
        m.bias.copy_(torch.randn(m.bias.shape))
    return m


def case(name, specs, steps):
    modules = [make(s) for s in specs]
    out_specs = [dict(s, weight=flat(m.weight), bias=flat(m.bias)) for s, m in zip(specs, modules)]
    masks = []
    for step in steps:
        op = step["op"]
        if op == "l1_unstructured":
            prune.l1_unstructured(modules[step["module"]], step["name"], amount=step["amount"])
        elif op == "ln_structured":
            n = float("inf") if step["n"] == "inf" else step["n"]
            prune.ln_structured(modules[step["module"]], step["name"], amount=step["amount"], n=n, dim=step["dim"])
        elif op == "global_unstructured":
            prune.global_unstructured([(modules[i], nm) for i, nm in step["parameters"]],
                                      pruning_method=prune.L1Unstructured, amount=step["amount"])
        elif op == "remove":
            prune.remove(modules[step["module"]], step["name"])
        after = {}
        for i, m in enumerate(modules):
            for key, buf in m.named_buffers():
                if key.endswith("_mask"):
                    after[f"{i}.{key}"] = flat(buf)
            after[f"{i}.names"] = list(m.state_dict().keys())
            after[f"{i}.weight"] = flat(m.weight)
        masks.append(after)
    return {"name": name, "modules": out_specs, "steps": steps, "after": masks}


lin = {"kind": "linear", "in": 7, "out": 5}
conv = {"kind": "conv2d", "in": 3, "out": 4, "k": 3}
cases = [
    # 35 weights: 0.3·35 = 10.5 rounds to 10 (half to even), as Python's round.
    case("l1_fraction_rounds_half_to_even", [lin], [{"op": "l1_unstructured", "module": 0, "name": "weight", "amount": 0.3}]),
    case("l1_count_and_bias", [lin], [{"op": "l1_unstructured", "module": 0, "name": "weight", "amount": 4},
                                      {"op": "l1_unstructured", "module": 0, "name": "bias", "amount": 0.5}]),
    case("l1_iterative", [lin], [{"op": "l1_unstructured", "module": 0, "name": "weight", "amount": 0.5},
                                 {"op": "l1_unstructured", "module": 0, "name": "weight", "amount": 0.5},
                                 {"op": "l1_unstructured", "module": 0, "name": "weight", "amount": 3}]),
    case("ln_structured_rows_l2", [lin], [{"op": "ln_structured", "module": 0, "name": "weight", "amount": 0.4, "n": 2, "dim": 0}]),
    case("ln_structured_columns_l1_count", [lin], [{"op": "ln_structured", "module": 0, "name": "weight", "amount": 2, "n": 1, "dim": 1}]),
    case("ln_structured_inf_negative_dim", [lin], [{"op": "ln_structured", "module": 0, "name": "weight", "amount": 0.5, "n": "inf", "dim": -2}]),
    case("ln_structured_conv_channels", [conv], [{"op": "ln_structured", "module": 0, "name": "weight", "amount": 0.5, "n": 1, "dim": 0},
                                                 {"op": "ln_structured", "module": 0, "name": "weight", "amount": 1, "n": 2, "dim": 0}]),
    case("structured_then_unstructured", [lin], [{"op": "ln_structured", "module": 0, "name": "weight", "amount": 2, "n": 2, "dim": 0},
                                                 {"op": "l1_unstructured", "module": 0, "name": "weight", "amount": 0.5},
                                                 {"op": "ln_structured", "module": 0, "name": "weight", "amount": 0.34, "n": 1, "dim": 1}]),
    case("global_two_linears_and_conv", [lin, {"kind": "linear", "in": 5, "out": 3}, conv],
         [{"op": "global_unstructured", "parameters": [[0, "weight"], [1, "weight"], [2, "weight"]], "amount": 0.4},
          {"op": "global_unstructured", "parameters": [[0, "weight"], [1, "weight"], [2, "weight"]], "amount": 20},
          {"op": "remove", "module": 1, "name": "weight"}]),
    case("global_over_a_pruned_layer", [lin, {"kind": "linear", "in": 5, "out": 3}],
         [{"op": "l1_unstructured", "module": 0, "name": "weight", "amount": 0.6},
          {"op": "global_unstructured", "parameters": [[0, "weight"], [1, "weight"], [1, "bias"]], "amount": 0.5}]),
]
with open(os.path.join(HERE, "prune.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to prune.json")
