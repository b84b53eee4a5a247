"""The run filter language: a tokenizer and recursive-descent parser into a small AST.

Examples::

    metrics.acc > 0.9 and params.optimizer = 'adam'
    metrics.`train/loss` < 0.1 or (tags.stage IN ('prod', 'staging') and status != 'failed')
    attributes.start_time >= 1700000000000 and name LIKE 'baseline-%'

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := atom ("and" atom)*
    atom       := "(" or_expr ")" | comparison
    comparison := operand op value | operand ["not"] "in" "(" value ("," value)* ")"
                | operand "is" ["not"] "null"
    operand    := prefix "." key | attribute
    prefix     := metrics | params | tags | attributes | attr   (singular forms too)
    key        := word ("." word)* | `backticked` | "double quoted"
    op         := = | == | != | <> | < | <= | > | >= | like | ilike
    value      := number | 'single quoted' | "double quoted"

``IS NULL`` selects runs that lack the metric, param or tag (or whose attribute is empty, such
as the ``end_time`` of a running run); ``IS NOT NULL`` selects those that have it.
Comparing a param with a number compares numerically and matches only params whose value
spells a number; metric comparisons need numbers and tag comparisons need quoted strings.
Attributes are ``id`` (or ``run_id``), ``name``, ``status``, ``user``, ``start_time``,
``end_time``, ``experiment_id``, ``project`` and ``parent_id``. The parser only builds data:
the SQL store compiles the AST with bound parameters, so nothing typed here becomes SQL text.
Every error is :class:`~stackml.errors.InvalidInput` naming the position and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stackml.errors import InvalidInput

__all__ = [
    "ATTRIBUTES",
    "BoolOp",
    "Comparison",
    "Entity",
    "Node",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
]

Entity = Literal["metric", "param", "tag", "attribute"]
Value = int | float | str

MAX_FILTER_LENGTH = 10_000
MAX_DEPTH = 64
MAX_IN_VALUES = 10_000

#: Attribute name -> whether it is numeric (times) or a string.
ATTRIBUTES: dict[str, Literal["number", "string"]] = {
    "id": "string",
    "name": "string",
    "status": "string",
    "user": "string",
    "start_time": "number",
    "end_time": "number",
    "experiment_id": "string",
    "project": "string",
    "parent_id": "string",
}
_ATTRIBUTE_ALIASES = {"run_id": "id", "run_name": "name"}
_PREFIXES: dict[str, Entity] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}
COMPARISON_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("LIKE", "ILIKE")
LIST_OPS = ("IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")


@dataclass(frozen=True)
class Comparison:
    """``entity.key op value``; ``value`` is a tuple for ``IN`` and ``NOT IN`` and empty text
    for ``IS NULL`` and ``IS NOT NULL``."""

    entity: Entity
    key: str
    op: str
    value: Value | tuple[Value, ...]


@dataclass(frozen=True)
class BoolOp:
    """``and``/``or`` over two or more operands."""

    op: Literal["and", "or"]
    operands: tuple[Node, ...]


Node = Comparison | BoolOp


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` entry such as ``metrics.acc DESC``."""

    entity: Entity
    key: str
    descending: bool


# -- tokenizer ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # word number string dquoted backtick op lparen rparen comma dot end
    text: str
    value: Value
    position: int


_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")
_SINGLE = {"(": "lparen", ")": "rparen", ",": "comma", ".": "dot"}


def _error(text: str, position: int, message: str) -> InvalidInput:
    snippet = text[max(0, position - 20) : position + 20]
    return InvalidInput(f"invalid filter at character {position + 1}: {message} (near {snippet!r})")


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """Read a quoted literal starting at ``start``; a doubled quote stands for itself."""
    parts: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == quote:
            if text.startswith(quote * 2, index):
                parts.append(quote)
                index += 2
                continue
            return "".join(parts), index + 1
        parts.append(char)
        index += 1
    raise _error(text, start, f"unterminated {quote}-quoted text")


