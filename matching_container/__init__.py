"""The matching engine container: one single-threaded shard runner per process."""
