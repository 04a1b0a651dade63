#!/usr/bin/env python3
"""Writes the PyTorch fixtures the recurrent-layer tests compare against.

Run with Debian's PyTorch (torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_rnn_golden.py
The file is committed; the tests never need torch.

rnn.json: for each case, the module's options, its state dict (name, shape, values), the input, the initial states
(or null for zeros) and the upstream gradients of every output (stored, so no RNG has to agree), then torch's
outputs, final states and the gradients of the input, the initial states and every parameter, under the loss
L = Σ output·d_output + Σ h_n·d_h (+ Σ c_n·d_c).
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(11)


def flat(t):
    # 9 significant digits carry a float32 exactly.
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def tensor_entry(t):
    return {"shape": list(t.shape), "values": flat(t)}


def layer_case(name, kind, input_size, hidden, steps, batch, num_layers=1, bias=True, batch_first=False,
               bidirectional=False, with_state=True, unbatched=False):
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    m = cls(input_size, hidden, num_layers=num_layers, bias=bias, batch_first=batch_first,
            bidirectional=bidirectional)
    states = num_layers * (2 if bidirectional else 1)
    if unbatched:
        x_shape, s_shape = [steps, input_size], [states, hidden]
    else:
        x_shape = [batch, steps, input_size] if batch_first else [steps, batch, input_size]
        s_shape = [states, batch, hidden]
    x = torch.randn(x_shape, requires_grad=True)
    h0 = torch.randn(s_shape, requires_grad=True) if with_state else None
    c0 = torch.randn(s_shape, requires_grad=True) if with_state and kind == "lstm" else None
    if kind == "lstm":
        out, (h_n, c_n) = m(x, (h0, c0)) if with_state else m(x)
    else:
        out, h_n = m(x, h0) if with_state else m(x)
        c_n = None
    d_out, d_h = torch.randn(out.shape), torch.randn(h_n.shape)
    loss = (out * d_out).sum() + (h_n * d_h).sum()
    d_c = None
    if c_n is not None:
        d_c = torch.randn(c_n.shape)
        loss = loss + (c_n * d_c).sum()
    loss.backward()
    return {
        "name": name, "kind": kind, "cell": False, "input_size": input_size, "hidden_size": hidden,
        "num_layers": num_layers, "bias": bias, "batch_first": batch_first, "bidirectional": bidirectional,
        "state": {k: tensor_entry(v) for k, v in m.state_dict().items()},
        "x": tensor_entry(x), "h0": tensor_entry(h0) if h0 is not None else None,
        "c0": tensor_entry(c0) if c0 is not None else None,
        "d_output": flat(d_out), "d_h": flat(d_h), "d_c": flat(d_c) if d_c is not None else None,
        "output": tensor_entry(out), "h_n": tensor_entry(h_n), "c_n": tensor_entry(c_n) if c_n is not None else None,
        "dx": flat(x.grad), "dh0": flat(h0.grad) if h0 is not None else None,
        "dc0": flat(c0.grad) if c0 is not None else None,
        "grads": {k: flat(p.grad) for k, p in m.named_parameters()},
    }


def cell_case(name, kind, input_size, hidden, batch, bias=True):
    cls = torch.nn.LSTMCell if kind == "lstm" else torch.nn.GRUCell
    m = cls(input_size, hidden, bias=bias)
    x = torch.randn(batch, input_size, requires_grad=True)
    h0 = torch.randn(batch, hidden, requires_grad=True)
    c0 = torch.randn(batch, hidden, requires_grad=True) if kind == "lstm" else None
    if kind == "lstm":
        h_n, c_n = m(x, (h0, c0))
    else:
        h_n, c_n = m(x, h0), None
    d_h = torch.randn(h_n.shape)
    loss = (h_n * d_h).sum()
    d_c = None
    if c_n is not None:
        d_c = torch.randn(c_n.shape)
        loss = loss + (c_n * d_c).sum()
    loss.backward()
    return {
        "name": name, "kind": kind, "cell": True, "input_size": input_size, "hidden_size": hidden, "bias": bias,
        "state": {k: tensor_entry(v) for k, v in m.state_dict().items()},
        "x": tensor_entry(x), "h0": tensor_entry(h0), "c0": tensor_entry(c0) if c0 is not None else None,
        "d_h": flat(d_h), "d_c": flat(d_c) if d_c is not None else None,
        "h_n": tensor_entry(h_n), "c_n": tensor_entry(c_n) if c_n is not None else None,
        "dx": flat(x.grad), "dh0": flat(h0.grad), "dc0": flat(c0.grad) if c0 is not None else None,
        "grads": {k: flat(p.grad) for k, p in m.named_parameters()},
    }


cases = []
for kind in ("lstm", "gru"):
    cases += [
        layer_case(f"{kind}_one_layer", kind, 3, 4, steps=3, batch=2),
        layer_case(f"{kind}_two_layers_bidirectional", kind, 3, 4, steps=3, batch=2, num_layers=2,
                   bidirectional=True),
        layer_case(f"{kind}_batch_first_no_bias_zero_state", kind, 5, 3, steps=4, batch=3, bias=False,
                   batch_first=True, with_state=False),
        layer_case(f"{kind}_unbatched_two_layers", kind, 2, 5, steps=3, batch=1, num_layers=2, unbatched=True),
        layer_case(f"{kind}_wide_hidden_bidirectional", kind, 4, 19, steps=2, batch=1, bidirectional=True),
        cell_case(f"{kind}_cell", kind, 3, 5, batch=2),
        cell_case(f"{kind}_cell_no_bias", kind, 4, 3, batch=1, bias=False),
    ]

with open(os.path.join(HERE, "rnn.json"), "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to rnn.json")
