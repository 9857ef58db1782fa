"""Every statemachines/*.asl.json is well-formed ASL, portable to the local cloud, and wired by template.yaml.

Portable: ministack reports every Python exception as Runtime.HandlerError, so
a Retry or Catch on a Python error name would never match there. Business
outcomes are task outputs routed by Choice; Retry and Catch match States.*
only, every Task has both, retries are bounded, and a Catch on States.ALL
routes to a fallback (STYLE.md, "State machines").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.tables import CloudFormationLoader

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted((ROOT / "statemachines").glob("*.asl.json"))
TERMINAL = {"Succeed", "Fail"}
MAX_ATTEMPTS = 5


RESOURCES = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)["Resources"]
STATE_MACHINES = {n: r for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::StateMachine"}


def machine_for(path: Path) -> dict:
    uri = str(path.relative_to(ROOT))
    found = [r["Properties"] for r in STATE_MACHINES.values() if r["Properties"].get("DefinitionUri") == uri]
    assert len(found) == 1, f"{uri} is the DefinitionUri of {len(found)} state machines"
    return found[0]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def state_sets(definition: dict):
    """The machine's States, then every Parallel branch's and Map iterator's, each with its StartAt."""
    yield definition["StartAt"], definition["States"]
    for state in definition["States"].values():
        for branch in state.get("Branches", []):
            yield from state_sets(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from state_sets(state[key])


def all_states(definition: dict):
    for _, states in state_sets(definition):
        yield from states.items()


def targets(state: dict) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [rule["Next"] for rule in state.get("Choices", [])]
    found += [catcher["Next"] for catcher in state.get("Catch", [])]
    return found


def error_names(state: dict) -> list[str]:
    return [name for handler in state.get("Retry", []) + state.get("Catch", []) for name in handler["ErrorEquals"]]


def test_there_is_a_state_machine_and_the_template_declares_each_one():
    assert MACHINES
    assert {machine_for(p)["DefinitionUri"] for p in MACHINES} == {
        r["Properties"]["DefinitionUri"] for r in STATE_MACHINES.values()
    }


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_transition_names_a_state_and_every_state_is_reachable(path):
    for start, states in state_sets(load(path)):
        assert start in states
        for name, state in states.items():
            assert set(targets(state)) <= set(states), f"{name} goes to a missing state"
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += targets(states[name])
        assert seen == set(states), f"unreachable: {set(states) - seen}"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_state_either_ends_or_goes_on(path):
    for name, state in all_states(load(path)):
        if state["Type"] in TERMINAL:
            assert "Next" not in state and "End" not in state, name
        elif state["Type"] == "Choice":
            assert state["Choices"] and "Default" in state, f"{name}: a Choice needs a Default"
        else:
            assert ("Next" in state) != bool(state.get("End")), f"{name}: exactly one of Next and End"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_task_retries_boundedly_and_catches_everything(path):
    for name, state in all_states(load(path)):
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{name} has no Retry"
        for retrier in state["Retry"]:
            assert 1 <= retrier.get("MaxAttempts", 3) <= MAX_ATTEMPTS, name
            assert retrier.get("BackoffRate", 2.0) >= 1 and retrier.get("IntervalSeconds", 1) >= 1, name
        assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), f"{name} has no States.ALL Catch"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_retry_and_catch_match_only_states_errors(path):
    for name, state in all_states(load(path)):
        python_names = [e for e in error_names(state) if not e.startswith("States.")]
        assert python_names == [], f"{name} matches {python_names}: the local cloud never reports those"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_substitutions_in_the_asl_are_exactly_the_templates(path):
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", path.read_text()))
    provided = set(machine_for(path).get("DefinitionSubstitutions", {}))
    assert used == provided


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_the_machine_may_invoke_exactly_the_functions_it_names(path):
    props = machine_for(path)
    named = {
        value["Fn::GetAtt"][0]
        for value in props.get("DefinitionSubstitutions", {}).values()
        if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn"
    }
    functions = {n for n in named if RESOURCES[n]["Type"] == "AWS::Serverless::Function"}
    invokable = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in props.get("Policies", [])
        if isinstance(policy, dict) and "LambdaInvokePolicy" in policy
    }
    assert functions and invokable == functions


def test_the_withdrawal_check_routes_each_decision_and_falls_back_to_review():
    states = load(ROOT / "statemachines" / "withdrawal_fraud_check.asl.json")["States"]
    route = {rule["StringEquals"]: rule["Next"] for rule in states["Route"]["Choices"]}
    assert route == {"APPROVE": "Approve", "REVIEW": "HoldForReview", "REJECT": "Reject"}
    assert states["Route"]["Default"] == "InvalidRequest" and states["InvalidRequest"]["Type"] == "Fail"
    assert states["Assess"]["Catch"][0]["Next"] == "RecordRiskCheckFailed"
    fallback = states["RecordRiskCheckFailed"]["Parameters"]
    assert (fallback["status"], fallback["reasons"]) == ("UNDER_REVIEW", ["risk check failed"])
    statuses = {states[s]["Parameters"]["status"] for s in ("Approve", "HoldForReview", "Reject")}
    assert statuses == {"APPROVED", "UNDER_REVIEW", "REJECTED"}


def test_the_withdrawal_checks_names_are_the_domains():
    """A renamed decision, status or outcome result means an updated ASL."""
    from castle.risk.fraud import Decision
    from castle.risk.withdrawals import OUTCOME_OF, OutcomeResult

    states = load(ROOT / "statemachines" / "withdrawal_fraud_check.asl.json")["States"]
    assert {rule["StringEquals"] for rule in states["Route"]["Choices"]} == {d.value for d in Decision}
    routed = {rule["StringEquals"]: rule["Next"] for rule in states["Route"]["Choices"]}
    for decision, status in OUTCOME_OF.items():
        assert states[routed[decision.value]]["Parameters"]["status"] == status.value
    done = {rule["StringEquals"] for rule in states["Recorded"]["Choices"][0]["Or"]}
    assert done == {r.value for r in OutcomeResult} - {OutcomeResult.NOT_FOUND.value}
