"""Accounts as Binance shows them: commission rates and `GET /api/v3/account`.

Rates are integers in units of 1e-8 (RATE_UNIT), so 0.1 % is 100_000, and
print as Binance's 8-decimal strings ("0.00100000"). Binance's older integer
fields (`makerCommission`: 10 for 0.1 %) are the rate in basis points.
Balances come from the ledger in units of 1e-8 of each asset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from castle.money import format_units

RATE_UNIT = 10**8
RATE_SCALE = 8
BALANCE_SCALE = 8  # the ledger keeps every asset in 1e-8 units
DEFAULT_MAKER = 100_000  # 0.1 %, Binance's default
DEFAULT_TAKER = 100_000
FIRST_ACCOUNT_ID = 100_001  # ids below are left to fixtures and system use


@dataclass(frozen=True, slots=True)
class Commission:
    """Per-account fee rates in 1e-8 units (maker, taker; buyer and seller are extra rates, 0 here)."""

    maker: int = DEFAULT_MAKER
    taker: int = DEFAULT_TAKER
    buyer: int = 0
    seller: int = 0

    def rates(self) -> dict[str, str]:
        """Binance's `commissionRates` object."""
        return {
            "maker": format_units(self.maker, RATE_SCALE),
            "taker": format_units(self.taker, RATE_SCALE),
            "buyer": format_units(self.buyer, RATE_SCALE),
            "seller": format_units(self.seller, RATE_SCALE),
        }


def basis_points(rate: int) -> int:
    return rate * 10_000 // RATE_UNIT


@dataclass(frozen=True, slots=True)
class AccountProfile:
    account_id: int
    created_at: int
    commission: Commission = Commission()
    can_trade: bool = True
    can_withdraw: bool = True
    can_deposit: bool = True
    update_time: int = 0


def account_info(profile: AccountProfile, balances: Mapping[str, tuple[int, int]], omit_zero: bool = False) -> dict:
    """`GET /api/v3/account`, in Binance's shape and field order."""
    c = profile.commission
    rows = [
        {"asset": asset, "free": format_units(free, BALANCE_SCALE), "locked": format_units(locked, BALANCE_SCALE)}
        for asset, (free, locked) in sorted(balances.items())
        if not (omit_zero and free == 0 and locked == 0)
    ]
    return {
        "makerCommission": basis_points(c.maker),
        "takerCommission": basis_points(c.taker),
        "buyerCommission": basis_points(c.buyer),
        "sellerCommission": basis_points(c.seller),
        "commissionRates": c.rates(),
        "canTrade": profile.can_trade,
        "canWithdraw": profile.can_withdraw,
        "canDeposit": profile.can_deposit,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": profile.update_time or profile.created_at,
        "accountType": "SPOT",
        "balances": rows,
        "permissions": ["SPOT"],
        "uid": profile.account_id,
    }


def commission_info(symbol: str, commission: Commission) -> dict:
    """`GET /api/v3/account/commission`: standard rates, no tax, no BNB discount."""
    zero = format_units(0, RATE_SCALE)
    return {
        "symbol": symbol,
        "standardCommission": commission.rates(),
        "specialCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "taxCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
        "discount": {
            "enabledForAccount": False,
            "enabledForSymbol": False,
            "discountAsset": "BNB",
            "discount": "0.75000000",
        },
    }
