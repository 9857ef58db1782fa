"""The withdrawal check's part of the settings, and its ports (built by castle.adapters.bootstrap)."""

from __future__ import annotations

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
    def of(cls, settings) -> WithdrawalSettings:
        """From the one castle.adapters.bootstrap.Settings."""
        return cls(settings.withdrawals_table, settings.accounts_table, settings.faults)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WithdrawalSettings:
        from castle.adapters.bootstrap import Settings

        return cls.of(Settings.from_env(env))


@dataclass(frozen=True, slots=True)
class WithdrawalPorts:
    settings: WithdrawalSettings
    accounts: AccountDirectory
    withdrawals: WithdrawalStore


def bootstrap() -> WithdrawalPorts:
    from castle.adapters.bootstrap import adapters

    return adapters().withdrawal_ports
