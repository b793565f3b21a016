"""Personalize's Avro dataset schemas: parse and check them (fastavro + Personalize's rules), ship the defaults.

Example::

    schema = parse_schema("Interactions", open("interactions.json").read())
    schema.names                 # ('USER_ID', 'ITEM_ID', 'TIMESTAMP', ...)
    default_schema("Items", domain="ECOMMERCE").to_json()

Every `SchemaError` names the field at fault and the rule it breaks, with the fix.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field as dc_field
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from recsys.columns import (
    CREATION_TIMESTAMP, EVENT_ATTRIBUTION_SOURCE, EVENT_TYPE, EVENT_VALUE, IMPRESSION, INTERACTIONS,
    INTERACTION_RESERVED, ITEM_ID, ITEMS, RECOMMENDATION_ID, TIMESTAMP, USER_ID, USERS,
)
from recsys.exceptions import SchemaError

MAX_SCHEMA_CHARS = 20_000
NAMESPACE = "com.amazonaws.personalize.schema"
PRIMITIVE_TYPES = ("string", "int", "long", "float", "double", "boolean")
NUMERIC_TYPES = ("int", "long", "float", "double")
FIELD_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_FIELD_NAME_CHARS = 150
PERSONALIZE_KEYS = ("categorical", "textual")

# Reserved fields per dataset type: name -> (allowed Avro types, may be null, categorical rule).
# categorical rule: None = either, False = must not be categorical.
_RESERVED: dict[str, dict[str, tuple[tuple[str, ...], bool, bool | None]]] = {
    INTERACTIONS: {
        USER_ID: (("string",), False, None),
        ITEM_ID: (("string",), False, None),
        TIMESTAMP: (("long",), False, None),
        EVENT_TYPE: (("string",), True, False),
        EVENT_VALUE: (("float", "double"), True, None),
        IMPRESSION: (("string",), True, None),
        RECOMMENDATION_ID: (("string",), True, False),
        EVENT_ATTRIBUTION_SOURCE: (("string",), True, False),
    },
    ITEMS: {
        ITEM_ID: (("string",), False, None),
        CREATION_TIMESTAMP: (("long",), True, None),
    },
    USERS: {
        USER_ID: (("string",), False, None),
    },
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    INTERACTIONS: (USER_ID, ITEM_ID, TIMESTAMP),
    ITEMS: (ITEM_ID,),
    USERS: (USER_ID,),
}
# Fields that are never "metadata" (ids, timestamps, reserved interaction columns).
_NOT_METADATA = {INTERACTIONS: set(INTERACTION_RESERVED), ITEMS: {ITEM_ID}, USERS: {USER_ID}}
# Fields a domain dataset group requires beyond the custom rules [AP §1.3].
DOMAIN_REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("ECOMMERCE", INTERACTIONS): (EVENT_TYPE,),
    ("ECOMMERCE", ITEMS): ("PRICE", "CATEGORY_L1"),
    ("VIDEO_ON_DEMAND", INTERACTIONS): (EVENT_TYPE,),
    ("VIDEO_ON_DEMAND", ITEMS): (CREATION_TIMESTAMP, "GENRES"),
}

_SQLITE_TYPES = {"string": "TEXT", "int": "INTEGER", "long": "INTEGER", "boolean": "INTEGER",
                 "float": "REAL", "double": "REAL"}


def normalize_dataset_type(dataset_type: Any) -> str:
    """`interactions`, `INTERACTIONS`, `Interactions` -> `Interactions` (Personalize is case-insensitive)."""
    if isinstance(dataset_type, str):
        for known in (INTERACTIONS, ITEMS, USERS):
            if dataset_type.strip().lower() == known.lower():
                return known
    raise SchemaError(
        f"Unknown dataset type {dataset_type!r}: use one of {INTERACTIONS}, {ITEMS}, {USERS}."
    )


@dataclass(frozen=True)
class Field:
    """One flat schema field: its Avro type, whether it may be null, and Personalize's flags."""

    name: str
    type: str
    nullable: bool = False
    categorical: bool = False
    textual: bool = False

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def sqlite_type(self) -> str:
        return _SQLITE_TYPES[self.type]

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "type": ["null", self.type] if self.nullable else self.type}
        if self.categorical:
            out["categorical"] = True
        if self.textual:
            out["textual"] = True
        return out


