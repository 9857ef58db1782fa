"""template.yaml for tests: loaded with CloudFormation's tags, and DynamoDB tables built from it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "LocalSecondaryIndexes",
    "GlobalSecondaryIndexes",
    "StreamSpecification",
)


class TemplateLoader(yaml.SafeLoader):
    """CloudFormation's short tags become their raw values: table properties use none."""


TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def create_table_from_template(dynamodb, logical_id: str, name: str) -> None:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=TemplateLoader)
    props = template["Resources"][logical_id]["Properties"]
    args = {k: props[k] for k in CREATE_TABLE_KEYS if k in props}
    if "StreamSpecification" in args:  # CloudFormation implies StreamEnabled; the API wants it said
        args["StreamSpecification"] = {"StreamEnabled": True, **args["StreamSpecification"]}
    dynamodb.create_table(TableName=name, **args)


@contextmanager
def moto_tables(monkeypatch, tables: dict[str, str]) -> Iterator:
    """moto with dummy credentials and the named template tables ({logical id: table name}); yields a client."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for logical_id, name in tables.items():
            create_table_from_template(client, logical_id, name)
        yield client


class CloudFormationLoader(yaml.SafeLoader):
    """Short tags become their long form (`!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": [A, B]})."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _tag)


def load_template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)
