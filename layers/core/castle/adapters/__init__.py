"""Adapters: the only place where castle talks to infrastructure (Redis, AWS).

The domain modules beside this package import none of it (tests/unit/test_domain_purity.py);
each adapter implements a port that the domain defines beside the code that uses it
(`castle.journal`, `castle.trading`, `castle.settle_events`, `castle.risk.withdrawals`), and
`castle.adapters.bootstrap` is the one place that builds them.
"""
