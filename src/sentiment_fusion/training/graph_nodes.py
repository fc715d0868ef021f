"""Editing an ONNX graph's node list (the int8, shared-weight and attention rewrites share these)."""

from __future__ import annotations


def producers_and_consumers(graph) -> tuple[dict, dict[str, list]]:
    """``{tensor: the node that writes it}`` and ``{tensor: the nodes that read it}``."""
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producer, consumers


def replace_nodes(graph, nodes: list) -> None:
    """Make ``nodes`` the graph's nodes and drop the initializers no node reads any more."""
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def live_nodes(graph, nodes: list) -> list:
    """``nodes`` less those that no graph output needs (in their order)."""
    producer = {out: n for n in nodes for out in n.output}
    live: set[int] = set()
    stack = [o.name for o in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in live:
            continue
        live.add(id(node))
        stack.extend(i for i in node.input if i)
    return [n for n in nodes if id(n) in live]
