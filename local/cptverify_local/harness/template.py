"""Reading `template.yaml` (CloudFormation short-form tags included) and resolving intrinsics."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads `!Ref`, `!GetAtt`, `!Sub`, ... as their long `Fn::` forms."""


def _tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The template as plain data (`!Ref X` becomes `{"Ref": "X"}`, and so on)."""
    with open(path or TEMPLATE_PATH, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError("template.yaml is not a mapping")
    return data


def table_keys(logical_id: str = "DataTable", path: Path | None = None) -> dict[str, Any]:
    """The key schema, attribute definitions, indexes and billing mode the template declares for
    a table, ready for `create_table(TableName=..., **table_keys())`."""
    props = load_template(path)["Resources"][logical_id]["Properties"]
    keys: dict[str, Any] = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        keys["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return keys


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(spec.get("Default", ""))
        for name, spec in (template.get("Parameters") or {}).items()
    }


_SUB_RE = re.compile(r"\$\{([^}!]+)\}")


class Resolver:
    """Resolves `Ref`, `Fn::GetAtt`, `Fn::Sub` and `Fn::Join` against known values."""

    def __init__(
        self,
        refs: Mapping[str, str],
        attributes: Callable[[str, str], str],
    ) -> None:
        self.refs = refs
        self.attributes = attributes

    def ref(self, name: str) -> str:
        if name not in self.refs:
            raise KeyError(f"no value for Ref {name}")
        return self.refs[name]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.attributes(arg[0], arg[1])
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return _SUB_RE.sub(lambda m: self._sub_one(m.group(1), extra), text)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self(v)) for v in arg[1])
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value

    def _sub_one(self, name: str, extra: Mapping[str, Any]) -> str:
        if name in extra:
            return str(self(extra[name]))
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self.attributes(resource, attribute)
        return self.ref(name)


def substitute_definition(text: str, values: Mapping[str, Any]) -> str:
    """`DefinitionSubstitutions` as Step Functions applies them: `${Name}` replaced as text."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"definition needs substitution {name}")
        return str(values[name])

    return _SUB_RE.sub(one, text)
