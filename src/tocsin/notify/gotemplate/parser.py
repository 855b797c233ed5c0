"""Go template source to parse trees: the body, and the templates it ``define``\\ s.

As Go's parser, it refuses a function it does not know, a variable used before
it is declared, ``{{break}}`` outside ``{{range}}`` and a constant as a later
stage of a pipeline; a ``{{template}}`` of a name defined nowhere is an error
only when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from tocsin.notify.gotemplate.lexer import GoTemplateSyntaxError, Token, tokenize, unquote
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

__all__ = ["parse"]

_CONSTANTS = (BoolNode, DotNode, NilNode, NumberNode, StringNode)
_END = Token("end_action", "", 0)


def parse(source: str, functions: Collection[str]) -> tuple[ListNode, dict[str, ListNode]]:
    """The source's own body and the templates it defines (by name)."""
    return _Parser(tokenize(source), functions).parse()


def _number(token: Token) -> NumberNode:
    text = token.value.replace("_", "")
    try:
        value: int | float = int(text, 0) if text.lstrip("+-")[:2].lower() in ("0x", "0o", "0b") \
            else int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise GoTemplateSyntaxError(f"line {token.line}: bad number syntax: {token.value!r}") from None
    return NumberNode(token.line, value, token.value)


class _Parser:
    def __init__(self, tokens: list[Token], functions: Collection[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.functions = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defines: dict[str, ListNode] = {}

    # -- tokens

    def peek(self) -> Token:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else _END

    def next(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def error(self, token: Token, message: str) -> GoTemplateSyntaxError:
        return GoTemplateSyntaxError(f"line {token.line}: {message}")

    def expect(self, kind: str, context: str, value: str | None = None) -> Token:
        token = self.next()
        if token.kind != kind or (value is not None and token.value != value):
            shown = token.value or "end of action" if token.kind != "end_action" else "}}"
            raise self.error(token, f"unexpected {shown!r} in {context}")
        return token

    # -- lists

    def parse(self) -> tuple[ListNode, dict[str, ListNode]]:
        root = ListNode(1)
        while self.pos < len(self.tokens):
            token = self.peek()
            head = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else _END
            if token.kind == "start_action" and head.kind == "keyword" and head.value == "define":
                self.pos += 2
                self._define(head)
                continue
            node = self._item()
            if isinstance(node, str):
                raise self.error(token, f"unexpected {{{{{node}}}}}")
            root.nodes.append(node)
        return root, self.defines

    def _define(self, token: Token) -> None:
        name = unquote(self.expect("string", "define clause").value, token.line)
        self.expect("end_action", "define clause")
        saved, self.vars = self.vars, ["$"]
        body, end = self._list()
        self.vars = saved
        if end != "end":
            raise self.error(token, f"unexpected {{{{{end}}}}} in define clause" if end
                             else f"unexpected EOF in define of {name!r}")
        self._add(name, body)

    def _add(self, name: str, body: ListNode) -> None:
        if name in self.defines and body.empty():
            return
        self.defines[name] = body

    def _list(self) -> tuple[ListNode, str]:
        """Items up to ``{{end}}`` or ``{{else}}`` (which is returned, ``""`` at EOF)."""
        out = ListNode(self.peek().line)
        while self.pos < len(self.tokens):
            node = self._item()
            if isinstance(node, str):
                return out, node
            out.nodes.append(node)
        return out, ""

    def _item(self) -> Node | str:
        token = self.next()
        if token.kind == "text":
            return TextNode(token.line, token.value)
        head = self.peek()
        if head.kind == "keyword":
            handler = _KEYWORDS.get(head.value)
            if handler is not None:
                self.next()
                return handler(self, head)
        pipe = self._pipeline("command", allow_decl=True)
        return ActionNode(token.line, pipe)

    # -- control structures

    def _end_or_else(self, token: Token) -> str:
        if token.value == "else" and self.peek().kind == "keyword" and self.peek().value == "if":
            return "else if"  # the ``if`` is left to be read as a nested if
        self.expect("end_action", token.value)
        return token.value

    def _branch(self, token: Token) -> BranchNode:
        kind = token.value
        depth = len(self.vars)
        pipe = self._pipeline(kind, allow_decl=True, max_decl=2 if kind == "range" else 1)
        self.range_depth += kind == "range"
        body, end = self._list()
        self.range_depth -= kind == "range"
        node = BranchNode(token.line, kind, pipe, body)
        if end == "else if":
            self.next()  # the ``if``
            nested = self._branch(Token("keyword", "if", token.line))
            node.else_body = ListNode(token.line, [nested])
            end = "end"
        elif end == "else":
            node.else_body, end = self._list()
        del self.vars[depth:]
        if end != "end":
            raise self.error(token, f"unexpected {'{{else}}' if end else 'EOF'} in {kind}")
        return node

    def _template(self, token: Token) -> TemplateNode:
        name_token = self.next()
        if name_token.kind != "string":
            raise self.error(name_token, "unexpected token in template clause: the name must be a string")
        name = unquote(name_token.value, token.line)
        if self.peek().kind == "end_action":
            self.next()
            return TemplateNode(token.line, name)
        return TemplateNode(token.line, name, self._pipeline("template clause"))

    def _block(self, token: Token) -> TemplateNode:
        name = unquote(self.expect("string", "block clause").value, token.line)
        pipe = self._pipeline("block clause")
        saved, self.vars = self.vars, ["$"]
        body, end = self._list()
        self.vars = saved
        if end != "end":
            raise self.error(token, "unexpected EOF in block clause")
        self._add(name, body)
        return TemplateNode(token.line, name, pipe)

    def _loop_control(self, token: Token) -> BreakNode | ContinueNode:
        self.expect("end_action", token.value)
        if not self.range_depth:
            raise self.error(token, f"{{{{{token.value}}}}} outside {{{{range}}}}")
        return BreakNode(token.line) if token.value == "break" else ContinueNode(token.line)

    # -- pipelines

    def _declarations(self, context: str, max_decl: int) -> tuple[list[str], bool]:
        names: list[str] = []
        start = self.pos
        while self.peek().kind == "var":
            var = self.next()
            op = self.peek()
            if op.kind == "op" and op.value == "," and context == "range" and len(names) < max_decl - 1:
                self.next()
                names.append(var.value)
                continue
            if op.kind == "op" and op.value in (":=", "="):
                self.next()
                names.append(var.value)
                if op.value == "=":
                    for name in names:
                        self._check_var(var, name)
                    return names, True
                self.vars.extend(names)
                return names, False
            break
        self.pos = start
        return [], False

    def _pipeline(self, context: str, *, allow_decl: bool = False, max_decl: int = 1,
                  closer: str = "end_action") -> PipeNode:
        line = self.peek().line
        decl, is_assign = self._declarations(context, max_decl) if allow_decl else ([], False)
        pipe = PipeNode(line, decl, is_assign)
        while True:
            token = self.peek()
            if token.kind == closer or (token.kind == "op" and token.value == closer):
                self.next()
                break
            if token.kind == "end_action" or token.value == ")":
                raise self.error(token, f"unexpected {'}}' if token.kind == 'end_action' else ')'} "
                                        f"in {context}")
            pipe.cmds.append(self._command())
            if self.peek().kind == "op" and self.peek().value == "|":
                self.next()
        if not pipe.cmds:
            raise self.error(token, f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:], 2):
            if isinstance(cmd.args[0], _CONSTANTS):
                raise self.error(token, f"non executable command in pipeline stage {i}")
        return pipe

    def _command(self) -> CommandNode:
        cmd = CommandNode(self.peek().line)
        while True:
            token = self.peek()
            if token.kind == "end_action" or (token.kind == "op" and token.value in ("|", ")")):
                break
            cmd.args.append(self._operand())
        if not cmd.args:
            raise self.error(self.peek(), "empty command")
        return cmd

    def _operand(self) -> Node:
        token = self.next()
        node = self._term(token)
        following = self.peek()
        if following.kind == "field" and not following.spaced:
            self.next()
            if isinstance(node, VariableNode):
                return VariableNode(node.line, node.name, following.parts)
            if isinstance(node, FieldNode):
                return FieldNode(node.line, node.parts + following.parts)
            if isinstance(node, _CONSTANTS) and not isinstance(node, DotNode):
                raise self.error(following, f"unexpected . after term {str(node)!r}")
            return ChainNode(node.line, node, following.parts)
        return node

    def _term(self, token: Token) -> Node:
        kind = token.kind
        if kind == "op" and token.value == "(":
            return self._pipeline("parenthesized pipeline", closer=")")
        if kind == "ident":
            if token.value not in self.functions:
                raise self.error(token, f'function "{token.value}" not defined')
            return IdentifierNode(token.line, token.value)
        if kind == "var":
            self._check_var(token, token.value)
            return VariableNode(token.line, token.value)
        maker = _TERMS.get(kind)
        if maker is None or (kind == "keyword" and token.value != "nil"):
            shown = "}}" if kind == "end_action" else token.value
            raise self.error(token, f"unexpected {shown!r} in operand")
        return maker(token)

    def _check_var(self, token: Token, name: str) -> None:
        if name not in self.vars:
            raise self.error(token, f'undefined variable "{name}"')


_KEYWORDS: dict[str, Callable[[_Parser, Token], Node | str]] = {
    "if": _Parser._branch, "range": _Parser._branch, "with": _Parser._branch,
    "template": _Parser._template, "block": _Parser._block,
    "break": _Parser._loop_control, "continue": _Parser._loop_control,
    "end": _Parser._end_or_else, "else": _Parser._end_or_else,
}

_TERMS = {
    "dot": lambda t: DotNode(t.line),
    "keyword": lambda t: NilNode(t.line),
    "bool": lambda t: BoolNode(t.line, t.value == "true"),
    "number": _number,
    "char": lambda t: NumberNode(t.line, ord(unquote(t.value, t.line)[:1] or "\0"), t.value),
    "string": lambda t: StringNode(t.line, unquote(t.value, t.line), t.value),
    "field": lambda t: FieldNode(t.line, t.parts),
}
