"""The Ajv 8 emulation: one document against one schema, mutating it the way Ajv does."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef

from .formats import FORMATS
from .javascript import COERCIBLE, NO_COERCION, coerce, is_type, js_equal, js_equal_key, js_key, js_key_order
from .js_regex import CATASTROPHIC, js_regex
from .records import MISSING, Change, Path_, Quirk

# Ajv 8, draft-07 vocabulary: keywords grouped and ordered as in its RULES (validation, applicator, format).
_UNTYPED = ("$ref", "const", "enum", "not", "anyOf", "oneOf", "allOf", "if")
_GROUPS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, (*_UNTYPED, "then", "else")),
    ("number", ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "multipleOf", "format")),
    ("string", ("maxLength", "minLength", "pattern", "format")),
    ("array", ("maxItems", "minItems", "additionalItems", "items", "uniqueItems", "contains")),
    (
        "object",
        (
            "maxProperties",
            "minProperties",
            "required",
            "propertyNames",
            "additionalProperties",
            "dependencies",
            "properties",
            "patternProperties",
        ),
    ),
)
_RULES = frozenset(kw for _, kws in _GROUPS for kw in kws) | {"type", "nullable", "$comment", "id"}
_REF_KEYWORDS = frozenset({"$ref", "$recursiveRef", "$recursiveAnchor", "$dynamicRef", "$dynamicAnchor"})


def _has_ref(schema: Any) -> bool:
    """Ajv ``inlineRef``: a referenced schema is inlined unless it contains a ``$ref`` anywhere."""
    if isinstance(schema, dict):
        return any(key in _REF_KEYWORDS or _has_ref(value) for key, value in schema.items())
    if isinstance(schema, list):
        return any(_has_ref(item) for item in schema)
    return False


def schema_types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
    if schema.get("nullable") is True and "null" not in types:
        types.append("null")
    return types


def _rules_for_type(schema: Mapping[str, Any], kind: str) -> bool:
    for group, keywords in _GROUPS:
        if group == kind:
            return any(keyword in schema for keyword in keywords)
    return False


@dataclass(frozen=True)
class _Plan:
    """What Ajv compiles for one schema object, computed once: whether it has rules, whether it is a bare
    ``$ref``, its types, and the keyword groups it uses with their keywords in Ajv's order."""

    rules: bool
    always_valid: bool
    ref_only: str | None
    types: tuple[str, ...]
    coerce_to: tuple[str, ...]
    check_types: bool  # with coercion
    check_types_strict: bool  # without coercion
    groups: tuple[tuple[str | None, tuple[str, ...]], ...]

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> _Plan:
        rules = any(key in _RULES for key in schema)
        ref = schema.get("$ref")
        ref_only = ref if isinstance(ref, str) and not any(k in _RULES for k in schema if k != "$ref") else None
        types = tuple(schema_types(schema))
        coerce_to = tuple(t for t in types if t in COERCIBLE)

        def check(targets: tuple[str, ...]) -> bool:
            return bool(types) and not (not targets and len(types) == 1 and _rules_for_type(schema, types[0]))

        groups = tuple(
            (group, used) for group, keywords in _GROUPS if (used := tuple(k for k in keywords if k in schema))
        )
        return cls(rules, not rules, ref_only, types, coerce_to, check(coerce_to), check(()), groups)


@dataclass
class AjvError:
    """One Ajv error. ``branches`` holds the errors of each alternative of a failed anyOf/oneOf."""

    path: Path_
    keyword: str
    message: str
    params: dict[str, Any]
    value: Any
    schema: Any
    schema_path: str = ""
    branches: tuple[tuple[AjvError, ...], ...] = ()

    def ajv(self) -> dict[str, Any]:
        return {
            "instancePath": "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in self.path),
            "schemaPath": self.schema_path,
            "keyword": self.keyword,
            "params": self.params,
            "message": self.message,
        }

    def first(self) -> AjvError:
        """The error Ajv puts first: a failed anyOf reports its first alternative's errors before itself."""
        return self.branches[0][0].first() if self.branches and self.branches[0] else self


