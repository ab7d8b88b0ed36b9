"""The /api/v2.0 models keep Harbor's swagger shapes: same keys, same types, all optional."""

from __future__ import annotations

import inspect
import types
import typing
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from moorage.api import schemas

SWAGGER = Path(__file__).resolve().parents[2] / "data" / "harbor-v2.0-swagger.yaml"

# Swagger properties a model deliberately leaves out, per model. Empty today: keep it explicit.
EXCLUDED: dict[str, set[str]] = {}

# Definitions referenced by a property but kept as plain mappings, with the mapping's value type.
OPAQUE: dict[str, object] = {
    "ExtraAttrs": Any,
    "ScanOverview": Any,  # map of report MIME type to NativeReportSummary: not modelled
    "SBOMOverview": Any,  # object with scanner details: not modelled
    "Registry": Any,  # where referenced (policy src/dest, project summary): a mapping; requests send {"id": n}
    "Annotations": str,
    "ResourceList": int,
    "AdditionLinks": schemas.AdditionLink,
}

# Models of inline (unnamed) swagger objects, named as go-swagger names them: path of the object.
INLINE: dict[str, tuple[str, ...]] = {
    "ConfigurationsResponseScanAllPolicy": ("ConfigurationsResponse", "scan_all_policy"),
    "ConfigurationsResponseScanAllPolicyParameter": ("ConfigurationsResponse", "scan_all_policy", "parameter"),
}

MODELS = sorted(
    (cls for name, cls in vars(schemas).items()
     if inspect.isclass(cls) and issubclass(cls, BaseModel) and cls.__module__ == schemas.__name__
     and not name.startswith("_")),
    key=lambda cls: cls.__name__,
)


@cache
def definitions() -> dict[str, Any]:
    assert SWAGGER.is_file(), f"Harbor swagger not found at {SWAGGER}"
    with SWAGGER.open() as f:
        defs: dict[str, Any] = yaml.safe_load(f)["definitions"]
    return defs


def swagger_properties(model: type[BaseModel]) -> dict[str, Any]:
    name = model.__name__
    if name in INLINE:
        root, *path = INLINE[name]
        obj = definitions()[root]
        for key in path:
            obj = obj["properties"][key]
    else:
        obj = definitions()[name]
    props: dict[str, Any] = obj["properties"]
    return props


def expected_type(prop: dict[str, Any], model: str, key: str) -> object:
    """The Python type a swagger property maps to."""
    if "$ref" in prop:
        ref = prop["$ref"].rsplit("/", 1)[-1]
        if ref in OPAQUE:
            return dict[str, OPAQUE[ref]]  # type: ignore[valid-type]
        return getattr(schemas, ref)
    kind = str(prop.get("type"))
    if kind == "array":
        return list[expected_type(prop["items"], model, key)]  # type: ignore[misc]
    if kind == "object" and "properties" not in prop:  # a free-form map (``additionalProperties``)
        values = prop.get("additionalProperties")
        if not isinstance(values, dict) or (values.get("type") == "object" and "properties" not in values):
            return dict[str, Any]
        return dict[str, expected_type(values, model, key)]  # type: ignore[misc]
    if kind == "object":  # an inline object: its model is named after the path to it
        return getattr(schemas, model + "".join(part.title().replace("_", "") for part in key.split("_")))
    if kind == "string":
        return datetime if prop.get("format") == "date-time" else str
    return {"integer": int, "boolean": bool, "number": float}[kind]


def strip(annotation: object) -> object:
    """`X | None` -> X, Annotated[X, ...] -> X, recursively inside list/dict."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        assert len(args) == 1, annotation
        return strip(args[0])
    if origin is typing.Annotated:
        return strip(args[0])
    if origin is list:
        return list[strip(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[strip(args[0]), strip(args[1])]  # type: ignore[misc]
    return annotation


def test_every_model_is_a_swagger_definition() -> None:
    assert len(MODELS) >= 50
    unknown = [m.__name__ for m in MODELS if m.__name__ not in definitions() and m.__name__ not in INLINE]
    assert not unknown


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_keys_match_swagger(model: type[BaseModel]) -> None:
    keys = {field.alias or name for name, field in model.model_fields.items()}
    assert keys == set(swagger_properties(model)) - EXCLUDED.get(model.__name__, set())


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_types_match_swagger_and_all_are_optional(model: type[BaseModel]) -> None:
    props = swagger_properties(model)
    for name, field in model.model_fields.items():
        key = field.alias or name
        assert strip(field.annotation) == expected_type(props[key], model.__name__, key), key
        assert not field.is_required() and field.default is None, key


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_one_line_docstring(model: type[BaseModel]) -> None:
    assert model.__doc__ and "\n" not in model.__doc__.strip()


def test_requests_reject_wrong_types_and_ignore_extras() -> None:
    req = schemas.ProjectReq.model_validate(
        {"project_name": "library", "public": True, "metadata": {"public": "true"}, "storage_limit": -1,
         "cve_allowlist": {"items": [{"cve_id": "CVE-2019-10164"}], "creation_time": "2024-01-02T03:04:05Z"},
         "unknown_key": {"anything": 1}})
    assert req.metadata is not None and req.metadata.public == "true"
    assert req.cve_allowlist is not None and req.cve_allowlist.creation_time == datetime.fromisoformat(
        "2024-01-02T03:04:05+00:00")
    assert not hasattr(req, "unknown_key")
    for bad in ({"public": "true"}, {"storage_limit": "10"}, {"metadata": {"public": True}},
                {"project_name": "x" * 256}):
        with pytest.raises(ValidationError):
            schemas.ProjectReq.model_validate(bad)
    with pytest.raises(ValidationError):
        schemas.RobotCreate.model_validate({"name": "ci", "permissions": [{"access": [{"resource": 1}]}]})
    with pytest.raises(ValidationError):
        schemas.UserCreationReq.model_validate({"username": 42})


def test_platform_keys_keep_harbors_quotes() -> None:
    platform = schemas.Platform.model_validate({"os": "windows", "'os.version'": "10.0.17763"})
    assert platform.os_version == "10.0.17763"
    dumped = schemas.Platform(os="linux", os_features=["sse4"]).model_dump(exclude_none=True)
    assert dumped == {"os": "linux", "'os.features'": ["sse4"]}
