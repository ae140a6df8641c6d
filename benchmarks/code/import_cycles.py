"""Import cycles among jaxrl's modules (top-level and in-function imports alike): the
strongly connected components of the import graph with more than one module.

    python benchmarks/code/import_cycles.py     # prints each cycle; exit 1 if any
"""
import ast
import os
import sys
from collections import defaultdict


def import_graph(package: str = "jaxrl"):
    modules = {}
    for root, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                modules[path[:-3].replace(os.sep, ".").removesuffix(".__init__")] = path
    graph = defaultdict(set)
    for module, path in modules.items():
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from a.b import c`: the module a.b.c if it is one
                    sub = f"{node.module}.{alias.name}"
                    target = sub if sub in modules else node.module
                    if target in modules and target != module:
                        graph[module].add(target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.name != module:
                        graph[module].add(alias.name)
    return modules, graph


def strongly_connected(nodes, graph):
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


if __name__ == "__main__":
    modules, graph = import_graph()
    cycles = strongly_connected(sorted(modules), graph)
    for cycle in cycles:
        print(" <-> ".join(cycle))
    print(f"{len(cycles)} import cycle(s) among {len(modules)} modules")
    sys.exit(1 if cycles else 0)