class SchemaDoc:
    """One schema file: ``$ref`` resolution (JSON pointers, as Ajv resolves the pack's local references)."""

    def __init__(self, ref: SchemaRef, root: dict[str, Any]) -> None:
        self.ref = ref
        self.root = root
        self._targets: dict[str, tuple[Any, bool]] = {}
        self._plans: dict[int, _Plan] = {}
        self._lock = threading.Lock()

    def plan(self, schema: Mapping[str, Any]) -> _Plan:
        """The :class:`_Plan` of a schema object of this file (cached by identity; the file is never changed)."""
        found = self._plans.get(id(schema))
        if found is None:
            found = self._plans.setdefault(id(schema), _Plan.of(schema))
        return found

    def always_valid(self, schema: Any) -> bool:
        if isinstance(schema, bool):
            return schema
        return isinstance(schema, dict) and self.plan(schema).always_valid

    def resolve(self, pointer: str) -> tuple[Any, bool]:
        """The schema ``pointer`` designates and whether Ajv compiles it as its own function (not inlined)."""
        found = self._targets.get(pointer)
        if found is not None:
            return found
        target: Any = self.root
        seen = {pointer}
        ref = pointer
        while True:
            target = self._pointer(ref)
            follow = target.get("$ref") if isinstance(target, dict) else None
            # Ajv follows a target that is only a $ref (plus annotations) to its own target.
            if not isinstance(follow, str) or any(k in _RULES for k in target if k != "$ref") or follow in seen:
                break
            seen.add(follow)
            ref = follow
        result = (target, target is self.root or _has_ref(target))
        with self._lock:
            self._targets[pointer] = result
        return result

    def _pointer(self, ref: str) -> Any:
        if ref in ("#", "#/", ""):
            return self.root
        if not ref.startswith("#/"):
            raise LookupError(f"{self.ref}: only local references are supported, got {ref!r}")
        node: Any = self.root
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            part = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), part)
            if isinstance(node, list) and part.isdigit():
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise LookupError(f"{self.ref}: cannot resolve {ref!r}")
        return node


@dataclass
class _Hang:
    path: Path_
    value: str
    seconds: float


class _Failure(NamedTuple):
    """What Ajv reports for one failed keyword, besides where and on which value."""

    keyword: str
    message: str
    params: dict[str, Any]
    schema: Any


def _count_failure(keyword: str, limit: Any, size: int, unit: str) -> _Failure | None:
    """``maxLength``/``minLength``, ``maxItems``/``minItems``, ``maxProperties``/``minProperties``."""
    too_many = keyword.startswith("max")
    if (too_many and size > limit) or (not too_many and size < limit):
        comp = "more" if too_many else "fewer"
        return _Failure(keyword, f"must NOT have {comp} than {limit} {unit}", {"limit": limit}, limit)
    return None


def _type_failure(types: list[str], schema: Any) -> _Failure:
    joined = ",".join(types)
    return _Failure("type", f"must be {joined}", {"type": joined}, schema)


_COMPARISONS: Mapping[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "maximum": ("<=", lambda a, b: a > b),
    "minimum": (">=", lambda a, b: a < b),
    "exclusiveMaximum": ("<", lambda a, b: a >= b),
    "exclusiveMinimum": (">", lambda a, b: a <= b),
}


def _value_failure(keyword: str, value: Any, data: Any, group: str | None) -> _Failure | None:
    """The keywords that look at the value alone: ``const``, ``enum`` and those of numbers and strings."""
    if keyword == "const" and not js_equal(data, value):
        return _Failure(keyword, "must be equal to constant", {"allowedValue": value}, value)
    if keyword == "enum" and not any(js_equal(data, choice) for choice in value):
        return _Failure(keyword, "must be equal to one of the allowed values", {"allowedValues": value}, value)
    if group == "number":
        return _number_failure(keyword, value, data)
    if group == "string":
        return _string_failure(keyword, value, data)
    return None