@dataclass(frozen=True)
class Schema:
    """A checked Personalize schema: dataset type, fields in schema order, and the JSON it came from."""

    dataset_type: str
    fields: tuple[Field, ...]
    raw: dict = dc_field(default_factory=dict, compare=False, hash=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        """The field called `name` (case-insensitive); SchemaError lists the fields otherwise."""
        for f in self.fields:
            if f.name == name or f.name.upper() == str(name).upper():
                return f
        raise SchemaError(f"Field {name!r} is not in the {self.dataset_type} schema (fields: {', '.join(self.names)}).")

    def has(self, name: str) -> bool:
        return any(f.name.upper() == str(name).upper() for f in self.fields)

    @property
    def id_field(self) -> str:
        return ITEM_ID if self.dataset_type == ITEMS else USER_ID

    @property
    def context_fields(self) -> tuple[str, ...]:
        """Interaction metadata (e.g. DEVICE): every non-reserved field; empty for Items/Users."""
        if self.dataset_type != INTERACTIONS:
            return ()
        return tuple(f.name for f in self.fields if f.name not in INTERACTION_RESERVED)

    @property
    def metadata_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.name not in _NOT_METADATA[self.dataset_type])

    @property
    def categorical_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.categorical)

    @property
    def textual_field(self) -> str | None:
        return next((f.name for f in self.fields if f.textual), None)

    def to_dict(self) -> dict:
        if self.raw:
            return copy.deepcopy(self.raw)
        return {"type": "record", "name": self.dataset_type, "namespace": NAMESPACE,
                "fields": [f.to_dict() for f in self.fields], "version": "1.0"}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def sqlite_columns(self) -> dict[str, str]:
        """Column name -> SQLite type (TEXT, INTEGER, REAL) in schema order; booleans are INTEGER 0/1."""
        return {f.name: f.sqlite_type for f in self.fields}


def _fail(dataset_type: str, field_name: str | None, rule: str, fix: str = "") -> SchemaError:
    where = f"field {field_name!r}" if field_name else "schema"
    msg = f"{dataset_type} schema, {where}: {rule}"
    if fix:
        msg += f" Fix: {fix}"
    return SchemaError(msg)


def _field_type(dataset_type: str, name: str, avro_type: Any) -> tuple[str, bool]:
    """(primitive type, nullable) of a flat field; SchemaError for nested, arrays, maps, odd unions."""
    if isinstance(avro_type, str):
        if avro_type in PRIMITIVE_TYPES:
            return avro_type, False
        if avro_type == "null":
            raise _fail(dataset_type, name, "type 'null' alone holds no data (rule: supported types).",
                        'use a nullable union such as ["null", "string"].')
        raise _fail(dataset_type, name, f"type {avro_type!r} is not supported (rule: flat fields of types "
                    f"{', '.join(PRIMITIVE_TYPES)}, null).", "use one of the supported primitive types.")
    if isinstance(avro_type, list):
        non_null = [t for t in avro_type if t != "null"]
        if len(avro_type) == 2 and len(non_null) == 1 and isinstance(non_null[0], str) \
                and non_null[0] in PRIMITIVE_TYPES:
            return non_null[0], True
        raise _fail(dataset_type, name, f"union {avro_type!r} is not supported (rule: a union may only be "
                    "'null' plus one primitive type).", 'write e.g. ["null", "string"].')
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind in PRIMITIVE_TYPES and set(avro_type) <= {"type", "logicalType"}:
            return kind, False
        raise _fail(dataset_type, name, f"nested type {kind!r} is not supported (rule: flat fields only, no "
                    "records, arrays, maps or enums).", "flatten it; multi-values go in one string joined by '|'.")
    raise _fail(dataset_type, name, f"type {avro_type!r} is not a valid Avro type.")


