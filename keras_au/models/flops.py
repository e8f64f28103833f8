"""Parameter and FLOP counts of Keras models/functions (TF backend), for ``keras-au summary``.

Convention: FLOPs here are **multiply-accumulates (MACs)**, 1 multiply-add = 1 FLOP — the convention
of the PyTorch counters (thop/ptflops) behind most papers' "GFLOPs" (ResNet-18 = 1.82 "GFLOPs" at
224²). Multiply by 2 for the 2-FLOPs-per-MAC convention. Counted: convolutions (incl. grouped,
depthwise and transposed), matrix multiplications and einsums, i.e. every op with weights or
attention products; element-wise ops, normalisation, activations, pooling, resizing and gathers are
not (they are < 1 % for the models here).

How: the function is traced once with ``tf.function`` for fixed input shapes, and the ops of the
resulting graph (and of any function it calls) are read with their static shapes. Nothing is executed,
so this is cheap even for the paper-sized models.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf


def count_params(variables: Iterable) -> int:
    """Number of scalars in ``variables`` (deduplicated by identity)."""
    seen, total = set(), 0
    for v in variables:
        if id(v) in seen:
            continue
        seen.add(id(v))
        total += int(np.prod(v.shape))
    return total


def _dims(t) -> list:
    shape = t.shape
    if shape.rank is None or any(d is None for d in shape.as_list()):
        raise ValueError(f"op input {t.name} has unknown shape {shape}; trace with fixed shapes")
    return shape.as_list()


def _einsum_macs(equation: str, shapes: list) -> int:
    lhs, _ = equation.replace(" ", "").split("->")
    sizes: dict = {}
    for term, shape in zip(lhs.split(","), shapes):
        if "..." in term:
            head, tail = term.split("...")
            n_ell = len(shape) - len(head) - len(tail)
            for i in range(n_ell):
                sizes[f"ell{i}"] = shape[len(head) + i]
            letters = list(head) + list(tail)
            dims = shape[: len(head)] + shape[len(shape) - len(tail):]
        else:
            letters, dims = list(term), shape
        for ch, d in zip(letters, dims):
            sizes[ch] = max(sizes.get(ch, 1), d)
    return int(np.prod(list(sizes.values()), dtype=np.int64))


def op_macs(op) -> int:
    """MACs of one graph op (0 for uncounted types)."""
    t = op.type
    if t in ("Conv2D", "Conv3D", "DepthwiseConv2dNative"):
        kernel = _dims(op.inputs[1])
        out = _dims(op.outputs[0])
        # kernel = kh*kw*(cin/groups)*cout (depthwise: kh*kw*cin*multiplier) MACs per output position
        return out[0] * int(np.prod(out[1:-1])) * int(np.prod(kernel))
    if t in ("Conv2DBackpropInput", "Conv3DBackpropInputV2"):
        kernel = _dims(op.inputs[1])
        grad = _dims(op.inputs[2])  # the transposed conv's input
        return grad[0] * int(np.prod(grad[1:-1])) * int(np.prod(kernel))
    if t == "MatMul":
        a, b = _dims(op.inputs[0]), _dims(op.inputs[1])
        m = a[1] if op.get_attr("transpose_a") else a[0]
        k = a[0] if op.get_attr("transpose_a") else a[1]
        n = b[0] if op.get_attr("transpose_b") else b[1]
        return m * k * n
    if t in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
        a = _dims(op.inputs[0])
        out = _dims(op.outputs[0])
        adj_x = op.get_attr("adj_x")
        k = a[-2] if adj_x else a[-1]
        return int(np.prod(out)) * k
    if t == "Einsum":
        eq = op.get_attr("equation")
        eq = eq.decode() if isinstance(eq, bytes) else eq
        return _einsum_macs(eq, [_dims(x) for x in op.inputs])
    return 0


def graph_macs(graph, _seen=None) -> Counter:
    """MACs per op type over a graph and the functions it calls."""
    seen = _seen if _seen is not None else set()
    counts: Counter = Counter()
    for op in graph.get_operations():
        counts[op.type] += op_macs(op)
        if op.type in ("PartitionedCall", "StatefulPartitionedCall"):
            fname = op.get_attr("f").name
            if fname in seen:
                continue
            seen.add(fname)
            fn = graph._get_function(fname)  # noqa: SLF001 - the only way to reach a called function's graph
            if fn is not None and hasattr(fn, "graph"):
                counts.update(graph_macs(fn.graph, seen))
    return Counter({k: v for k, v in counts.items() if v})


def count_macs(fn: Callable, *specs: tf.TensorSpec, **kwargs) -> int:
    """MACs of ``fn(*inputs)`` for inputs of the given fixed-shape specs (traced, not run)."""
    concrete = tf.function(lambda *a: fn(*a, **kwargs)).get_concrete_function(*specs)
    return int(sum(graph_macs(concrete.graph).values()))
