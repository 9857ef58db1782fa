"""DynamoSubscriptions: the WebSocket connections and their streams, in the ConnectionsTable.

One partition per connection, so $disconnect and LIST_SUBSCRIPTIONS are one
query each:

    PK CONN#<connectionId>  SK META              Combined, ConnectedAt, ExpiresAt
    PK CONN#<connectionId>  SK STREAM#<stream>   Stream, ConnectionId, ExpiresAt

The stream items alone carry `Stream`, so the sparse GSI SubscribersByStream
(Stream, ConnectionId) answers the publisher's question: who listens to
`btcusdt@depth`? ExpiresAt is the table's TTL: Binance ends a connection after
24 hours, so anything older is a connection whose $disconnect never arrived.

Binance's rate limits keep their counters here too (the WebSocket function runs
outside the VPC, so ElastiCache is out of its reach; DynamoDB is in both clouds):

    PK CONN#<connectionId>  SK META              MsgWindow, MsgCount    (messages per second)
    PK IP#<address>         SK CONNECTS#<window> Attempts, ExpiresAt    (connects per 5 minutes)
"""

from __future__ import annotations

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from castle.streams import Session

CONNECTION_LIFETIME_S = 24 * 3600 + 600
SUBSCRIBERS_INDEX = "SubscribersByStream"
USER_STREAM_PREFIX = "listenKey@"


def user_stream(listen_key: str) -> str:
    return USER_STREAM_PREFIX + listen_key


