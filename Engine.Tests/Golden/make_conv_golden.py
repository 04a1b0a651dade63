#!/usr/bin/env python3
"""Writes the PyTorch fixtures the convolution / pooling / spatial-normalization tests compare against
(Golden/conv_ops.json).

Run with Debian's PyTorch (apt-get install python3-torch libopenblas0-pthread, torch 1.13):
    /usr/bin/python3 Engine.Tests/Golden/make_conv_golden.py
The file is committed; the tests never need torch.

Same layout as nd_ops.json (make_nd_golden.py), plus "op" and "args":
  {"torch": version, "cases": [case, ...]}, each case
    "name":    unique case name
    "op":      conv1d | conv2d | conv_transpose2d | max_pool1d | max_pool2d | avg_pool1d | avg_pool2d |
               adaptive_avg_pool2d | adaptive_max_pool2d | group_norm | batch_norm2d | upsample_nearest |
               upsample_bilinear
    "args":    the op's keyword arguments as torch.nn.functional names them, every one written out (defaults too);
               tuples are lists with one entry per spatial dim; "padding" of a conv may be "same"/"valid";
               a pool's "stride" is never null (PyTorch's default stride = kernel_size is written out);
               convs also carry "bias" (bool) and "padding_mode" ("zeros" | "reflect" | "replicate", nn.Conv2d's
               name; non-"zeros" pads the input by "padding" in that mode and then convolves with padding 0)
    "inputs":  float inputs [{"shape": [...], "values": [...]}]: convs [input, weight, bias] (no bias entry when
               args.bias is false); group_norm / batch_norm2d [input, weight, bias]; others [input]
    "w":       stored upstream gradient (flat, output's shape)
    "shape":   output shape
    "out":     PyTorch's output (flat, row-major)
    "grads":   gradient of sum(out * w) with respect to each input, in "inputs" order (flat)
    "indices": max_pool* / adaptive_max_pool2d only: PyTorch's return_indices output (flat, output's shape);
               each is the position inside its own [N, C] plane, row-major over the input's spatial dims (h * W + w)
    "running_mean", "running_var": batch_norm2d only: the running statistics after the one training-mode call
               (started from zeros / ones; running_var is updated with the unbiased batch variance)
"""
import json
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)
torch.manual_seed(22)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def lst(v, n):
    """A PyTorch int-or-tuple argument as a list of n entries (strings and None pass through)."""
    if v is None or isinstance(v, str):
        return v
    return list(v) if isinstance(v, (tuple, list)) else [v] * n


def case(name, op, args, float_shapes, fn):
    """fn(*inputs) returns the output, or (output, indices), or (output, indices, extra fields)."""
    xs = [torch.randn(*s, dtype=torch.float64).float().requires_grad_(True) for s in float_shapes]
    result = fn(*xs)
    if not isinstance(result, tuple):
        result = (result,)
    out = result[0]
    indices = result[1] if len(result) > 1 else None
    extra = result[2] if len(result) > 2 else {}
    w = torch.randn(out.shape)
    (out * w).sum().backward()
    entry = {
        "name": name,
        "op": op,
        "args": args,
        "inputs": [{"shape": list(x.shape), "values": flat(x)} for x in xs],
        "w": flat(w),
        "shape": list(out.shape),
        "out": flat(out),
        "grads": [flat(x.grad) if x.grad is not None else [0.0] * x.numel() for x in xs],
    }
    if indices is not None:
        entry["indices"] = [int(v) for v in indices.reshape(-1).tolist()]
    entry.update(extra)
    return entry


