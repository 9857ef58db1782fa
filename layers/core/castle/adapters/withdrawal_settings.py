"""The withdrawal check's configuration, read once from the environment, and its wiring."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from castle.risk.withdrawals import AccountDirectory, WithdrawalStore

# The fault hook (CASTLE_FAULTS=on, from the template's FaultInjection parameter,
# default off): the risk function then fails on purpose for a withdrawal to this
# address, so the state machine's Retry and Catch can be run end to end on the
# local cloud. No real address looks like it, and in AWS the hook is off.
FAULT_ADDRESS = "castle-fault:risk-check"


@dataclass(frozen=True, slots=True)
class WithdrawalSettings:
    withdrawals_table: str
    accounts_table: str
    faults: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WithdrawalSettings:
        return cls(
            withdrawals_table=env["WITHDRAWALS_TABLE"],
            accounts_table=env["ACCOUNTS_TABLE"],
            faults=env.get("CASTLE_FAULTS", "off") == "on",
        )


@dataclass(frozen=True, slots=True)
class WithdrawalPorts:
    settings: WithdrawalSettings
    accounts: AccountDirectory
    withdrawals: WithdrawalStore


def bootstrap(settings: WithdrawalSettings | None = None) -> WithdrawalPorts:
    from castle.adapters.dynamo_accounts import DynamoAccountDirectory
    from castle.adapters.dynamo_withdrawals import DynamoWithdrawals

    settings = settings or WithdrawalSettings.from_env()
    return WithdrawalPorts(
        settings,
        DynamoAccountDirectory(settings.accounts_table),
        DynamoWithdrawals(settings.withdrawals_table),
    )
