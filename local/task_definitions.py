"""The ECS task definitions the stack deployed: which containers the local cloud runs, and how.

template.yaml is the one truth: `MatchingTaskDefinition` and
`StreamGatewayTaskDefinition` name the containers, their commands and their
environment (with the stack's table names, bucket and key already resolved by
the deploy). The launcher reads them back from the emulator's ECS, exactly as
Fargate would start them, and runs each container's command as a process.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

MATCHING_TASK = "MatchingTaskDefinition"
GATEWAY_TASK = "StreamGatewayTaskDefinition"


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    argv: list[str]  # `python` is this interpreter: the image's python, locally
    environment: dict[str, str]


def containers(session, endpoint: str, stack_name: str, logical_id: str) -> list[Container]:
    """The containers of the stack's task definition `logical_id`, in the template's order."""
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    arn = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId=logical_id)[
        "StackResourceDetail"]["PhysicalResourceId"]
    ecs = session.client("ecs", endpoint_url=endpoint)
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return [container_of(c) for c in definition["containerDefinitions"]]


def container_of(definition: dict) -> Container:
    argv = [*definition.get("entryPoint", []), *definition.get("command", [])]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    # A variable without a value is the template's AWS::NoValue: ECS leaves it unset.
    env = {e["name"]: e["value"] for e in definition.get("environment", []) if "value" in e}
    return Container(definition["name"], argv, env)
