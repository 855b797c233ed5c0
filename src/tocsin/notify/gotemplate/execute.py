"""Running a parsed Go template on data, as ``text/template`` executes it with
Alertmanager's option ``missingkey=zero``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tocsin.notify.gotemplate.funcs import FUNCS, Func, html_text_escape
from tocsin.notify.gotemplate.gofmt import value_text
from tocsin.notify.gotemplate.gotime import GoTime
from tocsin.notify.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
)
from tocsin.notify.gotemplate.values import HTML, ExecError, GoStruct, StrSlice, is_true, type_name, zero_of

__all__ = ["MAX_DEPTH", "MAX_OUTPUT", "MAX_STEPS", "execute"]

#: How deep ``{{template}}`` calls may nest (Go allows more; Python's stack does not).
MAX_DEPTH = 100
#: The most text one template may write (characters).
MAX_OUTPUT = 4 * 1024 * 1024
#: The most nodes one rendering may run: templates that call each other can take
#: exponential time while writing nothing.
MAX_STEPS = 500_000

_MISSING = object()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def execute(templates: Mapping[str, ListNode], root: ListNode, data: Any, name: str = "",
            escape: Callable[[str], str] | None = None, *, html: bool = False) -> str:
    """The text the template writes; :class:`ExecError` when it fails. With ``html``, as
    ``html/template`` writes HTML text: each value escaped (``html_text_escape``), and the
    template's HTML comments (and what their actions write) left out."""
    state = _State(templates, name, html_text_escape if html else escape)
    state.html = html
    state.vars = [("$", data)]
    state.walk(data, root)
    return "".join(state.out)


def _check_type(value: Any, typ: str, what: Node) -> Any:
    ok = {
        "any": True,
        "string": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "[]string": isinstance(value, StrSlice) or (isinstance(value, list) and not value),
        "time": isinstance(value, GoTime),
    }.get(typ, True)
    if not ok:
        raise ExecError(f"wrong type for value; expected {typ}; got {type_name(value)}")
    return value


def _constant(node: Node, typ: str) -> Any:
    value = {BoolNode: "value", NumberNode: "value", StringNode: "value"}
    if type(node) not in value:
        raise ExecError(f"can't handle {node} for arg of type {typ}")
    result = getattr(node, "value")  # noqa: B009
    if typ != "any" and not _fits(result, typ):
        raise ExecError(f"expected {typ}; found {node}")
    return result


def _fits(value: Any, typ: str) -> bool:
    if typ == "string":
        return isinstance(value, str)
    if typ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return False


def _ends_in_html(pipe: PipeNode) -> bool:
    """Whether the pipeline's last command is ``html``, which ``html/template`` takes as
    its own escaper: that output is not escaped again."""
    first = pipe.cmds[-1].args[0]
    return isinstance(first, IdentifierNode) and first.name == "html"