def _number_failure(keyword: str, limit: Any, data: Any) -> _Failure | None:
    if keyword == "multipleOf" and (limit == 0 or (data / limit) != int(data / limit)):
        return _Failure(keyword, f"must be multiple of {limit}", {"multipleOf": limit}, limit)
    if keyword in _COMPARISONS and isinstance(limit, (int, float)) and not isinstance(limit, bool):
        sign, fails = _COMPARISONS[keyword]
        if fails(data, limit):
            return _Failure(keyword, f"must be {sign} {limit}", {"comparison": sign, "limit": limit}, limit)
    return None  # "format" on a number: the emulation checks formats on strings only


def _string_failure(keyword: str, value: Any, data: str) -> _Failure | None:
    if keyword in ("maxLength", "minLength"):
        return _count_failure(keyword, value, len(data), "characters")
    if keyword == "pattern" and not js_regex(value)(data):
        return _Failure(keyword, f'must match pattern "{value}"', {"pattern": value}, value)
    if keyword == "format":
        check = FORMATS.get(value) if isinstance(value, str) else None
        if check is not None and not check(data):
            return _Failure(keyword, f'must match format "{value}"', {"format": value}, value)
    return None


def _duplicate(schema: Mapping[str, Any], data: list[Any]) -> tuple[int, int] | None:
    """The pair of equal items Ajv's ``uniqueItems`` reports, if any."""
    items = schema.get("items")
    item_types = schema_types(items) if isinstance(items, dict) else []
    if item_types and not any(t in ("object", "array") for t in item_types):
        seen: dict[str, int] = {}
        for i in range(len(data) - 1, -1, -1):
            item = data[i]
            if not any(is_type(t, item) for t in item_types):
                continue
            text = js_key(item) + ("_" if len(item_types) > 1 and isinstance(item, str) else "")
            if text in seen:
                return i, seen[text]
            seen[text] = i
        return None
    # Ajv compares every pair (for i from the end, for j < i from i - 1 down): the pair it reports is the largest i
    # with an equal item before it, and the nearest such j. Found here in one pass, by a key that two items share
    # exactly when they are js_equal.
    duplicate: tuple[int, int] | None = None
    last: dict[Any, int] = {}
    for i, item in enumerate(data):
        key = js_equal_key(item)
        if key in last:
            duplicate = (i, last[key])
        last[key] = i
    return duplicate


class _Tally:
    """The errors of one run. With ``all_errors`` (Ajv ``allErrors``) every error is wanted, up to ``limit`` kept
    errors and ``limit`` more in the alternatives being tried (anyOf, not, if, contains), which are then dropped."""

    def __init__(self, all_errors: bool, limit: int | None) -> None:
        self.all_errors = all_errors
        self.limit = limit
        self.capped = False  # the limit was reached: the run went on as without allErrors
        self.errors: list[AjvError] = []
        self.regions: list[int] = []  # where each tentative region's errors start, outermost first

    def go_on(self) -> bool:
        """After an error: whether to check the rest."""
        if not self.all_errors:
            return False
        if self.limit is None:
            return True
        kept = self.regions[0] if self.regions else len(self.errors)
        if kept >= self.limit or len(self.errors) - kept >= self.limit:
            self.capped = True
            return False
        return True

    def tentative(self) -> int:
        """Errors from here on are tentative (an alternative being tried) until :meth:`settle`."""
        self.regions.append(len(self.errors))
        return len(self.errors)

    def settle(self, mark: int) -> None:
        del self.errors[mark:]
        self.regions.pop()


