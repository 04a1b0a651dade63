#!/usr/bin/env python3
"""PyTorch loads the engine's own state dicts: the other direction of the transformer and RNN fixtures.

    /usr/bin/python3 load_engine_state_dicts.py FIXTURE.json DIR

For every case of FIXTURE.json (transformer.json or rnn.json) with a DIR/NAME.safetensors, which the engine wrote from
a module it initialised itself, this builds the same torch module from the case's configuration, loads the file with
load_state_dict(strict=True) (every key and shape must match), runs the case's inputs and masks, and compares the output
(h for cells) with the engine's, DIR/NAME.output (raw little-endian float32), within 2e-5 + 1e-4·|x|. Prints one line
per case and exits 1 if any failed. Run by Engine.Tests (AttentionModuleTests, RecurrentTests) when torch is there.
"""
import json
import os
import struct
import sys

import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        data = bytearray(raw[8 + n + start:8 + n + end])
        tensors[name] = torch.frombuffer(data, dtype=torch.float32).reshape(info["shape"]).clone()
    return tensors


def entry(e):
    if e is None:
        return None
    if e.get("dtype") == "bool":
        return torch.tensor(e["values"], dtype=torch.bool).reshape(e["shape"])
    return torch.tensor([float(v) for v in e["values"]], dtype=torch.float32).reshape(e["shape"])


def build(c):
    kind = c["kind"]
    if kind == "mha":
        return torch.nn.MultiheadAttention(c["embed_dim"], c["num_heads"], dropout=0.0, bias=c["bias"],
                                           batch_first=c["batch_first"], kdim=c["kdim"], vdim=c["vdim"])
    if kind in ("encoder_layer", "encoder"):
        layer = torch.nn.TransformerEncoderLayer(c["d_model"], c["nhead"], dim_feedforward=c["dim_feedforward"],
                                                 dropout=0.0, activation=c["activation"],
                                                 batch_first=c["batch_first"], norm_first=c["norm_first"])
        if kind == "encoder_layer":
            return layer
        return torch.nn.TransformerEncoder(layer, c["num_layers"], norm=torch.nn.LayerNorm(c["d_model"]))
    if kind == "decoder_layer":
        return torch.nn.TransformerDecoderLayer(c["d_model"], c["nhead"], dim_feedforward=c["dim_feedforward"],
                                                dropout=0.0, activation=c["activation"],
                                                batch_first=c["batch_first"], norm_first=c["norm_first"])
    lstm = kind == "lstm"
    if c["cell"]:
        cls = torch.nn.LSTMCell if lstm else torch.nn.GRUCell
        return cls(c["input_size"], c["hidden_size"], bias=c["bias"])
    cls = torch.nn.LSTM if lstm else torch.nn.GRU
    return cls(c["input_size"], c["hidden_size"], num_layers=c["num_layers"], bias=c["bias"],
               batch_first=c["batch_first"], bidirectional=c["bidirectional"])


def run(module, c):
    kind = c["kind"]
    if kind in ("lstm", "gru"):
        x, h0, c0 = entry(c["x"]), entry(c.get("h0")), entry(c.get("c0"))
        if c["cell"]:
            state = None if h0 is None else ((h0, c0) if kind == "lstm" else h0)
            out = module(x, state)
            return out[0] if kind == "lstm" else out
        state = None if h0 is None else ((h0, c0) if kind == "lstm" else h0)
        return module(x, state)[0]
    inputs = {k: entry(v) for k, v in c["inputs"].items()}
    masks = {k: entry(v) for k, v in c["masks"].items()}
    if kind == "mha":
        q, k, v = (inputs["x"],) * 3 if "x" in inputs else (inputs["query"], inputs["key"], inputs["value"])
        return module(q, k, v, key_padding_mask=masks.get("key_padding_mask"), need_weights=c["need_weights"],
                      attn_mask=masks.get("attn_mask"), average_attn_weights=c["average_attn_weights"])[0]
    if kind == "encoder_layer":
        return module(inputs["src"], src_mask=masks.get("src_mask"),
                      src_key_padding_mask=masks.get("src_key_padding_mask"))
    if kind == "encoder":
        return module(inputs["src"], mask=masks.get("src_mask"), src_key_padding_mask=masks.get("src_key_padding_mask"))
    return module(inputs["tgt"], inputs["memory"], tgt_mask=masks.get("tgt_mask"), memory_mask=masks.get("memory_mask"),
                  tgt_key_padding_mask=masks.get("tgt_key_padding_mask"),
                  memory_key_padding_mask=masks.get("memory_key_padding_mask"))


def main():
    fixture, folder = sys.argv[1], sys.argv[2]
    cases = json.load(open(fixture))["cases"]
    failed = checked = 0
    for c in cases:
        path = os.path.join(folder, c["name"] + ".safetensors")
        if not os.path.exists(path):
            continue
        checked += 1
        try:
            module = build(c)
            module.train()  # as the fixtures: dropout 0, and torch 1.13's encoder fast path only runs in eval mode
            module.load_state_dict(load_safetensors(path), strict=True)
            with torch.no_grad():
                out = run(module, c)
            with open(os.path.join(folder, c["name"] + ".output"), "rb") as f:
                raw = bytearray(f.read())
            engine = torch.frombuffer(raw, dtype=torch.float32)
            ours = out.reshape(-1)
            if engine.numel() != ours.numel():
                raise ValueError(f"engine output has {engine.numel()} values, torch {ours.numel()}")
            worst = ((ours - engine).abs() - 1e-4 * engine.abs()).max().item()
            ok = worst <= 2e-5
            print(f"{c['name']}: {'OK' if ok else 'FAILED'} (worst excess {worst:.2e})")
            failed += not ok
        except Exception as e:  # a key or shape mismatch in load_state_dict lands here, named
            print(f"{c['name']}: FAILED: {e}")
            failed += 1
    print(f"{checked} state dicts loaded by torch {torch.__version__}, {failed} failed")
    sys.exit(1 if failed or checked == 0 else 0)


if __name__ == "__main__":
    main()
