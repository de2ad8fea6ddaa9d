"""Signs of tampering in a student's code, read as text in the grader's process (never run).

Tampering cannot change a grade here (the hidden checks judge outside the student's kernel), but an
instructor wants to know who tried: a plagiarism or conduct process starts from the names. The
signs are specific, not a style check: code that rewires IPython's running or error reporting,
replaces a library's function, defines its own equality, reaches for the course's files, or
inspects the running program. Each sign names the cell and the construct, never a value.
"""

from __future__ import annotations

import ast
import re

from nbformat import NotebookNode

from gankit.nbgrader_adapter.faults import cell_name, fault

# IPython's machinery a notebook never needs to touch to answer an exercise.
_IPYTHON = {
    "input_transformers_cleanup",
    "input_transformers_post",
    "ast_transformers",
    "set_custom_exc",
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "excepthook",
    "register_magic_function",
}
_LIBRARIES = {"numpy", "np", "math", "scipy", "sys", "builtins", "matplotlib", "plt", "IPython", "nbgrader"}
_EQUALITY = {"__eq__", "__ne__", "__bool__", "__array__", "__array_ufunc__", "__array_function__"}
_COURSE_FILES = re.compile(
    r"(^|/)(source|solutions|autograded|submitted|release)(/|$)|gradebook|nbgrader_config|\.ipynb"
)
_INTROSPECTION = {"_getframe", "currentframe", "stack", "get_objects", "get_referrers", "settrace", "setprofile"}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001
        return "?"


def signs_in(source: str) -> list[str]:
    """The tampering signs in one cell's code (empty if none, or if it is not Python)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    libraries = set(_LIBRARIES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                libraries.add(alias.asname or alias.name.split(".")[0])
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _IPYTHON:
            found.append(f"changes how IPython runs cells or reports errors (`{node.attr}`)")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and _root(target) in libraries:
                    found.append(f"replaces a library's function (`{_dotted(target)}`)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "setattr" and node.args and _root(node.args[0]) in libraries:
                found.append(f"replaces a library's function (`setattr({_dotted(node.args[0])}, ...)`)")
            elif node.func.id in {"exec", "eval", "compile", "__import__"}:
                found.append(f"runs code built at run time (`{node.func.id}`)")
        elif isinstance(node, ast.ClassDef):
            defined = {
                item.name if isinstance(item, ast.FunctionDef) else getattr(target, "id", "")
                for item in node.body
                for target in (item.targets if isinstance(item, ast.Assign) else [item])
            }
            if defined & _EQUALITY:
                found.append(f"defines a class that decides its own equality (`{node.name}`)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _COURSE_FILES.search(node.value):
            found.append(f"names the course's files (`{node.value[:40]}`)")
        if isinstance(node, ast.Attribute) and node.attr in _INTROSPECTION and _root(node) in {"sys", "inspect", "gc"}:
            found.append(f"inspects the running program (`{_dotted(node)}`)")
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            if any(name.split(".")[0] == "ctypes" for name in modules):
                found.append("loads ctypes (raw memory access)")
    return list(dict.fromkeys(found))  # each sign once per cell, in the order found


def tamper_faults(nb: NotebookNode) -> list[dict[str, str]]:
    """A fault for every cell of the student's own code (answer cells and cells they added) that
    shows a sign of tampering."""
    faults = []
    for index, cell in enumerate(nb.cells):
        info = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or (info.get("locked") and not info.get("solution")):
            continue  # the instructor's cells (restored from the gradebook) say nothing about the student
        signs = signs_in(cell.get("source", ""))
        if signs:
            faults.append(fault(cell_name(cell, index), "tampering sign", "; ".join(signs)))
    return faults