def parse_schema(dataset_type: str, schema_json: str | dict, domain: str | None = None) -> Schema:
    """Check a Personalize schema (JSON text or dict) for `dataset_type` and return it as a `Schema`.

    Applies Avro validity (fastavro) and Personalize's rules [AP §1.1-1.2]; with `domain` (ECOMMERCE,
    VIDEO_ON_DEMAND) also the domain's required fields [AP §1.3].
    """
    dtype = normalize_dataset_type(dataset_type)
    if isinstance(schema_json, (bytes, bytearray)):
        try:
            schema_json = schema_json.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(dtype, None, f"is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    if isinstance(schema_json, str):
        if len(schema_json) > MAX_SCHEMA_CHARS:
            raise _fail(dtype, None, f"is {len(schema_json):,} characters (rule: at most {MAX_SCHEMA_CHARS:,}).",
                        "drop fields or shorten names.")
        try:
            raw = json.loads(schema_json)
        except json.JSONDecodeError as exc:
            raise _fail(dtype, None, f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}).") \
                from None
    elif isinstance(schema_json, dict):
        raw = copy.deepcopy(schema_json)
        if len(json.dumps(raw)) > MAX_SCHEMA_CHARS:
            raise _fail(dtype, None, f"is longer than {MAX_SCHEMA_CHARS:,} characters (rule: schema size).")
    else:
        raise _fail(dtype, None, f"must be JSON text or a dict, not {type(schema_json).__name__}.")
    if not isinstance(raw, dict):
        raise _fail(dtype, None, "must be a JSON object (an Avro record).")
    if raw.get("type") != "record":
        raise _fail(dtype, None, f"type is {raw.get('type')!r} (rule: the schema is an Avro record).",
                    'set "type": "record".')
    if raw.get("name") != dtype:
        raise _fail(dtype, None, f"record name is {raw.get('name')!r} (rule: the name must match the dataset "
                    f"type).", f'set "name": "{dtype}".')
    raw_fields = raw.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise _fail(dtype, None, "has no 'fields' list (rule: a record lists its fields).")

    fields: list[Field] = []
    seen: dict[str, str] = {}
    reserved = _RESERVED[dtype]
    for position, spec in enumerate(raw_fields):
        if not isinstance(spec, dict):
            raise _fail(dtype, f"#{position + 1}", "is not a JSON object with 'name' and 'type'.")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(dtype, f"#{position + 1}", "has no name (rule: every field has a name).")
        if not FIELD_NAME_PATTERN.match(name):
            raise _fail(dtype, name, "name breaks the naming rule: start with a letter or '_', then letters, "
                        "digits and '_' only.", "rename it, e.g. " + repr(re.sub(r"\W", "_", name).upper()) + ".")
        if len(name) > MAX_FIELD_NAME_CHARS:
            raise _fail(dtype, name, f"name is longer than {MAX_FIELD_NAME_CHARS} characters.")
        if name.startswith("_"):
            raise _fail(dtype, name, "names starting with '_' are reserved for internal bookkeeping columns.",
                        "rename it.")
        key = re.sub(r"[^A-Za-z0-9]", "", name).upper()
        if key in seen:
            raise _fail(dtype, name, f"collides with field {seen[key]!r} (rule: field names must be unique "
                        "alphanumerically, ignoring '_' and case).", "rename one of them.")
        seen[key] = name
        if "type" not in spec:
            raise _fail(dtype, name, "has no type.")
        ftype, nullable = _field_type(dtype, name, spec["type"])
        categorical, textual = spec.get("categorical", False), spec.get("textual", False)
        for flag, value in (("categorical", categorical), ("textual", textual)):
            if not isinstance(value, bool):
                raise _fail(dtype, name, f"'{flag}' is {value!r} (rule: the flag is a JSON boolean).",
                            f'write "{flag}": true.')
        if (categorical or textual) and ftype != "string":
            raise _fail(dtype, name, f"is {ftype} but flagged {'categorical' if categorical else 'textual'} "
                        "(rule: only string fields are categorical or textual).", "drop the flag or use string.")
        if categorical and textual:
            raise _fail(dtype, name, "is both categorical and textual (rule: pick one).")
        if textual and dtype != ITEMS:
            raise _fail(dtype, name, "is textual (rule: textual fields are only allowed in Items).",
                        'use "categorical": true instead.')
        upper = name.upper()
        if upper in reserved and name != upper:
            raise _fail(dtype, name, f"is the reserved field {upper} in the wrong case.", f"rename it to {upper}.")
        if name in reserved:
            types, may_be_null, cat_rule = reserved[name]
            if ftype not in types:
                raise _fail(dtype, name, f"is {ftype} (rule: reserved field {name} has type "
                            f"{' or '.join(types)}).", f'set "type": "{types[0]}".')
            if nullable and not may_be_null:
                raise _fail(dtype, name, f"is nullable (rule: {name} is required and cannot be null).",
                            f'set "type": "{ftype}".')
            if cat_rule is False and categorical:
                raise _fail(dtype, name, f"is flagged categorical (rule: {name} must not be categorical).",
                            'remove "categorical": true.')
            if textual:
                raise _fail(dtype, name, f"is flagged textual (rule: {name} is a reserved id/value field).",
                            'remove "textual": true.')
        elif ftype == "string" and not categorical and not textual:
            fix = 'add "categorical": true' + (' (or "textual": true for free text)' if dtype == ITEMS else "") + "."
            raise _fail(dtype, name, "is a string metadata field without a flag (rule: string metadata must be "
                        "categorical or textual, otherwise it is ignored in training).", fix)
        fields.append(Field(name=name, type=ftype, nullable=nullable, categorical=categorical, textual=textual))

    names = {f.name for f in fields}
    for required in _REQUIRED[dtype]:
        if required not in names:
            types = reserved[required][0]
            raise _fail(dtype, required, f"is missing (rule: {dtype} requires {', '.join(_REQUIRED[dtype])}).",
                        f'add {{"name": "{required}", "type": "{types[0]}"}}.')
    textual = [f.name for f in fields if f.textual]
    if len(textual) > 1:
        raise _fail(dtype, textual[1], f"is a second textual field after {textual[0]!r} (rule: at most one "
                    "textual field).", 'make one of them "categorical": true.')
    if dtype in (ITEMS, USERS) and not any(f.name not in _NOT_METADATA[dtype] for f in fields):
        raise _fail(dtype, None, f"has no metadata field (rule: {dtype} needs {_REQUIRED[dtype][0]} and at least "
                    "one metadata field).", 'add e.g. {"name": "CATEGORY", "type": "string", "categorical": true}.')
    if domain:
        for required in DOMAIN_REQUIRED.get((domain.upper(), dtype), ()):
            if required not in names:
                raise _fail(dtype, required, f"is missing (rule: {domain.upper()} {dtype} requires it).",
                            "add it (see the domain's default schema).")

    avro = copy.deepcopy(raw)
    for spec in avro["fields"]:
        for key in PERSONALIZE_KEYS:
            spec.pop(key, None)
    try:
        fastavro.parse_schema(avro)
    except (SchemaParseException, UnknownType, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _fail(dtype, None, f"is not a valid Avro schema ({exc}).") from None
    return Schema(dataset_type=dtype, fields=tuple(fields), raw=raw)


def _f(name: str, ftype: str, nullable: bool = False, categorical: bool = False, textual: bool = False) -> dict:
    return Field(name, ftype, nullable, categorical, textual).to_dict()


def _default_fields(dtype: str, domain: str | None) -> list[dict]:
    if dtype == INTERACTIONS:
        return [
            _f(USER_ID, "string"), _f(ITEM_ID, "string"), _f(TIMESTAMP, "long"),
            _f(EVENT_TYPE, "string", nullable=domain is None), _f(EVENT_VALUE, "float", True),
            _f(IMPRESSION, "string", True), _f(RECOMMENDATION_ID, "string", True),
        ] + ([_f(EVENT_ATTRIBUTION_SOURCE, "string", True)] if domain else [])
    if dtype == ITEMS:
        if domain == "ECOMMERCE":
            return [
                _f(ITEM_ID, "string"), _f("PRICE", "float"), _f("CATEGORY_L1", "string", categorical=True),
                _f("CATEGORY_L2", "string", True, categorical=True), _f("CATEGORY_L3", "string", True, categorical=True),
                _f("PRODUCT_DESCRIPTION", "string", True, textual=True), _f(CREATION_TIMESTAMP, "long", True),
                _f("AGE_GROUP", "string", True, categorical=True), _f("ADULT", "string", True, categorical=True),
                _f("GENDER", "string", True, categorical=True),
            ]
        if domain == "VIDEO_ON_DEMAND":
            return [
                _f(ITEM_ID, "string"), _f(CREATION_TIMESTAMP, "long"), _f("GENRES", "string", categorical=True),
                _f("PRICE", "float", True), _f("DURATION", "float", True),
                _f("GENRE_L2", "string", True, categorical=True), _f("GENRE_L3", "string", True, categorical=True),
                _f("AVERAGE_RATING", "float", True), _f("PRODUCT_DESCRIPTION", "string", True, textual=True),
                _f("CONTENT_OWNER", "string", True, categorical=True),
                _f("CONTENT_CLASSIFICATION", "string", True, categorical=True),
            ]
        return [
            _f(ITEM_ID, "string"), _f("CATEGORY_L1", "string", True, categorical=True),
            _f("CATEGORY_L2", "string", True, categorical=True), _f("PRICE", "float", True),
            _f("DESCRIPTION", "string", True, textual=True), _f(CREATION_TIMESTAMP, "long", True),
        ]
    fields = [_f(USER_ID, "string"), _f("AGE_GROUP", "string", True, categorical=True),
              _f("GENDER", "string", True, categorical=True)]
    if domain == "VIDEO_ON_DEMAND":
        fields.append(_f("SUBSCRIPTION_MODEL", "string", True, categorical=True))
    return fields


def default_schema(dataset_type: str, domain: str | None = None) -> Schema:
    """The shipped default schema of a dataset type for a custom group (domain None) or a domain [AP §1.3]."""
    dtype = normalize_dataset_type(dataset_type)
    if domain is not None:
        domain = domain.upper()
        if domain not in ("ECOMMERCE", "VIDEO_ON_DEMAND"):
            raise SchemaError(f"Unknown domain {domain!r}: use ECOMMERCE, VIDEO_ON_DEMAND or none (custom).")
    raw = {"type": "record", "name": dtype, "namespace": NAMESPACE, "fields": _default_fields(dtype, domain),
           "version": "1.0"}
    return parse_schema(dtype, raw, domain=domain)
