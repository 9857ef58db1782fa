"""Risk: the checks that stand between a request and the money moving.

`fraud` scores a withdrawal (pure rules); `withdrawals` holds the statuses a
withdrawal goes through and the ports its adapters implement.
"""