class DynamoSubscriptions:
    def __init__(self, table) -> None:
        """`table`: a boto3 `dynamodb.Table` resource for the ConnectionsTable."""
        self.table = table

    @staticmethod
    def _pk(connection_id: str) -> str:
        return f"CONN#{connection_id}"

    def _stream_item(self, connection_id: str, stream: str, expires_at: int) -> dict:
        return {
            "PK": self._pk(connection_id),
            "SK": f"STREAM#{stream}",
            "Stream": stream,
            "ConnectionId": connection_id,
            "ExpiresAt": expires_at,
        }

    def open(self, connection_id: str, streams: list[str], combined: bool, now_s: int) -> None:
        expires_at = now_s + CONNECTION_LIFETIME_S
        with self.table.batch_writer() as batch:
            batch.put_item(
                Item={
                    "PK": self._pk(connection_id),
                    "SK": "META",
                    "Combined": combined,
                    "ConnectedAt": now_s,
                    "ExpiresAt": expires_at,
                }
            )
            for stream in streams:
                batch.put_item(Item=self._stream_item(connection_id, stream, expires_at))

    def open_user_stream(self, connection_id: str, listen_key: str, now_s: int, combined: bool = False) -> None:
        """A `/ws/<listenKey>` (or `/stream?streams=<listenKey>`, combined) connection: its user data stream,
        found by the publisher as `listenKey@<key>`.

        The item's SK is not STREAM#, so LIST_SUBSCRIPTIONS does not list it.
        """
        self.open(connection_id, [], combined, now_s)
        self.table.put_item(Item={
            "PK": self._pk(connection_id),
            "SK": f"USER#{listen_key}",
            "Stream": user_stream(listen_key),
            "ConnectionId": connection_id,
            "ExpiresAt": now_s + CONNECTION_LIFETIME_S,
        })

    def _items(self, connection_id: str) -> list[dict]:
        items, kwargs = [], {"KeyConditionExpression": Key("PK").eq(self._pk(connection_id)), "ConsistentRead": True}
        while True:
            page = self.table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def close(self, connection_id: str) -> None:
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in self._items(connection_id)]
        with self.table.batch_writer() as batch:
            for key in keys:
                batch.delete_item(Key=key)

    def session(self, connection_id: str) -> Session:
        items = self._items(connection_id)
        meta = next((i for i in items if i["SK"] == "META"), {})
        streams = tuple(i["Stream"] for i in items if i["SK"].startswith("STREAM#"))
        return Session(streams, bool(meta.get("Combined", False)))

    def apply(
        self, connection_id: str, subscribe: list[str], unsubscribe: list[str], combined: bool | None, now_s: int
    ) -> None:
        expires_at = now_s + CONNECTION_LIFETIME_S
        if subscribe or unsubscribe:
            with self.table.batch_writer() as batch:
                for stream in subscribe:
                    batch.put_item(Item=self._stream_item(connection_id, stream, expires_at))
                for stream in unsubscribe:
                    batch.delete_item(Key={"PK": self._pk(connection_id), "SK": f"STREAM#{stream}"})
        if combined is not None:
            self.table.update_item(
                Key={"PK": self._pk(connection_id), "SK": "META"},
                UpdateExpression="SET Combined = :c",
                ExpressionAttributeValues={":c": combined},
            )

    def snapshot(self) -> tuple[dict[str, list[str]], dict[str, bool]]:
        """Every subscription (stream -> connection ids) and every connection's `combined`, in one scan.

        The market-data publisher refreshes its routing table with this twice a
        second: one paginated scan instead of a query per candidate stream.
        """
        streams: dict[str, list[str]] = {}
        combined: dict[str, bool] = {}
        kwargs: dict = {
            "ProjectionExpression": "PK, SK, #s, ConnectionId, Combined",
            "ExpressionAttributeNames": {"#s": "Stream"},  # a reserved word
        }
        while True:
            page = self.table.scan(**kwargs)
            for item in page.get("Items", []):
                if item["SK"] == "META":
                    combined[item["PK"][len("CONN#"):]] = bool(item.get("Combined", False))
                elif "Stream" in item:
                    streams.setdefault(item["Stream"], []).append(item["ConnectionId"])
            if "LastEvaluatedKey" not in page:
                return streams, combined
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def subscribers(self, stream: str) -> list[str]:
        ids, kwargs = [], {"IndexName": SUBSCRIBERS_INDEX, "KeyConditionExpression": Key("Stream").eq(stream)}
        while True:
            page = self.table.query(**kwargs)
            ids.extend(i["ConnectionId"] for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count_message(self, connection_id: str, window: int) -> int:
        """Count one incoming message in `window`; the window's count so far, this one included.

        Two conditional updates of the META item: add one while the stored window
        is this one, else start this window at one (when the stored one is older).
        Concurrent messages of one connection race only on the switch, and the
        loser retries. 0 when the connection is unknown (no META): nothing to limit.
        """
        key = {"PK": self._pk(connection_id), "SK": "META"}
        for _ in range(3):
            try:
                page = self.table.update_item(
                    Key=key,
                    UpdateExpression="ADD MsgCount :one",
                    ConditionExpression="MsgWindow = :w",
                    ExpressionAttributeValues={":one": 1, ":w": window},
                    ReturnValues="UPDATED_NEW",
                )
                return int(page["Attributes"]["MsgCount"])
            except ClientError as e:
                if not _condition_failed(e):
                    raise
            try:
                self.table.update_item(
                    Key=key,
                    UpdateExpression="SET MsgWindow = :w, MsgCount = :one",
                    ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(MsgWindow) OR MsgWindow < :w)",
                    ExpressionAttributeValues={":one": 1, ":w": window},
                )
                return 1
            except ClientError as e:
                if not _condition_failed(e):
                    raise
        return 0

    def count_connect(self, address: str, window: int, expires_at: int) -> int:
        """Count one connection attempt from `address` in `window`; the count, this one included."""
        page = self.table.update_item(
            Key={"PK": f"IP#{address}", "SK": f"CONNECTS#{window}"},
            UpdateExpression="ADD Attempts :one SET ExpiresAt = :e",
            ExpressionAttributeValues={":one": 1, ":e": expires_at},
            ReturnValues="UPDATED_NEW",
        )
        return int(page["Attributes"]["Attempts"])


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