class _State:
    def __init__(self, templates: Mapping[str, ListNode], name: str,
                 escape: Callable[[str], str] | None) -> None:
        self.templates = templates
        self.name = name
        self.escape = escape
        self.out: list[str] = []
        self.size = 0
        self.vars: list[tuple[str, Any]] = []
        self.depth = 0
        self.steps = 0
        self.html = False
        #: Inside an HTML comment of the template's text (``html`` only).
        self.in_comment = False

    def error(self, node: Node, message: str) -> ExecError:
        return ExecError(f'line {node.line}: executing "{self.name}" at <{node}>: {message}')

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise ExecError(f"the template wrote more than {MAX_OUTPUT} characters")
        self.out.append(text)

    # -- statements

    def walk(self, dot: Any, node: Node) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ExecError(f"the template ran more than {MAX_STEPS} steps")
        if isinstance(node, TextNode):
            self.write(self.html_text(node.text) if self.html else node.text)
        elif isinstance(node, ListNode):
            for item in node.nodes:
                self.walk(dot, item)
        elif isinstance(node, ActionNode):
            value = self.pipeline(dot, node.pipe)
            if not node.pipe.decl and not self.in_comment:
                self.write(self.printed(value, _ends_in_html(node.pipe)))
        elif isinstance(node, BranchNode):
            self.branch(dot, node)
        elif isinstance(node, TemplateNode):
            self.template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue

    def html_text(self, text: str) -> str:
        """The template's text less its HTML comments, which may span actions."""
        out: list[str] = []
        while text:
            if self.in_comment:
                end = text.find("-->")
                if end < 0:
                    return "".join(out)
                text, self.in_comment = text[end + 3:], False
            start = text.find("<!--")
            if start < 0:
                out.append(text)
                break
            out.append(text[:start])
            text, self.in_comment = text[start + 4:], True
        return "".join(out)

    def printed(self, value: Any, escaped: bool = False) -> str:
        text = "<no value>" if value is None else value_text(value, "v", nested=True)
        if self.escape is None or escaped or isinstance(value, HTML):
            return text
        return self.escape(text)

    def branch(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(dot, node, mark)
                return
            value = self.pipeline(dot, node.pipe)
            if is_true(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def range(self, dot: Any, node: BranchNode, mark: int) -> None:
        value = self.pipeline(dot, node.pipe)
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif value is None:
            items = []
        else:
            raise self.error(node, f"range can't iterate over {value_text(value)}")
        decl = node.pipe.decl
        inner = len(self.vars)
        for key, elem in items:
            if decl:
                self._set_top(1, elem, decl[-1], node.pipe.is_assign)
            if len(decl) > 1:
                self._set_top(2, key, decl[0], node.pipe.is_assign)
            try:
                self.walk(elem, node.body)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                del self.vars[inner:]
        if not items and node.else_body is not None:
            del self.vars[mark:]
            self.walk(dot, node.else_body)

    def _set_top(self, n: int, value: Any, name: str, assign: bool) -> None:
        if assign:
            self.set_var(name, value)
        else:
            self.vars[len(self.vars) - n] = (self.vars[len(self.vars) - n][0], value)

    def template(self, dot: Any, node: TemplateNode) -> None:
        body = self.templates.get(node.name)
        if body is None:
            raise self.error(node, f'template "{node.name}" not defined')
        if self.depth >= MAX_DEPTH:
            raise self.error(node, f"exceeded maximum template depth ({MAX_DEPTH})")
        new_dot = self.pipeline(dot, node.pipe) if node.pipe else None
        saved_vars, saved_name = self.vars, self.name
        self.vars, self.name = [("$", new_dot)], node.name
        self.depth += 1
        try:
            self.walk(new_dot, body)
        finally:
            self.vars, self.name = saved_vars, saved_name
            self.depth -= 1

    # -- variables

    def var(self, node: Node, name: str) -> Any:
        for key, value in reversed(self.vars):
            if key == name:
                return value
        raise self.error(node, f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise ExecError(f"undefined variable: {name}")

    # -- pipelines

    def pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        try:
            if isinstance(first, FieldNode):
                return self.field_chain(dot, dot, first, first.parts, cmd.args, final)
            if isinstance(first, ChainNode):
                return self.chain(dot, first, cmd.args, final)
            if isinstance(first, IdentifierNode):
                return self.function(dot, first, cmd.args, final)
            if isinstance(first, VariableNode):
                return self.variable(dot, first, cmd.args, final)
            self.not_a_function(cmd.args, final)
            if isinstance(first, PipeNode):
                return self.pipeline(dot, first)
            return self.idealize(dot, first)
        except ExecError as exc:
            if str(exc).startswith("line "):
                raise
            raise self.error(cmd if isinstance(first, IdentifierNode) else first, str(exc)) from None

    def idealize(self, dot: Any, node: Node) -> Any:
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, NilNode):
            raise ExecError("nil is not a command")
        return _constant(node, "any")

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise ExecError(f"can't give argument to non-function {args[0]}")

    def variable(self, dot: Any, node: VariableNode, args: list[Node], final: Any) -> Any:
        value = self.var(node, node.name)
        if not node.parts:
            self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, node, node.parts, args, final)

    def chain(self, dot: Any, node: ChainNode, args: list[Node], final: Any) -> Any:
        receiver = self.arg(dot, "any", node.node)
        return self.field_chain(dot, receiver, node, node.parts, args, final)

    def field_chain(self, dot: Any, receiver: Any, node: Node, parts: tuple[str, ...],
                    args: list[Node], final: Any) -> Any:
        for part in parts[:-1]:
            receiver = self.field(dot, part, node, [node], _MISSING, receiver)
        return self.field(dot, parts[-1], node, args, final, receiver)

    def field(self, dot: Any, name: str, node: Node, args: list[Node], final: Any, receiver: Any) -> Any:
        if receiver is None:
            return None
        method = getattr(receiver, name, None) if name[:1].isupper() else None
        if callable(method) and getattr(method, "go_method", False):
            spec = Func(method, getattr(method, "go_params", ()))
            return self.call(dot, name, spec, args, final)
        has_args = len(args) > 1 or final is not _MISSING
        if isinstance(receiver, GoStruct) and name in receiver.go_fields:
            if has_args:
                raise ExecError(f"{name} has arguments but cannot be invoked as function")
            return getattr(receiver, name)
        if isinstance(receiver, dict):
            if has_args:
                raise ExecError(f"{name} is not a method but has arguments")
            return receiver.get(name, zero_of(receiver))
        raise ExecError(f"can't evaluate field {name} in type {type_name(receiver)}")

    def function(self, dot: Any, node: IdentifierNode, args: list[Node], final: Any) -> Any:
        if node.name in ("and", "or"):
            return self.logic(dot, node.name, args[1:], final)
        return self.call(dot, node.name, FUNCS[node.name], args, final)

    def logic(self, dot: Any, name: str, args: list[Node], final: Any) -> Any:
        count = len(args) + (final is not _MISSING)
        if count < 1:
            raise ExecError(f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = None
        for i in range(count):
            value = self.arg(dot, "any", args[i]) if i < len(args) else final
            if is_true(value) != (name == "and"):
                return value
        return value

    def call(self, dot: Any, name: str, spec: Func, args: list[Node], final: Any) -> Any:
        operands = args[1:]
        count = len(operands) + (final is not _MISSING)
        want = len(spec.params)
        if (spec.variadic is None and count != want) or count < want:
            extra = " at least" if spec.variadic else ""
            raise ExecError(f"wrong number of args for {name}: want{extra} {want} got {count}")
        types = [*spec.params, *[spec.variadic or "any"] * (count - want)]
        values = [self.arg(dot, t, n) for t, n in zip(types, operands, strict=False)]
        if final is not _MISSING:
            values.append(_check_type(final, types[-1], args[0]))
        try:
            return spec.fn(*values)
        except ExecError as exc:
            raise ExecError(f"error calling {name}: {exc}") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise ExecError(f"error calling {name}: {exc}") from None

    def arg(self, dot: Any, typ: str, node: Node) -> Any:
        if isinstance(node, DotNode):
            return _check_type(dot, typ, node)
        if isinstance(node, NilNode):
            if typ in ("any", "[]string"):
                return None
            raise ExecError(f"cannot assign nil to {typ}")
        if isinstance(node, FieldNode):
            value = self.field_chain(dot, dot, node, node.parts, [node], _MISSING)
        elif isinstance(node, VariableNode):
            value = self.variable(dot, node, [node], _MISSING)
        elif isinstance(node, PipeNode):
            value = self.pipeline(dot, node)
        elif isinstance(node, IdentifierNode):
            value = self.function(dot, node, [node], _MISSING)
        elif isinstance(node, ChainNode):
            value = self.chain(dot, node, [], _MISSING)
        else:
            return _constant(node, typ)
        return _check_type(value, typ, node)