def tokenize(text: str) -> list[_Token]:
    """Split filter text into tokens, ending with an ``end`` token."""
    tokens: list[_Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        previous = tokens[-1].kind if tokens else None
        # After a word or key, "." separates a prefix from its key; elsewhere it may start ".5".
        separator = char == "." and previous in {"word", "backtick", "dquoted"}
        number = None if separator else _NUMBER_RE.match(text, index)
        if number:
            literal = number.group()
            parsed: Value = float(literal) if any(c in literal for c in ".eE") else int(literal, 10)
            tokens.append(_Token("number", literal, parsed, index))
            index = number.end()
        elif char in _SINGLE:
            tokens.append(_Token(_SINGLE[char], char, char, index))
            index += 1
        elif char in "'\"`":
            body, end = _quoted(text, index, char)
            kind = {"'": "string", '"': "dquoted", "`": "backtick"}[char]
            tokens.append(_Token(kind, text[index:end], body, index))
            index = end
        elif (word := _WORD_RE.match(text, index)) is not None:
            tokens.append(_Token("word", word.group(), word.group(), index))
            index = word.end()
        else:
            op = next((op for op in _OPS if text.startswith(op, index)), None)
            if op is None:
                raise _error(text, index, f"unexpected character {char!r}")
            tokens.append(_Token("op", op, op, index))
            index += len(op)
    tokens.append(_Token("end", "", "", len(text)))
    return tokens


# -- parser ---------------------------------------------------------------------------------
def _describe(token: _Token) -> str:
    return "the end of the filter" if token.kind == "end" else repr(token.text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.token
        return token.kind == "word" and token.text.lower() in words

    def fail(self, expected: str, token: _Token | None = None) -> InvalidInput:
        token = token or self.token
        return _error(self.text, token.position, f"expected {expected}, found {_describe(token)}")

    def expect_end(self, expected: str) -> None:
        if self.token.kind != "end":
            raise self.fail(expected)

    # or_expr := and_expr ("or" and_expr)*
    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.keyword("or"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.atom()]
        while self.keyword("and"):
            self.advance()
            operands.append(self.atom())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def atom(self) -> Node:
        if self.token.kind == "lparen":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _error(self.text, self.token.position, "parentheses nest too deeply")
            self.advance()
            node = self.or_expr()
            if self.token.kind != "rparen":
                raise self.fail("')' or 'and'/'or'")
            self.advance()
            self.depth -= 1
            return node
        return self.comparison()

    def key_part(self) -> str:
        token = self.token
        if token.kind in {"backtick", "dquoted"}:
            self.advance()
            if not str(token.value):
                raise _error(self.text, token.position, "a key must not be empty")
            return str(token.value)
        if token.kind != "word":
            raise self.fail("a key (a word, or any text in `backticks`)")
        parts = [self.advance().text]
        while self.token.kind == "dot" and self.tokens[self.index + 1].kind == "word":
            self.advance()
            parts.append(self.advance().text)
        return ".".join(parts)

    def operand(self) -> tuple[Entity, str, _Token]:
        token = self.token
        if token.kind != "word":
            raise self.fail("metrics.KEY, params.KEY, tags.KEY or an attribute name")
        self.advance()
        entity = _PREFIXES.get(token.text.lower())
        if entity is not None and self.token.kind == "dot":
            self.advance()
            key_token = self.token
            key = self.key_part()
            if entity == "attribute":
                return entity, _attribute(self.text, key_token, key), token
            return entity, key, token
        if entity is not None:
            raise self.fail(f"'.' and a key after {token.text!r}")
        return "attribute", _attribute(self.text, token, token.text), token

    def operator(self) -> str:
        token = self.token
        if token.kind == "op":
            self.advance()
            return {"==": "=", "<>": "!="}.get(token.text, token.text)
        if self.keyword("like", "ilike", "in"):
            return self.advance().text.upper()
        if self.keyword("not"):
            self.advance()
            if not self.keyword("in"):
                raise self.fail("'in' after 'not'")
            self.advance()
            return "NOT IN"
        raise self.fail("an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)")

    def value(self) -> Value:
        token = self.token
        if token.kind in {"number", "string", "dquoted"}:
            self.advance()
            return token.value
        raise self.fail("a number or a 'quoted' string")

    def values(self) -> tuple[Value, ...]:
        if self.token.kind != "lparen":
            raise self.fail("'(' and a list of values")
        self.advance()
        items = [self.value()]
        while self.token.kind == "comma":
            self.advance()
            items.append(self.value())
            if len(items) > MAX_IN_VALUES:
                raise _error(self.text, self.token.position, "too many values in the list")
        if self.token.kind != "rparen":
            raise self.fail("',' or ')'")
        self.advance()
        return tuple(items)

    def comparison(self) -> Comparison:
        entity, key, _ = self.operand()
        if self.keyword("is"):
            self.advance()
            negated = self.keyword("not")
            if negated:
                self.advance()
            if not self.keyword("null"):
                raise self.fail("'null' or 'not null' after 'is'")
            self.advance()
            return Comparison(entity, key, "IS NOT NULL" if negated else "IS NULL", "")
        op_token = self.token
        op = self.operator()
        value_token = self.token
        value: Value | tuple[Value, ...] = self.values() if op in LIST_OPS else self.value()
        _check_types(self.text, entity, key, op, value, op_token, value_token)
        return Comparison(entity, key, op, value)

    def order_key(self) -> OrderKey:
        entity, key, _ = self.operand()
        descending = False
        if self.keyword("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        self.expect_end("ASC, DESC or the end of the order key")
        return OrderKey(entity, key, descending)


def _attribute(text: str, token: _Token, name: str) -> str:
    resolved = _ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
    if resolved not in ATTRIBUTES:
        raise _error(
            text,
            token.position,
            f"unknown attribute {name!r}; use metrics.KEY, params.KEY, tags.KEY or one of "
            + ", ".join(ATTRIBUTES),
        )
    return resolved


def _check_types(
    text: str,
    entity: Entity,
    key: str,
    op: str,
    value: Value | tuple[Value, ...],
    op_token: _Token,
    value_token: _Token,
) -> None:
    items = value if isinstance(value, tuple) else (value,)
    numeric = {isinstance(item, (int, float)) for item in items}
    if len(numeric) > 1:
        raise _error(text, value_token.position, "a list must hold only numbers or only strings")
    is_number = numeric.pop()
    kind = {"metric": "number", "tag": "string", "param": "any"}.get(entity) or ATTRIBUTES[key]
    if kind == "number" and not is_number:
        raise _error(text, value_token.position, f"{key!r} is numeric; expected a number")
    if kind == "string" and is_number:
        raise _error(text, value_token.position, f"{key!r} holds text; put the value in 'quotes'")
    if op in STRING_OPS and is_number:
        raise _error(text, op_token.position, f"{op} needs a 'quoted' pattern")


def parse_filter(text: str | None) -> Node | None:
    """Parse filter text into an AST; ``None`` or blank text means "every run".

    Raises:
        InvalidInput: with the position of the problem and what was expected there.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"a filter must be text, not {type(text).__name__}")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidInput(f"a filter is limited to {MAX_FILTER_LENGTH} characters")
    parser = _Parser(text)
    if parser.token.kind == "end":
        return None
    node = parser.or_expr()
    parser.expect_end("'and', 'or' or the end of the filter")
    return node


def parse_order_by(text: str) -> OrderKey:
    """Parse one ``order_by`` entry such as ``"metrics.acc DESC"`` or ``"name"``.

    Raises:
        InvalidInput: for anything but an operand optionally followed by ASC or DESC.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"an order key must be non-empty text, not {text!r}")
    if len(text) > 1_000:
        raise InvalidInput("an order key is limited to 1000 characters")
    return _Parser(text).order_key()
