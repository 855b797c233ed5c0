"""The parse tree of a Go template, as ``text/template/parse`` shapes it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ActionNode", "BoolNode", "BranchNode", "BreakNode", "ChainNode", "CommandNode", "ContinueNode",
    "DotNode", "FieldNode", "IdentifierNode", "ListNode", "NilNode", "Node", "NumberNode", "PipeNode",
    "StringNode", "TemplateNode", "TextNode", "VariableNode",
]


class Node:
    __slots__ = ()
    line: int


@dataclass(slots=True)
class ListNode(Node):
    line: int
    nodes: list[Node] = field(default_factory=list)

    def empty(self) -> bool:
        """Only white space: a ``define`` of this does not replace an earlier one."""
        return all(isinstance(n, TextNode) and not n.text.strip() for n in self.nodes)


@dataclass(slots=True)
class TextNode(Node):
    line: int
    text: str


@dataclass(slots=True)
class DotNode(Node):
    line: int

    def __str__(self) -> str:
        return "."


@dataclass(slots=True)
class NilNode(Node):
    line: int

    def __str__(self) -> str:
        return "nil"


@dataclass(slots=True)
class BoolNode(Node):
    line: int
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(slots=True)
class NumberNode(Node):
    line: int
    value: int | float
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class StringNode(Node):
    line: int
    value: str
    quoted: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(slots=True)
class FieldNode(Node):
    line: int
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + p for p in self.parts)


@dataclass(slots=True)
class VariableNode(Node):
    line: int
    name: str
    parts: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name + "".join("." + p for p in self.parts)


@dataclass(slots=True)
class IdentifierNode(Node):
    line: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class ChainNode(Node):
    line: int
    node: Node
    parts: tuple[str, ...]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + p for p in self.parts)


@dataclass(slots=True)
class CommandNode(Node):
    line: int
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass(slots=True)
class PipeNode(Node):
    line: int
    decl: list[str] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        head = ", ".join(self.decl) + (" = " if self.is_assign else " := ") if self.decl else ""
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(slots=True)
class ActionNode(Node):
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return f"{{{{{self.pipe}}}}}"


@dataclass(slots=True)
class BranchNode(Node):
    """``if``, ``range`` or ``with``: its pipeline, its list and its ``else`` list."""

    line: int
    kind: str
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None = None

    def __str__(self) -> str:
        return f"{{{{{self.kind} {self.pipe}}}}}"


@dataclass(slots=True)
class TemplateNode(Node):
    line: int
    name: str
    pipe: PipeNode | None = None

    def __str__(self) -> str:
        return f'{{{{template "{self.name}"' + (f" {self.pipe}" if self.pipe else "") + "}}"


@dataclass(slots=True)
class BreakNode(Node):
    line: int


@dataclass(slots=True)
class ContinueNode(Node):
    line: int
