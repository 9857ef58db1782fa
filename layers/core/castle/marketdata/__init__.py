"""Market data: the projection of the engine's events (trades, aggTrades, klines) and Binance's views of it."""
