"""USDⓈ-M perpetual futures: the pure core (contracts, brackets, positions, margin, mark price, funding).

Every amount is an `int` of 1e-8 units, as in `castle.money`: prices in USDT
units per whole base unit, quantities in base units, notionals, margins and
PnL in USDT units. Rates (maintenance margin ratio, funding rate, percent-price
multipliers) are `int`s of 1e-8 too (`RATE_ONE` is 1). Each module says which
way it rounds; the rule across the package is that a figure a trader can spend
or receive is rounded down, and a figure the trader owes or must hold is
rounded up, so rounding never creates money.
"""