def conv(name, x_shape, out_channels, kernel, stride=1, padding=0, dilation=1, groups=1, bias=True,
         padding_mode="zeros"):
    n = len(x_shape) - 2
    kernel = lst(kernel, n)
    w_shape = [out_channels, x_shape[1] // groups] + kernel
    shapes = [x_shape, w_shape] + ([[out_channels]] if bias else [])
    args = {"stride": lst(stride, n), "padding": lst(padding, n), "dilation": lst(dilation, n), "groups": groups,
            "bias": bias, "padding_mode": padding_mode}
    op = "conv1d" if n == 1 else "conv2d"

    def fn(x, w, b=None):
        if padding_mode == "zeros":
            f = F.conv1d if n == 1 else F.conv2d
            return f(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        # nn.Conv2d's own computation (it pads in padding_mode, then convolves with padding 0), with our weight/bias.
        module = torch.nn.Conv2d(x_shape[1], out_channels, kernel, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode)
        return module._conv_forward(x, w, b)
    return case(name, op, args, shapes, fn)


def conv_t(name, x_shape, out_channels, kernel, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
           bias=True):
    kernel = lst(kernel, 2)
    w_shape = [x_shape[1], out_channels // groups] + kernel
    shapes = [x_shape, w_shape] + ([[out_channels]] if bias else [])
    args = {"stride": lst(stride, 2), "padding": lst(padding, 2), "output_padding": lst(output_padding, 2),
            "groups": groups, "dilation": lst(dilation, 2), "bias": bias}
    return case(name, "conv_transpose2d", args, shapes,
                lambda x, w, b=None: F.conv_transpose2d(x, w, b, stride=stride, padding=padding,
                                                        output_padding=output_padding, groups=groups,
                                                        dilation=dilation))


def max_pool(name, x_shape, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    n = len(x_shape) - 2
    args = {"kernel_size": lst(kernel_size, n), "stride": lst(stride if stride is not None else kernel_size, n),
            "padding": lst(padding, n), "dilation": lst(dilation, n), "ceil_mode": ceil_mode, "return_indices": True}
    f = F.max_pool1d if n == 1 else F.max_pool2d
    return case(name, f"max_pool{n}d", args, [x_shape],
                lambda x: f(x, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True))


def avg_pool(name, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    n = len(x_shape) - 2
    args = {"kernel_size": lst(kernel_size, n), "stride": lst(stride if stride is not None else kernel_size, n),
            "padding": lst(padding, n), "ceil_mode": ceil_mode, "count_include_pad": count_include_pad}
    if n == 1:
        fn = lambda x: F.avg_pool1d(x, kernel_size, stride, padding, ceil_mode, count_include_pad)  # noqa: E731
    else:
        args["divisor_override"] = divisor_override
        fn = lambda x: F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,  # noqa: E731
                                    divisor_override)
    return case(name, f"avg_pool{n}d", args, [x_shape], fn)


def batch_norm(name, x_shape):
    c = x_shape[1]
    box = {}

    def fn(x, weight, bias):
        rm, rv = torch.zeros(c), torch.ones(c)
        out = F.batch_norm(x, rm, rv, weight, bias, training=True, momentum=0.1, eps=1e-5)
        return out, None, {"running_mean": flat(rm), "running_var": flat(rv)}
    return case(name, "batch_norm2d", {"training": True, "momentum": 0.1, "eps": 1e-5}, [x_shape, [c], [c]], fn)


def interpolate(name, mode, x_shape, size=None, scale_factor=None, align_corners=None):
    args = {"mode": mode, "size": lst(size, 2), "scale_factor": scale_factor, "align_corners": align_corners}
    return case(name, f"upsample_{mode}", args, [x_shape],
                lambda x: F.interpolate(x, size=size, scale_factor=scale_factor, mode=mode,
                                        align_corners=align_corners))


def main():
    cases = [
        # conv1d
        conv("conv1d_basic", [2, 3, 10], 4, 3),
        conv("conv1d_stride2_pad1_nobias", [2, 3, 11], 4, 3, stride=2, padding=1, bias=False),
        conv("conv1d_same_even_kernel_dilation3_b1", [1, 2, 9], 3, 4, padding="same", dilation=3),
        conv("conv1d_valid_groups2", [1, 4, 8], 6, 3, padding="valid", groups=2),
        conv("conv1d_dilation3_stride2_pad2", [2, 2, 12], 2, 3, stride=2, padding=2, dilation=3),
        # conv2d
        conv("conv2d_basic_7x5_b1", [1, 2, 7, 5], 3, 3),
        conv("conv2d_pad1_b3", [3, 2, 6, 6], 4, 3, padding=1),
        conv("conv2d_stride2_pad1_7x7", [2, 3, 7, 7], 4, 3, stride=2, padding=1),
        conv("conv2d_stride21_pad12_nobias", [2, 2, 7, 5], 3, (3, 2), stride=(2, 1), padding=(1, 2), bias=False),
        conv("conv2d_same_even_kernel", [1, 3, 7, 5], 2, (4, 3), padding="same"),
        conv("conv2d_same_dilation2", [2, 2, 8, 7], 3, 3, padding="same", dilation=2),
        conv("conv2d_valid", [1, 2, 6, 7], 2, (2, 3), padding="valid"),
        conv("conv2d_dilation2_pad1_b3", [3, 2, 9, 8], 3, 3, padding=1, dilation=2),
        conv("conv2d_dilation21_stride2", [2, 2, 9, 7], 2, (2, 3), stride=2, dilation=(2, 1), bias=False),
        conv("conv2d_groups2", [2, 4, 6, 5], 6, 3, padding=1, groups=2),
        conv("conv2d_depthwise", [2, 3, 7, 5], 6, 3, padding=1, groups=3),
        conv("conv2d_1x1_b3", [3, 4, 5, 5], 5, 1),
        conv("conv2d_kernel_is_input", [2, 3, 5, 4], 4, (5, 4)),
        conv("conv2d_reflect", [2, 2, 6, 5], 3, 3, padding=1, padding_mode="reflect"),
        conv("conv2d_replicate_stride2", [1, 2, 5, 6], 2, 3, stride=2, padding=(2, 1), padding_mode="replicate"),
        # conv_transpose2d
        conv_t("conv_transpose2d_basic", [2, 3, 4, 5], 2, 3),
        conv_t("conv_transpose2d_stride2_pad1_outpad1", [1, 2, 4, 3], 3, 3, stride=2, padding=1, output_padding=1),
        conv_t("conv_transpose2d_groups2_dilation2", [2, 4, 3, 4], 2, (3, 2), stride=(2, 1), padding=(1, 0),
               output_padding=(1, 0), groups=2, dilation=2),
        conv_t("conv_transpose2d_stride3_nobias", [1, 2, 3, 3], 2, 2, stride=3, bias=False),
        # max pooling
        max_pool("max_pool1d_k2", [2, 3, 9], 2),
        max_pool("max_pool1d_k3s2p1_dil2_ceil", [1, 2, 12], 3, stride=2, padding=1, dilation=2, ceil_mode=True),
        max_pool("max_pool2d_2x2", [2, 3, 8, 6], 2),
        max_pool("max_pool2d_k3s2p1_7x5", [1, 2, 7, 5], 3, stride=2, padding=1),
        max_pool("max_pool2d_k23_ceil", [2, 2, 7, 5], (2, 3), stride=2, ceil_mode=True),
        max_pool("max_pool2d_dilation2_pad1", [1, 2, 9, 8], 2, stride=1, padding=1, dilation=2),
        # average pooling
        avg_pool("avg_pool1d_k3s2", [2, 3, 9], 3, stride=2),
        avg_pool("avg_pool1d_pad1_ceil_exclude", [1, 2, 10], 3, stride=2, padding=1, ceil_mode=True,
                 count_include_pad=False),
        avg_pool("avg_pool2d_2x2", [2, 3, 8, 6], 2),
        avg_pool("avg_pool2d_k3s2p1_ceil_include_8x6", [1, 2, 8, 6], 3, stride=2, padding=1, ceil_mode=True),
        avg_pool("avg_pool2d_k32s21p1_exclude", [2, 2, 7, 5], (3, 2), stride=(2, 1), padding=1,
                 count_include_pad=False),
        avg_pool("avg_pool2d_divisor_override", [2, 2, 6, 5], 3, stride=2, padding=1, divisor_override=4),
        # adaptive pooling
        case("adaptive_avg_pool2d_7x5_to_3x2", "adaptive_avg_pool2d", {"output_size": [3, 2]}, [[2, 3, 7, 5]],
             lambda x: F.adaptive_avg_pool2d(x, (3, 2))),
        case("adaptive_avg_pool2d_8x6_to_4x3", "adaptive_avg_pool2d", {"output_size": [4, 3]}, [[1, 2, 8, 6]],
             lambda x: F.adaptive_avg_pool2d(x, (4, 3))),
        case("adaptive_avg_pool2d_global", "adaptive_avg_pool2d", {"output_size": [1, 1]}, [[2, 4, 5, 6]],
             lambda x: F.adaptive_avg_pool2d(x, (1, 1))),
        case("adaptive_max_pool2d_7x5_to_3x2", "adaptive_max_pool2d", {"output_size": [3, 2], "return_indices": True},
             [[2, 3, 7, 5]], lambda x: F.adaptive_max_pool2d(x, (3, 2), return_indices=True)),
        case("adaptive_max_pool2d_global", "adaptive_max_pool2d", {"output_size": [1, 1], "return_indices": True},
             [[2, 4, 5, 6]], lambda x: F.adaptive_max_pool2d(x, (1, 1), return_indices=True)),
        # normalization
        case("group_norm_3_groups", "group_norm", {"num_groups": 3, "eps": 1e-5}, [[2, 6, 4, 3], [6], [6]],
             lambda x, w, b: F.group_norm(x, 3, w, b, eps=1e-5)),
        case("group_norm_1_group", "group_norm", {"num_groups": 1, "eps": 1e-5}, [[3, 4, 5, 2], [4], [4]],
             lambda x, w, b: F.group_norm(x, 1, w, b, eps=1e-5)),
        case("group_norm_per_channel", "group_norm", {"num_groups": 4, "eps": 1e-5}, [[2, 4, 3, 3], [4], [4]],
             lambda x, w, b: F.group_norm(x, 4, w, b, eps=1e-5)),
        batch_norm("batch_norm2d", [3, 4, 5, 5]),
        batch_norm("batch_norm2d_7x5_b2", [2, 3, 7, 5]),
        # resampling
        interpolate("upsample_nearest_scale2", "nearest", [1, 2, 3, 4], scale_factor=2.0),
        interpolate("upsample_nearest_size5x7", "nearest", [2, 2, 3, 4], size=(5, 7)),
        interpolate("upsample_bilinear_scale2", "bilinear", [1, 2, 3, 4], scale_factor=2.0, align_corners=False),
        interpolate("upsample_bilinear_scale2_align", "bilinear", [1, 2, 3, 4], scale_factor=2.0, align_corners=True),
        interpolate("upsample_bilinear_size5x3", "bilinear", [2, 2, 3, 4], size=(5, 3), align_corners=False),
        interpolate("upsample_bilinear_size5x3_align", "bilinear", [2, 2, 3, 4], size=(5, 3), align_corners=True),
    ]
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    path = os.path.join(HERE, "conv_ops.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
    print(f"wrote {len(cases)} cases to {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
