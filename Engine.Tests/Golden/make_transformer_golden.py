#!/usr/bin/env python3
"""Writes the PyTorch fixtures the attention-module tests compare against.

Run with Debian's PyTorch (apt-get install python3-torch, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_transformer_golden.py
The file is committed; the tests never need torch.

transformer.json: for each case, a module's configuration, its inputs and masks, its state dict (by PyTorch's names),
the upstream gradients of its output (and of the attention weights where they are returned), and PyTorch's output,
attention weights and the gradients of every input and parameter (by name). Modules stay in training mode with
dropout 0: torch 1.13's encoder-layer "fast path" only runs in eval mode without grad, so these are the plain
compositions.
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(11)


def number(v):
    # 9 significant digits: every float32 exactly, and half the size of the doubles' repr. JSON has no infinities,
    # so a mask's −∞ is the string "-Infinity" (which .NET's float.Parse reads).
    if v != v or v in (float("inf"), float("-inf")):
        return str(v).replace("inf", "Infinity").replace("nan", "NaN")
    return float(f"{v:.9g}")


def flat(t):
    return [number(v) for v in t.detach().reshape(-1).tolist()]


def entry(t):
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "dtype": "bool", "values": [bool(v) for v in t.reshape(-1).tolist()]}
    return {"shape": list(t.shape), "dtype": "float32", "values": flat(t)}


def randomize(module):
    """Non-zero biases and unit-ish norms, so every parameter's gradient is exercised (torch's init zeros biases)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.3)
            elif name.startswith("norm") or ".norm" in name:
                p.copy_(1 + torch.randn_like(p) * 0.2)


def finish(case, module, inputs, output, weights=None):
    dy = torch.randn_like(output)
    loss = (output * dy).sum()
    case["grad_output"] = flat(dy)
    case["output"] = entry(output)
    if weights is not None:
        dw = torch.randn_like(weights)
        loss = loss + (weights * dw).sum()
        case["grad_weights"] = flat(dw)
        case["weights"] = entry(weights)
    loss.backward()
    case["input_grads"] = {k: flat(v.grad) for k, v in inputs.items()}
    case["param_grads"] = {k: flat(p.grad) for k, p in module.named_parameters()}


def mha_case(name, e=8, h=2, l=3, s=4, n=2, batch_first=False, self_attention=False, kdim=None, vdim=None, bias=True,
             need_weights=True, average=True, key_padding=None, attn_mask=None, unbatched=False):
    mha = torch.nn.MultiheadAttention(e, h, dropout=0.0, bias=bias, batch_first=batch_first, kdim=kdim, vdim=vdim)
    randomize(mha)
    case = {"name": name, "kind": "mha", "embed_dim": e, "num_heads": h, "batch_first": batch_first,
            "kdim": kdim, "vdim": vdim, "bias": bias, "need_weights": need_weights, "average_attn_weights": average,
            "self_attention": self_attention,
            "state": {k: entry(v) for k, v in mha.state_dict().items()}}

    def shaped(length, width):
        if unbatched:
            return torch.randn(length, width)
        return torch.randn(n, length, width) if batch_first else torch.randn(length, n, width)

    if self_attention:
        x = shaped(l, e).requires_grad_(True)
        inputs = {"x": x}
        q = k = v = x
    else:
        q = shaped(l, e).requires_grad_(True)
        k = shaped(s, kdim or e).requires_grad_(True)
        v = shaped(s, vdim or e).requires_grad_(True)
        inputs = {"query": q, "key": k, "value": v}
    case["inputs"] = {k2: entry(t) for k2, t in inputs.items()}
    masks = {}
    if key_padding is not None:
        masks["key_padding_mask"] = key_padding
    if attn_mask is not None:
        masks["attn_mask"] = attn_mask
    case["masks"] = {k2: entry(t) for k2, t in masks.items()}
    out, w = mha(q, k, v, key_padding_mask=key_padding, need_weights=need_weights, attn_mask=attn_mask,
                 average_attn_weights=average)
    finish(case, mha, inputs, out, w if need_weights else None)
    return case


