"""Adapters: the only place where castle talks to infrastructure (Redis, AWS).

The domain modules beside this package import none of it; each adapter here
implements a small port from `castle.adapters.ports`.
"""
