"""Tokenizer for Personalize's filter language: turns an expression into positioned tokens."""

from __future__ import annotations

from dataclasses import dataclass

from recsys.exceptions import FilterSyntaxError

# Token kinds.
IDENT = "IDENT"      # keywords, dataset names, field names (keywords are recognised by the parser)
STRING = "STRING"    # "..." with \" and \\ escapes; value is the unescaped text
NUMBER = "NUMBER"    # 10, -2.5, 1e3; value is the source text
PARAM = "PARAM"      # $NAME; value is NAME (case-sensitive)
OP = "OP"            # = < <= > >=
LPAREN, RPAREN, COMMA, DOT, PIPE = "(", ")", ",", ".", "|"
EOF = "EOF"

_PUNCTUATION = {"(": LPAREN, ")": RPAREN, ",": COMMA, ".": DOT, "|": PIPE}
_DIGITS = "0123456789"


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, its value and its character offset in the expression."""

    kind: str
    value: str
    pos: int

    @property
    def upper(self) -> str:
        """The value upper-cased, for case-insensitive keyword matching."""
        return self.value.upper()

    def describe(self) -> str:
        """How an error message quotes this token."""
        if self.kind == EOF:
            return "end of expression"
        if self.kind == STRING:
            return "string " + _quote(self.value)
        if self.kind == PARAM:
            return f"'${self.value}'"
        return f"'{self.value}'"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_ident_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch == "_")


def _is_ident_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def tokenize(text: str) -> list[Token]:
    """Split a filter expression into tokens, ending with an EOF token.

    Example: ``tokenize('Items.PRICE <= $MAX')`` gives IDENT Items, DOT, IDENT PRICE, OP <=, PARAM MAX, EOF.

    Raises
    ------
    FilterSyntaxError
        At the first character that cannot start a token, or at an unterminated string.
    """
    if not isinstance(text, str):
        raise FilterSyntaxError(f"A filter expression must be a string, got {type(text).__name__}")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[ch], ch, i))
            i += 1
        elif ch in "<>=":
            if ch in "<>" and i + 1 < n and text[i + 1] == "=":
                tokens.append(Token(OP, ch + "=", i))
                i += 2
            else:
                tokens.append(Token(OP, ch, i))
                i += 1
        elif ch == "!" and i + 1 < n and text[i + 1] == "=":
            raise FilterSyntaxError("Operator '!=' is not supported; use NOT IN (...)", text, i)
        elif ch == '"':
            tokens.append(_read_string(text, i))
            i = tokens[-1].pos + _string_length(text, i)
        elif ch in _DIGITS or (ch in "+-." and i + 1 < n and (text[i + 1] in _DIGITS or text[i + 1] == ".")):
            end = _number_end(text, i)
            tokens.append(Token(NUMBER, text[i:end], i))
            i = end
        elif ch == "$":
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            if j == i + 1:
                raise FilterSyntaxError("Expected a parameter name after '$' (letters, digits, _)", text, i)
            tokens.append(Token(PARAM, text[i + 1:j], i))
            i = j
        elif _is_ident_start(ch):
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            tokens.append(Token(IDENT, text[i:j], i))
            i = j
        else:
            hint = "; string values need double quotes" if ch in "'`" else ""
            raise FilterSyntaxError(f"Unexpected character {ch!r}{hint}", text, i)
    tokens.append(Token(EOF, "", n))
    return tokens


def _string_length(text: str, start: int) -> int:
    """Length of the quoted string starting at `start`, quotes included."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 2
        elif text[i] == '"':
            return i + 1 - start
        else:
            i += 1
    raise FilterSyntaxError("Unterminated string (missing closing double quote)", text, start)


def _read_string(text: str, start: int) -> Token:
    length = _string_length(text, start)
    body = text[start + 1:start + length - 1]
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return Token(STRING, "".join(out), start)


def _number_end(text: str, start: int) -> int:
    """End offset of the number at `start`; raises if it is malformed (e.g. `1.2.3`, `5abc`)."""
    i, n = start, len(text)
    if text[i] in "+-":
        i += 1
    digits = 0
    while i < n and text[i] in _DIGITS:
        i, digits = i + 1, digits + 1
    if i < n and text[i] == ".":
        i += 1
        while i < n and text[i] in _DIGITS:
            i, digits = i + 1, digits + 1
    if digits == 0:
        raise FilterSyntaxError("Malformed number", text, start)
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j] in _DIGITS:
            while j < n and text[j] in _DIGITS:
                j += 1
            i = j
    if i < n and (_is_ident_char(text[i]) or text[i] == "."):
        raise FilterSyntaxError(f"Malformed number {text[start:i + 1]!r}", text, start)
    return i