def encoder_case(name, d=8, h=2, ff=16, s=3, n=2, batch_first=False, norm_first=False, activation="relu",
                 src_mask=None, key_padding=None, layers=None):
    layer = torch.nn.TransformerEncoderLayer(d, h, dim_feedforward=ff, dropout=0.0, activation=activation,
                                             batch_first=batch_first, norm_first=norm_first)
    module = layer if layers is None else torch.nn.TransformerEncoder(layer, layers, norm=torch.nn.LayerNorm(d))
    randomize(module)
    module.train()
    case = {"name": name, "kind": "encoder_layer" if layers is None else "encoder", "d_model": d, "nhead": h,
            "dim_feedforward": ff, "batch_first": batch_first, "norm_first": norm_first, "activation": activation,
            "num_layers": layers, "state": {k: entry(v) for k, v in module.state_dict().items()}}
    src = (torch.randn(n, s, d) if batch_first else torch.randn(s, n, d)).requires_grad_(True)
    case["inputs"] = {"src": entry(src)}
    masks = {}
    if src_mask is not None:
        masks["src_mask"] = src_mask
    if key_padding is not None:
        masks["src_key_padding_mask"] = key_padding
    case["masks"] = {k: entry(t) for k, t in masks.items()}
    if layers is None:
        out = module(src, src_mask=src_mask, src_key_padding_mask=key_padding)
    else:
        out = module(src, mask=src_mask, src_key_padding_mask=key_padding)
    finish(case, module, {"src": src}, out)
    return case


def decoder_case(name, d=8, h=2, ff=16, t=3, s=4, n=2, batch_first=False, norm_first=False, activation="relu",
                 tgt_mask=None, memory_mask=None, tgt_key_padding=None, memory_key_padding=None):
    layer = torch.nn.TransformerDecoderLayer(d, h, dim_feedforward=ff, dropout=0.0, activation=activation,
                                             batch_first=batch_first, norm_first=norm_first)
    randomize(layer)
    case = {"name": name, "kind": "decoder_layer", "d_model": d, "nhead": h, "dim_feedforward": ff,
            "batch_first": batch_first, "norm_first": norm_first, "activation": activation,
            "state": {k: entry(v) for k, v in layer.state_dict().items()}}
    tgt = (torch.randn(n, t, d) if batch_first else torch.randn(t, n, d)).requires_grad_(True)
    memory = (torch.randn(n, s, d) if batch_first else torch.randn(s, n, d)).requires_grad_(True)
    case["inputs"] = {"tgt": entry(tgt), "memory": entry(memory)}
    masks = {"tgt_mask": tgt_mask, "memory_mask": memory_mask, "tgt_key_padding_mask": tgt_key_padding,
             "memory_key_padding_mask": memory_key_padding}
    case["masks"] = {k: entry(m) for k, m in masks.items() if m is not None}
    out = layer(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding,
                memory_key_padding_mask=memory_key_padding)
    finish(case, layer, {"tgt": tgt, "memory": memory}, out)
    return case


def causal(length):
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


def main():
    padding = torch.tensor([[False, False, False, True], [False, True, False, False]])
    bool_mask = torch.tensor([[False, True, False, False], [False, False, True, False], [True, False, False, True]])
    float_mask = torch.randn(2 * 2, 3, 4) * 0.5
    float_mask[1, 2, 0] = float("-inf")
    cases = [
        mha_case("mha_seq_first"),
        mha_case("mha_batch_first"),
        mha_case("mha_self_batch_first", batch_first=True, self_attention=True, s=3),
        mha_case("mha_self_no_weights", self_attention=True, s=3, need_weights=False),
        mha_case("mha_key_padding", key_padding=padding),
        mha_case("mha_bool_mask_and_padding_batch_first", batch_first=True, key_padding=padding, attn_mask=bool_mask),
        mha_case("mha_float_mask_3d_per_head", attn_mask=float_mask, average=False),
        mha_case("mha_masks_no_weights", key_padding=padding, attn_mask=bool_mask, need_weights=False),
        mha_case("mha_kdim_vdim", kdim=5, vdim=6),
        mha_case("mha_no_bias", bias=False, key_padding=padding),
        mha_case("mha_unbatched", unbatched=True, attn_mask=bool_mask),
        mha_case("mha_four_heads", e=12, h=4, l=5, s=4),
        encoder_case("encoder_post_relu"),
        encoder_case("encoder_pre_gelu_batch_first", norm_first=True, activation="gelu", batch_first=True),
        encoder_case("encoder_post_gelu_masks", activation="gelu", src_mask=causal(3),
                     key_padding=torch.tensor([[False, False, True], [False, False, False]])),
        encoder_case("encoder_pre_relu_masks", norm_first=True, src_mask=causal(3),
                     key_padding=torch.tensor([[False, True, False], [False, False, False]])),
        encoder_case("encoder_stack", layers=2, norm_first=True),
        decoder_case("decoder_post_relu"),
        decoder_case("decoder_pre_gelu_batch_first", norm_first=True, activation="gelu", batch_first=True),
        decoder_case("decoder_post_relu_masks", tgt_mask=causal(3), memory_key_padding=padding,
                     tgt_key_padding=torch.tensor([[False, False, True], [False, False, False]])),
        decoder_case("decoder_pre_relu_memory_mask", norm_first=True, memory_mask=bool_mask),
    ]
    with open(os.path.join(HERE, "transformer.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)


if __name__ == "__main__":
    main()
