"""template.yaml is the truth: everything it points at exists, and its wiring holds.

Read with a YAML loader that keeps CloudFormation's short tags (`!Ref X` becomes
{"Ref": "X"}, `!GetAtt A.B` becomes {"Fn::GetAtt": ["A", "B"]}, ...).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.tables import CloudFormationLoader

ROOT = Path(__file__).resolve().parents[2]


def load_template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)


TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
GLOBALS = TEMPLATE.get("Globals", {}).get("Function", {})


def resources_of(kind: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


FUNCTIONS = resources_of("AWS::Serverless::Function")


def refs(value) -> set[str]:
    """Every name a value refers to with Ref, GetAtt or ${...} in Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def test_there_is_at_least_one_function():
    assert "SpotApiFunction" in FUNCTIONS


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_code_and_handler_exist(name):
    props = FUNCTIONS[name]["Properties"]
    code = ROOT / props["CodeUri"]
    module, _, attr = props.get("Handler", GLOBALS.get("Handler")).rpartition(".")
    source = code / (module.replace(".", "/") + ".py")
    assert code.is_dir(), f"{name}: CodeUri {props['CodeUri']} is missing"
    assert source.is_file(), f"{name}: handler module {source} is missing"
    defined = {n.name for n in ast.parse(source.read_text()).body if isinstance(n, ast.FunctionDef)}
    assert attr in defined, f"{name}: {source.name} defines no {attr}()"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_uses_the_core_layer_on_python_312(name):
    props = FUNCTIONS[name]["Properties"]
    layers = props.get("Layers", GLOBALS.get("Layers", []))
    assert {"Ref": "CoreLayer"} in layers
    assert props.get("Runtime", GLOBALS.get("Runtime")) == "python3.12"


def test_core_layer_ships_the_castle_package_with_pinned_requirements():
    layer = RESOURCES["CoreLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    content = ROOT / layer["Properties"]["ContentUri"]
    assert (content / "castle").is_dir() and (content / "castle" / "matching.py").is_file()
    pins = [line for line in (content / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert "pydantic==2.13.5" in pins
    assert all("==" in line for line in pins)


def test_state_machine_definitions_exist():
    for name, machine in resources_of("AWS::Serverless::StateMachine").items():
        uri = machine["Properties"].get("DefinitionUri")
        if isinstance(uri, str):
            path = ROOT / uri
            assert path.is_file(), f"{name}: {uri} is missing"
            json.loads(path.read_text())


TASKS = resources_of("AWS::ECS::TaskDefinition")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_runs_the_image_from_the_parameter_on_fargate(name):
    props = TASKS[name]["Properties"]
    assert props["RequiresCompatibilities"] == ["FARGATE"] and props["NetworkMode"] == "awsvpc"
    for container in props["ContainerDefinitions"]:
        assert "MatchingImageUri" in refs(container["Image"]), container["Name"]
    assert "MatchingImageUri" in TEMPLATE["Parameters"]


def test_matching_task_runs_the_container_entry_point():
    command = RESOURCES["MatchingTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"]
    dockerfile = (ROOT / "matching_container" / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert command == cmd


@pytest.mark.parametrize(
    "name, container",
    [(name, c["Name"]) for name, task in sorted(TASKS.items()) for c in task["Properties"]["ContainerDefinitions"]],
)
def test_every_container_command_names_a_module_of_the_image(name, container):
    (definition,) = [c for c in TASKS[name]["Properties"]["ContainerDefinitions"] if c["Name"] == container]
    module = definition["Command"][-1]
    assert definition["Command"][:2] == ["python", "-m"]
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), f"{name}/{container}: {module} is missing"


def test_the_stream_gateway_serves_the_load_balancers_port_and_health_check():
    (gateway,) = RESOURCES["StreamGatewayTaskDefinition"]["Properties"]["ContainerDefinitions"]
    service = RESOURCES["StreamGatewayService"]["Properties"]
    group = RESOURCES["StreamTargetGroup"]["Properties"]
    env = {e["Name"]: e["Value"] for e in gateway["Environment"]}
    assert gateway["Command"] == ["python", "-m", "matching_container.gateway"]
    assert gateway["PortMappings"][0]["ContainerPort"] == group["Port"] == int(env["CASTLE_GATEWAY_PORT"])
    assert service["LoadBalancers"] == [
        {
            "ContainerName": gateway["Name"],
            "ContainerPort": group["Port"],
            "TargetGroupArn": {"Ref": "StreamTargetGroup"},
        }
    ]
    assert (group["TargetType"], group["HealthCheckPath"]) == ("ip", "/health")


def test_redis_admits_every_security_group_of_the_functions_and_the_tasks():
    admitted = {
        rule["SourceSecurityGroupId"]["Ref"]
        for rule in RESOURCES["RedisSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    }
    services = resources_of("AWS::ECS::Service").values()
    needed = {
        g["Ref"]
        for s in services
        for g in s["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    }
    assert needed | {"FunctionSecurityGroup"} <= admitted


def test_the_edge_sends_streams_to_the_gateway_with_their_paths_unchanged():
    config = RESOURCES["EdgeDistribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    streams = {b["PathPattern"]: b for b in config["CacheBehaviors"] if b["PathPattern"] in ("/ws*", "/stream*")}
    assert set(streams) == {"/ws*", "/stream*"}
    for behaviour in streams.values():
        origin = origins[behaviour["TargetOriginId"]]
        assert origin["DomainName"] == {"Fn::GetAtt": ["StreamLoadBalancer", "DNSName"]}
        assert "OriginPath" not in origin
    code = RESOURCES["EdgeViewerAddressFunction"]["Properties"]["FunctionCode"]
    assert "x-viewer-address" in code and "request.uri" not in code and "querystring" not in code


def test_tables_are_on_demand_and_orders_and_trades_stream_both_images():
    tables = resources_of("AWS::DynamoDB::Table")
    assert {"OrdersTable", "BalancesTable", "TradesTable"} <= set(tables)
    for name, table in tables.items():
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST", name
    for name in ("OrdersTable", "TradesTable"):
        assert tables[name]["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_open_orders_can_be_listed_by_account():
    indexes = RESOURCES["OrdersTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert any(index["IndexName"] == "OpenOrdersByAccount" for index in indexes)


def test_every_parameter_has_a_default_so_a_guided_deploy_asks_only_to_confirm():
    missing = [name for name, p in TEMPLATE["Parameters"].items() if "Default" not in p]
    assert missing == []


def test_every_reference_names_a_resource_parameter_or_pseudo_parameter():
    known = set(RESOURCES) | set(TEMPLATE["Parameters"])
    dangling = {name for name in refs(TEMPLATE) if name not in known and not name.startswith("AWS::")}
    assert dangling == set()


def test_outputs_give_the_api_url_tables_redis_and_cluster():
    assert {"SpotApiUrl", "OrdersTableName", "TradesTableName", "RedisEndpoint", "MatchingClusterName"} <= set(
        TEMPLATE["Outputs"]
    )


def test_functions_trace_with_xray_in_aws_and_not_in_the_local_cloud():
    import shlex
    import tomllib

    assert TEMPLATE["Parameters"]["XRayTracing"]["Default"] == "on"
    assert GLOBALS["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == {
        "Fn::If": ["XRayOn", "false", "true"]
    }
    local = tomllib.loads((ROOT / "samconfig.toml").read_text())["local"]["deploy"]["parameters"]
    assert "XRayTracing=off" in shlex.split(local["parameter_overrides"])
