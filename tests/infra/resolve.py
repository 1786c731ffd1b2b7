"""The template as CloudFormation would deploy it for one set of parameter values.

Conditions are evaluated from the parameters, resources whose Condition is false are dropped, every
Fn::If is replaced by the branch it takes and AWS::NoValue disappears. Ref, Fn::GetAtt and Fn::Sub stay
symbolic, so tests can assert *which* parameter or resource a property points at in each configuration.
"""

from __future__ import annotations

import re
from typing import Any

PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "eu-west-2",
    "AWS::Partition": "aws",
    "AWS::StackName": "hdr-ingest",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}

# A required parameter without a default needs a value to deploy at all.
REQUIRED_VALUES = {"GatewaySecretId": "hdr-gateway-ingest/gateway-app"}

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


class Deployment:
    def __init__(self, template: dict[str, Any], overrides: dict[str, str] | None = None) -> None:
        self.template = template
        overrides = overrides or {}
        unknown = set(overrides) - set(template["Parameters"])
        assert not unknown, f"unknown parameters {sorted(unknown)}"
        self.parameters: dict[str, str] = {}
        for name, spec in template["Parameters"].items():
            value = overrides.get(name, spec.get("Default", REQUIRED_VALUES.get(name)))
            assert value is not None, f"parameter {name} needs a value"
            self.parameters[name] = str(value)
        self._conditions: dict[str, bool] = {}
        self.resources = {
            name: self.resolve(resource)
            for name, resource in template["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }
        self.outputs = {
            name: self.resolve(output)
            for name, output in template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }

    # ------------------------------------------------------------ conditions and rules

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self.truth(self.template["Conditions"][name])
        return self._conditions[name]

    def truth(self, node: Any) -> bool:
        (function, args), *rest = node.items()
        assert not rest, f"not one condition function: {node!r}"
        if function == "Condition":
            return self.condition(args)
        if function == "Fn::Equals":
            left, right = (self.scalar(arg) for arg in args)
            return left == right
        if function == "Fn::Not":
            (inner,) = args
            return not self.truth(inner)
        if function == "Fn::And":
            return all(self.truth(arg) for arg in args)
        if function == "Fn::Or":
            return any(self.truth(arg) for arg in args)
        raise AssertionError(f"unsupported condition function {function}")

    def scalar(self, node: Any) -> Any:
        if isinstance(node, (str, int, float)):
            return str(node)
        (function, args), *_ = node.items()
        if function == "Ref":
            return self.parameters[args] if args in self.parameters else PSEUDO_PARAMETERS[args]
        if function == "Fn::Select":
            index, values = args
            return self.scalar(values)[int(index)]
        if function == "Fn::Split":
            delimiter, value = args
            return self.scalar(value).split(delimiter)
        if function == "Fn::Join":  # of a CommaDelimitedList parameter: its items as given
            delimiter, value = args
            items = self.scalar(value)
            return delimiter.join(items.split(",") if isinstance(items, str) else items)
        raise AssertionError(f"unsupported function in a condition: {function}")

    def failed_rules(self) -> list[str]:
        """AssertDescriptions of the template's Rules that these parameters break."""
        failed = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            failed.extend(a["AssertDescription"] for a in rule["Assertions"] if not self.truth(a["Assert"]))
        return failed

    # ------------------------------------------------------------ values

    def resolve(self, node: Any) -> Any:
        value = self._resolve(node)
        return None if value is _NO_VALUE else value

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, if_true, if_false = node["Fn::If"]
                return self._resolve(if_true if self.condition(name) else if_false)
            if node == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            resolved = {key: self._resolve(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not _NO_VALUE}
        if isinstance(node, list):
            return [item for item in (self._resolve(v) for v in node) if item is not _NO_VALUE]
        return node

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res["Type"] == type_}

    def references(self) -> set[str]:
        """Every parameter, pseudo parameter or resource named by Ref, GetAtt, DependsOn or Sub."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "Ref":
                        found.add(value)
                    elif key == "Fn::GetAtt":
                        found.add(value[0] if isinstance(value, list) else value.split(".")[0])
                    elif key == "Fn::Sub":
                        text, variables = (value, {}) if isinstance(value, str) else value
                        for variable in _SUB_VARIABLE.findall(text):
                            if variable not in variables:
                                found.add(variable.split(".")[0])
                        walk(variables)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        for resource in self.resources.values():
            walk(resource.get("Properties", {}))
            depends_on = resource.get("DependsOn", [])
            found.update(depends_on if isinstance(depends_on, list) else [depends_on])
        walk(self.outputs)
        return found
