"""Parse Personalize's `filterValues` strings (`"a","b"` or a bare number like `10`) into value lists."""

from __future__ import annotations

from collections.abc import Mapping

from recsys.exceptions import ValidationError

_NUMBER_CHARS = set("0123456789+-.eE")


def parse_filter_values(text: str, name: str | None = None) -> list[str]:
    """Split one filterValues entry into its values.

    Example: ``parse_filter_values('"comedy","horror"')`` -> ``['comedy', 'horror']``;
    ``parse_filter_values('10')`` -> ``['10']``. Inside quotes, ``\\"`` is a quote and ``\\\\`` a backslash.

    Parameters
    ----------
    text : the entry, e.g. the value of ``filterValues["GENRES"]``.
    name : the parameter name, used in error messages.

    Raises
    ------
    ValidationError
        When the string is empty or not a comma-separated list of double-quoted values or numbers.
    """
    label = f"filterValues[{name!r}]" if name is not None else "filterValues entry"
    if not isinstance(text, str):
        raise ValidationError(f"{label} must be a string like '\"a\",\"b\"', got {type(text).__name__}")

    def bad(reason: str, pos: int) -> ValidationError:
        return ValidationError(f"{label} = {text!r} is not a valid filter value list ({reason} at position {pos}); "
                               f"use double-quoted, comma-separated values like '\"a\",\"b\"' or a number like '10'")

    values: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise bad("expected a value" if values else "empty value list", i)
        if text[i] == '"':
            out: list[str] = []
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n and text[j + 1] in '"\\':
                    j += 1
                out.append(text[j])
                j += 1
            if j >= n:
                raise bad("unterminated quote", i)
            values.append("".join(out))
            i = j + 1
        else:
            j = i
            while j < n and text[j] in _NUMBER_CHARS:
                j += 1
            token = text[i:j]
            if not token or not _is_number(token):
                raise bad("expected a double-quoted value or a number", i)
            values.append(token)
            i = j
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return values
        if text[i] != ",":
            raise bad("expected ',' between values", i)
        i += 1


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return token.lower() not in ("nan", "inf", "-inf", "+inf", "infinity")


def parse_all_filter_values(filter_values: Mapping[str, str] | None) -> dict[str, list[str]]:
    """Parse every entry of a request's filterValues mapping; keys are parameter names (case-sensitive)."""
    if filter_values is None:
        return {}
    if not isinstance(filter_values, Mapping):
        raise ValidationError(f"filterValues must be a mapping of parameter name to values, "
                              f"got {type(filter_values).__name__}")
    return {str(key): parse_filter_values(value, str(key)) for key, value in filter_values.items()}
