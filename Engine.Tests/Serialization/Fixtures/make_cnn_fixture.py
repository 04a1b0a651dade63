#!/usr/bin/env python3
"""Writes torch_cnn.safetensors: a small CNN's PyTorch state dict plus an input batch and its eval-mode output.

Run with Debian's PyTorch (torch 1.13):
    /usr/bin/python3 Engine.Tests/Serialization/Fixtures/make_cnn_fixture.py
The file is committed; the tests never need torch.

Model (torch.manual_seed(23), PyTorch's default init):
    nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(),
                  nn.Linear(24, 5))
One training-mode forward pass on a random [8, 1, 10, 10] batch (no optimizer step) moves BatchNorm's running
statistics off zeros/ones (num_batches_tracked = 1), then model.eval().
Tensors (F32 unless said): the state dict under PyTorch's keys ("0.weight" [4,1,3,3], "0.bias", "1.weight",
"1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked" (I64, shape []), "4.weight" [6,2,3,3],
"4.bias", "8.weight" [5,24], "8.bias"), plus "input" [3, 1, 10, 10] and "expected" = model(input) in eval mode [3, 5].
Check that an engine-written state dict loads into this model: make_cnn_fixture.py --check FILE.
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_safetensors as st  # noqa: E402

st.TORCH_TO_NAME[torch.int64] = "I64"
st.NAME_TO_TORCH["I64"] = torch.int64
torch.set_num_threads(1)
PATH = os.path.join(HERE, "torch_cnn.safetensors")


def build():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(),
                         nn.Linear(24, 5))


def main():
    torch.manual_seed(23)
    model = build()
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 1, 10, 10) * 2 + 0.5)  # updates BatchNorm's running statistics only
    model.eval()
    x = torch.randn(3, 1, 10, 10)
    with torch.no_grad():
        expected = model(x)
    tensors = dict(model.state_dict())
    tensors["input"] = x
    tensors["expected"] = expected
    st.save_file(tensors, PATH, metadata={"format": "pt"})
    print(f"wrote {PATH}")
    for k, v in tensors.items():
        print(f"  {k}: {v.dtype} {list(v.shape)}")
    # Round trip through the reader.
    back = st.load_file(PATH)
    check_model = build()
    check_model.load_state_dict({k: v for k, v in back.items() if k not in ("input", "expected")}, strict=True)
    check_model.eval()
    with torch.no_grad():
        assert torch.equal(check_model(back["input"]), back["expected"])


def check(path):
    """Loads an engine-written state dict (strict) and prints the largest difference from the stored output."""
    ref = st.load_file(PATH)
    state = st.load_file(path)
    model = build()
    model.load_state_dict({k: v for k, v in state.items() if k not in ("input", "expected")}, strict=True)
    model.eval()
    with torch.no_grad():
        worst = (model(ref["input"]) - ref["expected"]).abs().max().item()
    print(f"loaded {path}: num_batches_tracked {int(model[1].num_batches_tracked)}, max |Δ output| {worst:.2e}")
    sys.exit(0 if worst < 1e-5 else 1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        main()