class _Undo:
    """Every change made to the document, with ``keep``, so that :meth:`rollback` takes it back."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self._steps: list[tuple[Any, Any, Any]] = []

    def set(self, container: Any, key: Any, value: Any) -> None:
        if self.keep:
            there = isinstance(container, list) or key in container  # a list item is coerced where it is
            self._steps.append((container, key, container[key] if there else MISSING))
        container[key] = value

    def append(self, container: list[Any], value: Any) -> None:
        if self.keep:
            self._steps.append((container, len(container), MISSING))
        container.append(value)

    def rollback(self) -> None:
        for container, key, before in reversed(self._steps):
            if before is MISSING:
                del container[key]
            else:
                container[key] = before
        self._steps.clear()


# One check of a schema node: (schema, value, parent, key, instance path, schema path).
_Check = tuple[Any, Any, Any, Any, Path_, str]


class AjvRun:
    """One validation of one document against one schema, mutating the document the way Ajv does.

    With ``all_errors`` (Ajv ``allErrors``) it goes on after an error, until ``limit`` errors are held (those of
    alternatives being tried included); it then goes on as without ``allErrors`` and sets ``tally.capped``. The
    verdict is the same either way; only the list of errors (and the changes made after the limit) are shorter."""

    def __init__(
        self,
        doc: SchemaDoc,
        *,
        coerce: bool = True,
        defaults: bool = True,
        all_errors: bool = False,
        limit: int | None = None,
        undo: bool = False,
    ) -> None:
        self.doc = doc
        self.coerce = coerce
        self.defaults = defaults
        self.tally = _Tally(all_errors, limit)
        self.errors = self.tally.errors
        self.changes: list[Change] = []
        self.hangs: list[_Hang] = []
        self._undo = _Undo(undo)  # with ``undo``, see :meth:`verdict_in_place`

    def verdict_in_place(self, document: Any) -> bool:
        """:meth:`run` on ``document`` itself, every change taken back afterwards: a verdict without the copy
        of the document that a run needs (detection tries every schema on the same document)."""
        assert self._undo.keep, "AjvRun(undo=True) keeps what verdict_in_place takes back"
        try:
            return self.run(document)
        finally:
            self._undo.rollback()

    # entry -------------------------------------------------------------------------------------------
    def run(self, document: Any) -> bool:
        valid, _ = self._node(self.doc.root, document, None, None, (), False, "#")
        return valid

    # a schema node (Ajv subschemaCode) ---------------------------------------------------------------
    def _node(
        self, schema: Any, data: Any, parent: Any, key: Any, path: Path_, composite: bool, spath: str
    ) -> tuple[bool, Any]:
        if not isinstance(schema, dict):
            if schema is False:
                self._fail(path, _Failure("false schema", "boolean schema is false", {}, schema), data, spath)
                return False, data
            return True, data
        plan = self.doc.plan(schema)
        if not plan.rules:
            return True, data
        if plan.ref_only is not None:
            return self._ref(plan.ref_only, data, parent, key, path, composite, spath)
        start = len(self.errors)
        types = plan.types
        check_types = plan.check_types if self.coerce else plan.check_types_strict
        if check_types and not any(is_type(t, data) for t in types):
            coerced = coerce(data, plan.coerce_to) if self.coerce and plan.coerce_to else NO_COERCION
            if coerced is NO_COERCION:
                self._fail(path, _type_failure(list(types), schema), data, f"{spath}/type")
            else:
                self.changes.append(Change(path, Quirk.AJV_COERCION, data, coerced))
                data = coerced
                if parent is not None:
                    self._undo.set(parent, key, coerced)
        first = True
        for group, keywords in plan.groups:
            if not first and len(self.errors) > start and not self.tally.go_on():
                break
            first = False
            if group is not None and not is_type(group, data):
                if len(types) == 1 and types[0] == group and not check_types:
                    self._fail(path, _type_failure(list(types), schema), data, f"{spath}/type")
                continue
            if group in ("object", "array") and self.defaults and not composite:
                self._defaults(schema, group, data, path)
            for keyword in keywords:
                ok, data = self._keyword(keyword, schema, data, parent, key, path, composite, spath, group)
                if not ok and not self.tally.go_on():
                    break
        return len(self.errors) == start, data

    def _ref(
        self, pointer: str, data: Any, parent: Any, key: Any, path: Path_, composite: bool, spath: str
    ) -> tuple[bool, Any]:
        target, compiled = self.doc.resolve(pointer)
        if not compiled:  # inlined: same data variable and the caller's composite state
            return self._node(target, data, parent, key, path, composite, pointer)
        # A separately compiled function: no composite state inside (defaults apply again), and the caller's
        # variable for this value is not refreshed after the call (Ajv only updates parentData[property]).
        valid, _ = self._node(target, data, parent, key, path, False, pointer)
        return valid, data

    def _each(self, checks: Iterable[_Check], composite: bool) -> bool:
        """Each check in turn (taken lazily, as Ajv's loops read the data); False when one fails. Stops at the
        first failure unless every error is wanted."""
        ok = True
        for sub, value, parent, key, where, spath in checks:
            item_ok, _ = self._node(sub, value, parent, key, where, composite, spath)
            if not item_ok:
                ok = False
                if not self.tally.go_on():
                    break
        return ok

    # defaults (Ajv useDefaults) ----------------------------------------------------------------------
    def _defaults(self, schema: Mapping[str, Any], group: str, data: Any, path: Path_) -> None:
        if group == "object" and isinstance(schema.get("properties"), dict):
            for name, sub in schema["properties"].items():
                if isinstance(sub, dict) and "default" in sub and name not in data:
                    self._undo.set(data, name, copy.deepcopy(sub["default"]))
                    self.changes.append(Change((*path, name), Quirk.AJV_DEFAULTS, None, data[name], True))
        elif group == "array" and isinstance(schema.get("items"), list):
            for index, sub in enumerate(schema["items"]):
                # Ajv assigns data[i]; JavaScript pads the array with holes. Only appending keeps JSON.
                if isinstance(sub, dict) and "default" in sub and index == len(data):
                    self._undo.append(data, copy.deepcopy(sub["default"]))
                    self.changes.append(Change((*path, index), Quirk.AJV_DEFAULTS, None, data[index], True))

    # keywords ----------------------------------------------------------------------------------------
    def _keyword(
        self,
        keyword: str,
        schema: Mapping[str, Any],
        data: Any,
        parent: Any,
        key: Any,
        path: Path_,
        composite: bool,
        spath: str,
        group: str | None,
    ) -> tuple[bool, Any]:
        value = schema[keyword]
        here = f"{spath}/{keyword}"
        if keyword == "$ref":
            return self._ref(value, data, parent, key, path, composite, here)
        if keyword in ("anyOf", "oneOf"):
            return self._union(keyword, value, data, parent, key, path, composite, here)
        if keyword == "allOf":
            ok = True
            for index, sub in enumerate(value):
                if self.doc.always_valid(sub):
                    continue
                sub_ok, data = self._node(sub, data, parent, key, path, composite, f"{here}/{index}")
                if not sub_ok:
                    ok = False
                    if not self.tally.go_on():
                        break
            return ok, data
        if keyword == "not":
            mark = self.tally.tentative()
            sub_ok, data = self._node(value, data, parent, key, path, True, here)
            self.tally.settle(mark)
            return (not sub_ok or self._fail(path, _Failure(keyword, "must NOT be valid", {}, value), data, here)), data
        if keyword == "if":
            return self._if_then_else(schema, data, parent, key, path, composite, spath)
        if group in ("array", "object"):
            check = self._array if group == "array" else self._object
            return check(keyword, schema, data, path, composite, here), data
        failure = _value_failure(keyword, value, data, group)
        if failure is None:
            return True, data
        estimate = CATASTROPHIC.get(value) if keyword == "pattern" else None
        if estimate is not None:
            self.hangs.append(_Hang(path, data, estimate(data)))
        return self._fail(path, failure, data, here), data

    def _union(
        self,
        keyword: str,
        branches: list[Any],
        data: Any,
        parent: Any,
        key: Any,
        path: Path_,
        composite: bool,
        here: str,
    ) -> tuple[bool, Any]:
        if any(self.doc.always_valid(branch) for branch in branches):
            return True, data  # Ajv skips the whole keyword (no coercion in the other branches either)
        mark = self.tally.tentative()
        groups: list[tuple[AjvError, ...]] = []
        passing: list[int] = []
        for index, branch in enumerate(branches):
            before = len(self.errors)
            ok, data = self._node(branch, data, parent, key, path, True, f"{here}/{index}")
            groups.append(tuple(self.errors[before:]))
            if ok:
                passing.append(index)
                if keyword == "anyOf" or len(passing) > 1:
                    break
        valid = len(passing) == 1 if keyword == "oneOf" else bool(passing)
        self.tally.settle(mark)
        if valid:
            return True, data
        if keyword == "anyOf":
            message, params = "must match a schema in anyOf", {}
        else:
            message, params = "must match exactly one schema in oneOf", {"passingSchemas": passing or None}
        error = AjvError(path, keyword, message, params, data, branches, here, tuple(groups))
        self.errors.append(error)
        return False, data

    def _if_then_else(
        self, schema: Mapping[str, Any], data: Any, parent: Any, key: Any, path: Path_, composite: bool, spath: str
    ) -> tuple[bool, Any]:
        has_then, has_else = "then" in schema, "else" in schema
        if not has_then and not has_else:
            return True, data
        mark = self.tally.tentative()
        if_ok, data = self._node(schema["if"], data, parent, key, path, True, f"{spath}/if")
        self.tally.settle(mark)
        branch = "then" if if_ok else "else"
        if branch not in schema:
            return True, data
        ok, data = self._node(schema[branch], data, parent, key, path, composite, f"{spath}/{branch}")
        if not ok:
            failure = _Failure("if", f'must match "{branch}" schema', {"failingKeyword": branch}, schema)
            self._fail(path, failure, data, spath)
        return ok, data

    def _array(
        self, keyword: str, schema: Mapping[str, Any], data: list[Any], path: Path_, composite: bool, here: str
    ) -> bool:
        value = schema[keyword]

        def items(pairs: Iterable[tuple[int, Any]], same: bool) -> Iterator[_Check]:
            for index, sub in pairs:
                if index < len(data) and not self.doc.always_valid(sub):
                    yield sub, data[index], data, index, (*path, index), here if same else f"{here}/{index}"

        failure: _Failure | None = None
        if keyword in ("maxItems", "minItems"):
            failure = _count_failure(keyword, value, len(data), "items")
        elif keyword == "items" and isinstance(value, list):
            return self._each(items(list(enumerate(value)), same=False), composite)
        elif keyword == "items":
            return self.doc.always_valid(value) or self._each(
                items(((i, value) for i in range(len(data))), True), composite
            )
        elif keyword == "additionalItems":
            prefix = schema.get("items")
            if not isinstance(prefix, list) or self.doc.always_valid(value) or len(data) <= len(prefix):
                return True
            if value is not False:
                return self._each(items(((i, value) for i in range(len(prefix), len(data))), True), composite)
            failure = _Failure(keyword, f"must NOT have more than {len(prefix)} items", {"limit": len(prefix)}, value)
        elif keyword == "uniqueItems" and value is True and (pair := _duplicate(schema, data)) is not None:
            i, j = pair
            message = f"must NOT have duplicate items (items ## {j} and {i} are identical)"
            failure = _Failure("uniqueItems", message, {"i": i, "j": j}, True)
        elif keyword == "contains":
            return self._contains(value, data, path, here)
        return failure is None or self._fail(path, failure, data, here)

    def _contains(self, schema: Any, data: list[Any], path: Path_, here: str) -> bool:
        failure = _Failure("contains", "must contain at least 1 valid item(s)", {"minContains": 1}, schema)
        if self.doc.always_valid(schema):
            return len(data) >= 1 or self._fail(path, failure, data, here)
        mark = self.tally.tentative()
        for index, item in enumerate(data):
            ok, _ = self._node(schema, item, data, index, (*path, index), True, here)
            if ok:
                self.tally.settle(mark)
                return True
        self.tally.settle(mark)
        return self._fail(path, failure, data, here)

    def _object(
        self, keyword: str, schema: Mapping[str, Any], data: dict[str, Any], path: Path_, composite: bool, here: str
    ) -> bool:
        value = schema[keyword]
        if keyword == "required":
            ok = True
            for name in value if isinstance(value, list) else []:
                if name not in data:
                    failure = _Failure(
                        keyword, f"must have required property '{name}'", {"missingProperty": name}, value
                    )
                    ok = self._fail(path, failure, data, here)
                    if not self.tally.go_on():
                        break
            return ok
        if keyword == "additionalProperties":
            return self._additional(schema, value, data, path, composite, here)
        if keyword == "properties":  # a default that could not be assigned (not an object): nothing to check
            checks = (
                (sub, data[name], data, name, (*path, name), f"{here}/{name}")
                for name, sub in value.items()
                if not self.doc.always_valid(sub) and name in data
            )
            return self._each(checks, composite)
        if keyword == "patternProperties":
            checks = (
                (sub, data[name], data, name, (*path, name), f"{here}/{pattern}")
                for pattern, sub in value.items()
                for name in [n for n in data if js_regex(pattern)(n)]
            )
            return self._each(checks, composite)
        if keyword in ("maxProperties", "minProperties"):
            counted = _count_failure(keyword, value, len(data), "properties")
            return counted is None or self._fail(path, counted, data, here)
        if keyword == "propertyNames":
            return self._each(((value, name, None, None, path, here) for name in list(data)), composite)
        if keyword == "dependencies":
            ok = True
            for name, dependency in value.items():
                if name not in data:
                    continue
                if isinstance(dependency, list):
                    for needed in (n for n in dependency if n not in data):
                        message = f"must have property {needed} when property {name} is present"
                        params = {"property": name, "missingProperty": needed, "depsCount": len(dependency)}
                        ok = self._fail(path, _Failure(keyword, message, params, dependency), data, here)
                else:
                    dep_ok, _ = self._node(dependency, data, None, None, path, composite, f"{here}/{name}")
                    ok = ok and dep_ok
                if not ok and not self.tally.go_on():
                    break
            return ok
        return True

    def _additional(
        self, schema: Mapping[str, Any], value: Any, data: dict[str, Any], path: Path_, composite: bool, here: str
    ) -> bool:
        if self.doc.always_valid(value):
            return True
        known = set(schema.get("properties") or {})
        patterns = [js_regex(p) for p in schema.get("patternProperties") or {}]
        ok = True
        for name in js_key_order(data):
            if name in known or any(test(name) for test in patterns):
                continue
            if value is False:
                failure = _Failure(
                    "additionalProperties", "must NOT have additional properties", {"additionalProperty": name}, value
                )
                ok = self._fail(path, failure, data, here)
            elif isinstance(value, dict):
                item_ok, _ = self._node(value, data[name], data, name, (*path, name), composite, here)
                ok = ok and item_ok
            if not ok and not self.tally.go_on():
                break
        return ok

    # errors ------------------------------------------------------------------------------------------
    def _fail(self, path: Path_, failure: _Failure, value: Any, spath: str) -> bool:
        keyword, message, params, schema = failure
        self.errors.append(AjvError(path, keyword, message, params, value, schema, spath))
        return False


def flat_ajv(error: AjvError) -> Iterator[AjvError]:
    """Ajv's ``errors`` array: a failed anyOf's alternatives first, then the anyOf error itself."""
    for branch in error.branches:
        for sub in branch:
            yield from flat_ajv(sub)
    yield error
