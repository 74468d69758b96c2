"""The one AST visitor that applies the rules (`rules`) to a parsed policy and collects
`report.Finding`s."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from sandbox.static_checks.report import Finding, Severity, make_finding
from sandbox.static_checks.rules import (
    ACCOUNTING_ATTRIBUTES,
    ALLOWED_DUNDER_METHODS,
    ALLOWED_STDLIB,
    DUNDER_TEXT,
    FORBIDDEN_BUILTINS,
    IMPORT_ADVICE,
    INTROSPECTION_ATTRIBUTES,
    LINE_BREAK,
    MUTATORS,
    NUMPY_REJECTED,
    OPERATOR_NAME,
    OPS_ATTRIBUTES,
    OPS_NAME,
    ORACLE_ATTRIBUTES,
    ORACLE_MESSAGE,
    SIMULATOR_STATE,
    TYPING_EVALUATORS,
    WELL_KNOWN_MODULES,
    dunder_message,
    eudoxia_modules,
    example_attribute,
    module_exports,
    numpy_hint,
)
from simulator import policy_loader


def _split_lines(source: str) -> list[str]:
    return LINE_BREAK.split(source)


@dataclass
class _Registration:
    kind: Literal["init", "scheduler"]
    key: str | None
    node: ast.Call
    function: ast.FunctionDef | ast.AsyncFunctionDef | None


class PolicyChecker(ast.NodeVisitor):
    """One pass over a parsed policy; collects findings."""

    def __init__(self, source: str, tree: ast.Module) -> None:
        self.lines = _split_lines(source)
        self.tree = tree
        self.findings: list[Finding] = []
        self.exports = module_exports()
        self.provided = frozenset(policy_loader.provided_names())
        self.parents: dict[ast.AST, ast.AST] = {}
        self.modules: dict[str, str] = {}  # local name -> module, from allowed imports
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        self.bound_names: set[str] = set()
        self.stored_attributes: set[str] = set()
        self.string_constants: dict[str, str] = {}
        self.operator_names: set[str] = set()
        self.ops_names: set[str] = set()
        self.state_params = {"s"}
        self.exempt: set[int] = set()
        self.registrations: list[_Registration] = []
        self.depth = 0

    # -- driver -------------------------------------------------------------------------------

    def run(self) -> None:
        """Survey the module, visit every node, then check registrations."""
        self._survey()
        self.visit(self.tree)
        self._check_registrations()

    def registered_key(self) -> str | None:
        """The single key both decorators register, when the registration rule holds."""
        inits = [r for r in self.registrations if r.kind == "init"]
        scheds = [r for r in self.registrations if r.kind == "scheduler"]
        if len(inits) == 1 and len(scheds) == 1 and inits[0].key is not None:
            if inits[0].key == scheds[0].key:
                return inits[0].key
        return None

    def report(self, node: ast.AST | None, rule: str, message: str,
               severity: Severity = "error") -> None:
        line, column = self._position(node)
        self.findings.append(make_finding(line, column, rule, message, severity))

    def _position(self, node: ast.AST | None) -> tuple[int, int]:
        line = getattr(node, "lineno", 1) or 1
        offset = getattr(node, "col_offset", 0) or 0
        if isinstance(node, ast.Attribute) and node.end_lineno and node.end_col_offset:
            # point at the attribute name, not at the start of the whole chain
            line = node.end_lineno
            offset = max(node.end_col_offset - len(node.attr.encode("utf-8")), 0)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        # col_offset counts UTF-8 bytes; report characters, 1-based
        column = len(text.encode("utf-8", "surrogatepass")[:offset].decode("utf-8", "ignore"))
        return line, column + 1

    # -- survey: facts the visit needs before it sees the nodes --------------------------------

    def _survey(self) -> None:
        assigned_strings: dict[str, list[ast.expr]] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
            if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
                self.stored_attributes.add(node.attr)
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                self.bound_names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bound_names.add(node.name)
            elif isinstance(node, ast.arg):
                self.bound_names.add(node.arg)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self._bind_import(node)
            elif isinstance(node, ast.Compare):
                self._exempt_main_idiom(node)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        assigned_strings.setdefault(target.id, []).append(stmt.value)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(isinstance(d, ast.Call) and self._registration_kind(d)
                       for d in stmt.decorator_list):
                    params = stmt.args.posonlyargs + stmt.args.args
                    if params:
                        self.state_params.add(params[0].arg)
        for name, values in assigned_strings.items():
            if len(values) == 1 and isinstance(values[0], ast.Constant):
                if isinstance(values[0].value, str):
                    self.string_constants[name] = values[0].value
        for _ in range(2):  # twice, so names bound before the loop that uses them propagate
            self._survey_operators()

    def _bind_import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                continue
            local = alias.asname or alias.name.partition(".")[0]
            self.bound_names.add(local)
            if isinstance(node, ast.Import):
                target = alias.name if alias.asname else local
                if alias.name in self.exports and target in self.exports:
                    self.modules[local] = target
            elif node.level == 0 and node.module in self.exports:
                full = f"{node.module}.{alias.name}"
                if full in self.exports:
                    self.modules[local] = full
                elif alias.name in self.exports[node.module]:
                    self.imported[local] = (node.module, alias.name)

    def _exempt_main_idiom(self, node: ast.Compare) -> None:
        """``if __name__ == "__main__":`` is harmless: its body is checked like any other."""
        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            return
        pair = [node.left, node.comparators[0]]
        names = [p for p in pair if isinstance(p, ast.Name) and p.id == "__name__"]
        mains = [p for p in pair if isinstance(p, ast.Constant) and p.value == "__main__"]
        if names and mains:
            self.exempt.update(id(p) for p in pair)

    def _survey_operators(self) -> None:
        """Names that probably hold operators (for the heuristic ``op.values`` warning)."""
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                if isinstance(node.target, ast.Name) and self._is_ops_collection(node.iter):
                    self.operator_names.add(node.target.id)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    if self._is_ops_collection(node.value):
                        self.ops_names.add(target.id)
                    elif self._is_operator(node.value):
                        self.operator_names.add(target.id)

    def _is_operator(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.operator_names or bool(OPERATOR_NAME.search(expr.id))
        if isinstance(expr, ast.Subscript):
            return self._is_ops_collection(expr.value)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            return expr.func.attr == "find_node_by_id"
        return False

    def _is_ops_collection(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.ops_names or bool(OPS_NAME.search(expr.id))
        if isinstance(expr, ast.Attribute):
            if expr.attr == "values":  # a pipeline's .values is its DAG of operators
                return not self._is_operator(expr.value)
            return expr.attr in OPS_ATTRIBUTES
        if isinstance(expr, ast.Call):
            func = expr.func
            if isinstance(func, ast.Attribute):
                return func.attr in ("get_ops", "ordered")
            if isinstance(func, ast.Name) and func.id in ("list", "sorted", "reversed"):
                return bool(expr.args) and self._is_ops_collection(expr.args[0])
        return False

    # -- imports --------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_import_alias(node, alias)
            if alias.name not in self.exports:
                self._reject_module(node, alias.name)
            elif alias.asname is None and "." in alias.name:
                root = alias.name.partition(".")[0]
                if root not in self.exports:
                    self._reject_module(node, root)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.report(node, "import",
                        "relative imports do not work: a policy is a single file; define the "
                        "helper in this file or import an allowed module")
            return
        if module == "__future__":
            names = [a.name for a in node.names]
            if "annotations" in names:
                self.report(node, "string-annotation",
                            "`from __future__ import annotations` turns every annotation into a "
                            "string that could be evaluated later; remove the line (Python 3.11 "
                            "needs no future imports)")
            else:
                self.report(node, "import", "future imports are not needed on Python 3.11; "
                            "remove the line")
            return
        if module not in self.exports:
            self._reject_module(node, module)
            return
        for alias in node.names:
            self._check_import_alias(node, alias)
            self._check_imported_name(node, module, alias.name)

    def _check_import_alias(self, node: ast.stmt, alias: ast.alias) -> None:
        if alias.asname and _is_dunder(alias.asname):
            self.report(node, "dunder", f"do not bind imports to the dunder name "
                        f"`{alias.asname}`; choose an ordinary name")

    def _check_imported_name(self, node: ast.ImportFrom, module: str, name: str) -> None:
        if name == "*":
            if module != "math" and not module.startswith("eudoxia"):
                self.report(node, "import",
                            f"`from {module} import *` hides what is used; import the names you "
                            f"need (`from {module} import a, b`)")
            return
        if f"{module}.{name}" in self.exports or name in self.exports[module]:
            return
        self._reject_module_attribute(node, module, name)

    def _reject_module(self, node: ast.AST, module: str, used: bool = False) -> None:
        root = module.partition(".")[0]
        if root == "numpy":
            sub = module.split(".")[1]
            self.report(node, "numpy-api", f"`import {module}` is not allowed: numpy.{sub} "
                        f"{NUMPY_REJECTED.get(sub, 'is not in the allowlist')}. "
                        f"{numpy_hint()}")
        elif root == "eudoxia":
            self.report(node, "import", f"policyforge's eudoxia compatibility layer has no module "
                        f"`{module}`; a policy imports from {eudoxia_modules()}, or from "
                        "nothing (the names are provided)")
        else:
            advice = IMPORT_ADVICE.get(root, "a policy gets everything else it needs through "
                                        "`s`, `results` and `pipelines`")
            verb = ("is not available to a policy (it cannot be imported)" if used
                    else "cannot be imported by a policy")
            self.report(node, "import", f"`{module}` {verb}; {advice}. Allowed: "
                        f"{', '.join(ALLOWED_STDLIB)}, numpy (allowlisted functions) and the "
                        "eudoxia.* compatibility modules")

    def _reject_module_attribute(self, node: ast.AST, module: str, name: str) -> None:
        if module == "numpy":
            why = NUMPY_REJECTED.get(name, "is not in the allowlist")
            self.report(node, "numpy-api", f"numpy.{name} {why}. {numpy_hint()}")
        elif module == "typing" and name in TYPING_EVALUATORS:
            self.report(node, "string-annotation",
                        f"typing.{name} evaluates strings as code; use the annotations as "
                        "written and do not inspect them at run time")
        elif module.startswith("eudoxia"):
            names = ", ".join(sorted(self.exports[module])) or "only submodules"
            self.report(node, "import", f"policyforge's `{module}` has no `{name}` (a policy "
                        f"would fail to load); it provides: {names}")
        else:
            self.report(node, "import", f"`{module}.{name}` is not available to policies; use "
                        f"only the documented API of {module} (the names in its __all__)")

    # -- names and attributes -------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if id(node) in self.exempt:
            return
        if isinstance(node.ctx, ast.Load):
            if name in FORBIDDEN_BUILTINS:
                self.report(node, "forbidden-builtin", f"`{name}` is not allowed in a policy: "
                            f"{FORBIDDEN_BUILTINS[name]}")
                return
            if name == "type":
                self._check_type_use(node)
                return
            if name == "print":
                self.report(node, "print", "print output from sandbox runs is capped or "
                            "discarded, and costs time; remove debugging prints", "warning")
                return
            if name in self.modules:
                self._check_module_reference(node, self.modules[name])
            elif name in WELL_KNOWN_MODULES and name not in self.bound_names:
                self._reject_module(node, name, used=True)
                return
        if _is_dunder(name) and not self._is_slots_declaration(node):
            self.report(node, "dunder", dunder_message(name))

    def _check_type_use(self, node: ast.Name) -> None:
        call = self.parents.get(node)
        if isinstance(call, ast.Call) and call.func is node:
            if len(call.args) == 1 and not call.keywords:
                return
            if len(call.args) == 3:
                self.report(node, "forbidden-builtin", "`type(name, bases, namespace)` creates "
                            "classes dynamically; write a `class Name:` statement instead")
                return
        self.report(node, "forbidden-builtin", "use `type` only as `type(x)` (one argument) or "
                    "use `isinstance(x, T)`")

    def _check_module_reference(self, node: ast.Name, module: str) -> None:
        parent = self.parents.get(node)
        if not (isinstance(parent, ast.Attribute) and parent.value is node):
            self.report(node, "import", f"use the module `{node.id}` only as `{node.id}.name` "
                        f"(e.g. `{node.id}.{example_attribute(module)}(...)`); storing or "
                        "passing the module object is not allowed")

    def _is_slots_declaration(self, node: ast.Name) -> bool:
        stmt = self.parents.get(node)
        return (node.id == "__slots__" and isinstance(node.ctx, ast.Store)
                and isinstance(stmt, (ast.Assign, ast.AnnAssign))
                and isinstance(self.parents.get(stmt), ast.ClassDef))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        module = self._module_of(node.value)
        if module is not None:
            self._check_module_attribute(node, module)
        elif _is_dunder(attr):
            if not self._is_super_hook(node):
                self.report(node, "dunder", dunder_message(attr, attribute=True))
        elif attr in INTROSPECTION_ATTRIBUTES:
            self.report(node, "introspection", f"`.{attr}` reaches frames, code, raw memory or "
                        "files, which a policy never needs; use the objects' ordinary attributes")
        elif isinstance(node.ctx, ast.Load):
            self._check_information(node)
        self.generic_visit(node)

    def _module_of(self, expr: ast.expr) -> str | None:
        """The module an expression names (``np``, ``collections.abc``), if any."""
        if isinstance(expr, ast.Name):
            return self.modules.get(expr.id)
        if isinstance(expr, ast.Attribute):
            parent = self._module_of(expr.value)
            if parent is not None and f"{parent}.{expr.attr}" in self.exports:
                return f"{parent}.{expr.attr}"
        return None

    def _check_module_attribute(self, node: ast.Attribute, module: str) -> None:
        if f"{module}.{node.attr}" in self.exports:  # a submodule: must be used as sub.name
            parent = self.parents.get(node)
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                self.report(node, "import", f"use `{module}.{node.attr}.name`, not the module "
                            "object itself")
        elif node.attr not in self.exports[module]:
            self._reject_module_attribute(node, module, node.attr)

    def _is_super_hook(self, node: ast.Attribute) -> bool:
        """``super().__init__(...)`` and ``super().__post_init__()`` in a helper class."""
        value = node.value
        return (node.attr in ("__init__", "__post_init__") and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name) and value.func.id == "super")

    def _check_information(self, node: ast.Attribute) -> None:
        """Warnings: reading what a real scheduler cannot know, or simulator internals."""
        attr = node.attr
        if attr in self.stored_attributes:
            return  # the policy's own attribute of that name
        if attr in ORACLE_ATTRIBUTES:
            self.report(node, "oracle-info", ORACLE_MESSAGE.format(what=f"`.{attr}`"),
                        "warning")
        elif attr == "values" and self._is_operator(node.value) and not self._is_called(node):
            self.report(node, "oracle-info", ORACLE_MESSAGE.format(
                what="an operator's `.values` (its segments)"), "warning")
        elif attr.startswith("_") and not (isinstance(node.value, ast.Name)
                                           and node.value.id in ("self", "cls")):
            self.report(node, "private-attribute", f"`.{attr}` is a simulator internal (it may "
                        "change, and can reveal what a real scheduler does not know); use the "
                        "documented policy API", "warning")

    def _is_called(self, node: ast.expr) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Call) and parent.func is node

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self.exempt:
            return
        if isinstance(self.parents.get(node), ast.Expr):
            return  # a docstring or a bare string statement: never used as a value
        found = DUNDER_TEXT.search(node.value)
        if found:
            self.report(node, "dunder", f"strings naming dunder attributes (like "
                        f"`{found.group()}`) only serve introspection; remove them and use "
                        "ordinary attributes")

    # -- definitions and annotations ------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_function(node)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if _is_dunder(node.name):
            in_class = isinstance(self.parents.get(node), ast.ClassDef)
            if not (in_class and node.name in ALLOWED_DUNDER_METHODS):
                self.report(node, "dunder", f"defining `{node.name}` is not allowed; helper "
                            "classes may define only "
                            f"{', '.join(sorted(ALLOWED_DUNDER_METHODS))}")
        for decorator in node.decorator_list:
            self.visit(decorator)
        if node.returns is not None:
            self._check_annotation(node.returns)
            self.visit(node.returns)
        self.depth += 1
        self.visit(node.args)
        for stmt in node.body:
            self.visit(stmt)
        self.depth -= 1

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if _is_dunder(node.name):
            self.report(node, "dunder", f"name the class something ordinary, not `{node.name}`")
        for keyword in node.keywords:
            if keyword.arg == "metaclass":
                self.report(keyword.value, "forbidden-builtin", "metaclasses are not allowed; "
                            "use a plain class or @dataclass")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_arg(self, node: ast.arg) -> None:
        if _is_dunder(node.arg):
            self.report(node, "dunder", f"name the parameter something ordinary, not "
                        f"`{node.arg}`")
        if node.annotation is not None:
            self._check_annotation(node.annotation)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_annotation(node.annotation)
        self._check_store(node.target)
        self.generic_visit(node)

    def _check_annotation(self, annotation: ast.expr) -> None:
        for const in _annotation_strings(annotation):
            self.report(const, "string-annotation", "string annotations can be evaluated as "
                        "code later; write the type itself (`x: int`, `q: List[Pipeline]`) or "
                        "leave the annotation out")

    # -- registrations --------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        kind = self._registration_kind(node)
        if kind is not None:
            self._record_registration(node, kind)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
            self._check_store(func.value, mutation=f".{func.attr}(...)")
        self.generic_visit(node)

    def _registration_kind(self, node: ast.Call) -> Literal["init", "scheduler"] | None:
        func = node.func
        if isinstance(func, ast.Name):
            name = self.imported.get(func.id, ("", func.id))[1]
        elif isinstance(func, ast.Attribute):
            name = func.attr
        else:
            return None
        if name == "register_scheduler_init":
            return "init"
        if name == "register_scheduler":
            return "scheduler"
        return None

    def _record_registration(self, node: ast.Call, kind: Literal["init", "scheduler"]) -> None:
        decorator = "register_scheduler_init" if kind == "init" else "register_scheduler"
        usage = f'@{decorator}(key="my-policy")'
        key_expr: ast.expr | None = None
        if len(node.args) == 1 and not node.keywords:
            key_expr = node.args[0]
        elif not node.args and len(node.keywords) == 1 and node.keywords[0].arg == "key":
            key_expr = node.keywords[0].value
        key: str | None = None
        if key_expr is None:
            self.report(node, "registration", f"call the decorator with exactly one key: {usage}")
        elif isinstance(key_expr, ast.Constant) and isinstance(key_expr.value, str):
            key = key_expr.value
        elif isinstance(key_expr, ast.Name) and key_expr.id in self.string_constants:
            key = self.string_constants[key_expr.id]
        else:
            self.report(key_expr, "registration", f"the key must be a string literal: {usage}")
        if self.depth:
            self.report(node, "registration", f"register at the top level of the file, as a "
                        f"decorator on a top-level function: {usage}")
        parent = self.parents.get(node)
        function = None
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node in parent.decorator_list:
                function = parent
        self.registrations.append(_Registration(kind, key, node, function))

    def _check_registrations(self) -> None:
        inits = [r for r in self.registrations if r.kind == "init"]
        scheds = [r for r in self.registrations if r.kind == "scheduler"]
        example = ('add `@register_scheduler_init(key="k")` on `def init(s):` and '
                   '`@register_scheduler(key="k")` on `def scheduler(s, results, pipelines):`')
        if not inits:
            self.report(scheds[0].node if scheds else None, "registration",
                        f"no @register_scheduler_init found; {example}")
        if not scheds:
            self.report(inits[0].node if inits else None, "registration",
                        f"no @register_scheduler found; {example}")
        for extra in inits[1:] + scheds[1:]:
            self.report(extra.node, "registration", "a policy file registers exactly one key "
                        "with one init and one scheduler function; remove this extra "
                        "registration or move it to its own file")
        if len(inits) == 1 and len(scheds) == 1:
            a, b = inits[0].key, scheds[0].key
            if a is not None and b is not None and a != b:
                self.report(scheds[0].node, "registration", f"the init registers {a!r} but the "
                            f"scheduler registers {b!r}; use the same key on both")
        for reg in inits:
            self._check_arity(reg, 1, "def init(s):")
        for reg in scheds:
            self._check_arity(reg, 3, "def scheduler(s, results, pipelines):")

    def _check_arity(self, reg: _Registration, count: int, signature: str) -> None:
        if reg.function is None:
            return
        args = reg.function.args
        positional = len(args.posonlyargs) + len(args.args)
        required = positional - len(args.defaults)
        kw_required = any(d is None for d in args.kw_defaults)
        if required > count or (positional < count and args.vararg is None) or kw_required:
            self.report(reg.function, "registration", f"`{reg.function.name}` is called with "
                        f"{count} argument{'s' if count > 1 else ''}; define it as `{signature}`")

    # -- writes into the simulator --------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_store(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_store(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._check_store(target)
        self.generic_visit(node)

    def _check_store(self, target: ast.expr, mutation: str | None = None) -> None:
        """Writing into imported or provided objects, or the simulator's state on ``s``."""
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._check_store(element)
            return
        if isinstance(target, ast.Starred):
            self._check_store(target.value)
            return
        if mutation is None and not isinstance(target, (ast.Attribute, ast.Subscript)):
            return
        root, first = _chain_root(target)
        if root is None:
            return
        what = f"`{ast.unparse(target)}{mutation or ''}`"
        if root in self.modules or root in self.imported or root in self.provided:
            self.report(target, "tamper", f"{what} changes a shared module or simulator object; "
                        "keep your own state on `s` (e.g. `s.my_table = {...}`) instead")
        elif root in self.state_params and first in SIMULATOR_STATE:
            self.report(target, "tamper", f"{what} writes into the simulator's state; "
                        f"`s.{first}` is read-only for a policy: return Assignments and "
                        "Suspends instead, and keep your own state in new attributes of `s`")
        elif (isinstance(target, ast.Attribute) and target.attr in ACCOUNTING_ATTRIBUTES
              and not (root in self.state_params and isinstance(target.value, ast.Name))):
            self.report(target, "tamper", f"{what} writes into the executor's resource "
                        f"accounting; `.{target.attr}` is read-only for a policy: keep what you "
                        "plan to use in a local variable (e.g. `free_cpu = pool.avail_cpu_pool`, "
                        "then `free_cpu -= cpu`)")

    # -- smaller rules --------------------------------------------------------------------------

    def visit_Global(self, node: ast.Global) -> None:
        self._check_names(node, node.names)
        self.report(node, "global", "module globals are shared by every simulation that uses "
                    "this loaded policy; keep state on `s` (create it in the init function)",
                    "warning")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._check_names(node, node.names)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._check_names(node, [node.name])
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg:
            self._check_names(node, [node.arg])
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:  # `case C(attr=x)` reads C().attr
            if _is_dunder(attr):
                self.report(node, "dunder", dunder_message(attr, attribute=True))
            elif attr in INTROSPECTION_ATTRIBUTES:
                self.report(node, "introspection", f"matching on `{attr}` reaches frames, "
                            "code or raw memory; match on ordinary attributes")
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self._check_names(node, [node.name])
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._check_names(node, [node.name])

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._check_names(node, [node.rest])
        self.generic_visit(node)

    def _check_names(self, node: ast.AST, names: list[str]) -> None:
        for name in names:
            if _is_dunder(name):
                self.report(node, "dunder", dunder_message(name))


def _chain_root(expr: ast.expr) -> tuple[str | None, str | None]:
    """The root name of ``a.b[c].d`` and the attribute right after it (``a``, ``b``)."""
    first: str | None = None
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        if isinstance(expr, ast.Attribute):
            first = expr.attr
        expr = expr.value
    if isinstance(expr, ast.Name):
        return expr.id, first
    return None, None


def _annotation_strings(annotation: ast.expr) -> Iterator[ast.Constant]:
    """String constants in an annotation, except the values of ``Literal[...]``."""
    stack: list[ast.AST] = [annotation]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node
            continue
        if isinstance(node, ast.Subscript):
            base = node.value
            name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
            if name == "Literal":
                continue
        stack.extend(ast.iter_child_nodes(node))


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")

