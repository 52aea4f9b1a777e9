"""Strip a finished graph to what a runtime reads: the fixed overhead that dominates a small int8 file.

Tensor and node names are identifiers only: the exporter's and quantiser's long ones
('model.body.1.weight_quantized', 'node_linear_matmul_quant_output_scale_mul') are about a tenth of a
small MLP's int8 file. They become one- or two-letter names, except the graph's input and outputs,
which are the serving contract. Shape annotations (value_info) are re-derived by every runtime at load,
doc strings are for people, and the quantiser stamps every opset domain ONNX Runtime knows and two
bookkeeping notes that nothing reads; those go too. Opset versions of the domains in use stay.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator

import onnx

# Written by onnxruntime.quantization to mark its own passes; no runtime or loader reads them.
_QUANTIZER_NOTES = ("onnx.infer", "onnx.quant.pre_process")
_FIRST = string.ascii_letters
_REST = string.ascii_letters + string.digits


def compact_graph(model: onnx.ModelProto) -> None:
    """Shrink `model` in place without changing what it computes or its input and output names."""
    graph = model.graph
    drop_unused_initializers(graph)
    _shorten_names(graph)
    del graph.value_info[:]
    _clear_doc_strings(model)
    _keep_used_opsets(model)
    kept = [p for p in model.metadata_props if p.key not in _QUANTIZER_NOTES]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)


def used_names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a node reads, including nodes of subgraphs (If/Loop bodies read outer names)."""
    return {name for node in _all_nodes(graph) for name in node.input if name}


def drop_unused_initializers(graph: onnx.GraphProto) -> None:
    """Remove constants that no node reads and the graph does not return."""
    needed = used_names(graph) | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for sub in _subgraphs(node):
            yield from _all_nodes(sub)


def _subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attribute in node.attribute:
        if attribute.HasField("g"):
            yield attribute.g
        yield from attribute.graphs


def _subgraph_names(graph: onnx.GraphProto) -> set[str]:
    """Every name inside If/Loop bodies: left as is, so their references and locals cannot collide."""
    names: set[str] = set()
    for sub in (s for node in graph.node for s in _subgraphs(node)):
        names |= {t.name for t in [*sub.input, *sub.output, *sub.initializer]}
        names |= {name for node in _all_nodes(sub) for name in [*node.input, *node.output]}
    return names


def _short_names(taken: set[str]) -> Iterator[str]:
    """a, b, ..., Z, aa, ab, ...: C identifiers (as the ONNX spec asks for names) not in `taken`."""
    for length in itertools.count(1):
        for head in _FIRST:
            for tail in itertools.product(_REST, repeat=length - 1):
                name = head + "".join(tail)
                if name not in taken:
                    yield name


def _shorten_names(graph: onnx.GraphProto) -> None:
    """Rename the graph's own tensors but its inputs and outputs; its nodes lose their optional names."""
    kept = {i.name for i in graph.input} | {o.name for o in graph.output} | _subgraph_names(graph)
    fresh = _short_names(kept)
    renamed: dict[str, str] = {}
    for name in [*(t.name for t in graph.initializer), *(o for n in graph.node for o in n.output)]:
        if name and name not in kept and name not in renamed:
            renamed[name] = next(fresh)
    for tensor in graph.initializer:
        tensor.name = renamed.get(tensor.name, tensor.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [renamed.get(name, name) for name in node.input]
        node.output[:] = [renamed.get(name, name) for name in node.output]


def _clear_doc_strings(model: onnx.ModelProto) -> None:
    model.doc_string = ""
    model.graph.doc_string = ""
    for node in _all_nodes(model.graph):
        node.doc_string = ""


def _keep_used_opsets(model: onnx.ModelProto) -> None:
    """Keep the default domain and every domain a node uses; drop the rest of the quantiser's list."""
    used = {node.domain for node in _all_nodes(model.graph)} | {""}
    kept = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
