"""DynamoDB tables for adapter tests, built from template.yaml so tests cannot drift from it."""

from __future__ import annotations

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
