"""``RealtimeClient``: the SDK's calls for Python code outside the Django process.

It speaks the public HTTP API (httpx) and the websocket protocol (websockets) with a secret
API key; subscriptions mint their own short-lived read tokens and resume with ``since`` after a
dropped connection or an expired token, so a loop over a feed loses nothing and repeats nothing.

    client = RealtimeClient("http://127.0.0.1:8000", "rr_sk_…")
    handle = client.tasks.trigger("demo-stream", {"text": "hello world"})
    for part in client.runs.subscribe_to_run(handle.id).with_streams():
        print(part.type, part.chunk if part.type != "run" else part.run.status)
"""

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets

from realtime_runs.sdk.objects import Part, RunObject
from realtime_runs.sdk.tasks import to_api_options

FINAL = {"COMPLETED", "FAILED", "CANCELED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"}


class ApiError(Exception):
    """The server refused a request: ``status`` (HTTP), ``code`` and ``message``."""

    def __init__(self, status, code, message, body=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body or {}


@dataclass
class RemoteRunHandle:
    id: str
    public_access_token: str
    is_cached: bool = False


@dataclass
class RemoteBatchHandle:
    id: str
    runs: list
    public_access_token: str


class RealtimeClient:
    def __init__(self, base_url, secret_key, timeout=30.0):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {secret_key}"},
        )
        self.tasks = _Tasks(self)
        self.runs = _Runs(self)
        self.auth = _Auth(self)

    def close(self):
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method, path, **kwargs) -> dict:
        response = self.http.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise ApiError(
                response.status_code,
                body.get("code", "error"),
                body.get("error", response.text[:200]),
                body,
            )
        return body

    @property
    def ws_url(self):
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + "/realtime/v1/ws", "", ""))


class _Tasks:
    def __init__(self, client):
        self.client = client

    def trigger(self, task_id, payload=None, **options) -> RemoteRunHandle:
        body = self.client.request(
            "POST",
            f"/api/v1/tasks/{task_id}/trigger",
            json={"payload": payload, "options": to_api_options(options)},
        )
        return RemoteRunHandle(body["id"], body["publicAccessToken"], body.get("isCached", False))

    def batch_trigger(self, task_id, items, **options) -> RemoteBatchHandle:
        shared = to_api_options(options)
        body = self.client.request(
            "POST",
            "/api/v1/tasks/batch",
            json={
                "items": [
                    {
                        "task": item.get("task", task_id),
                        "payload": item.get("payload"),
                        "options": {**shared, **to_api_options(item.get("options") or {})},
                    }
                    for item in items
                ]
            },
        )
        return RemoteBatchHandle(body["id"], body["runs"], body["publicAccessToken"])


class _Auth:
    def __init__(self, client):
        self.client = client

    def create_public_token(self, scopes, expiration_time=None, one_time_use=False) -> str:
        body = {"scopes": scopes, "oneTimeUse": one_time_use}
        if expiration_time is not None:
            body["expirationTime"] = expiration_time
        return self.client.request("POST", "/api/v1/auth/public-tokens", json=body)["token"]

    def create_trigger_public_token(self, task_ids, expiration_time=None, multiple_use=False):
        ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        return self.create_public_token(
            [f"trigger:tasks:{t}" for t in ids], expiration_time, one_time_use=not multiple_use
        )


class _Runs:
    def __init__(self, client):
        self.client = client

    def retrieve(self, run_id) -> RunObject:
        return RunObject(self.client.request("GET", f"/api/v3/runs/{run_id}"))

    def cancel(self, run_id) -> str:
        return self.client.request("POST", f"/api/v2/runs/{run_id}/cancel")["id"]

    def replay(self, run_id) -> str:
        return self.client.request("POST", f"/api/v1/runs/{run_id}/replay")["id"]

    def update_metadata(self, run_id, operations) -> dict:
        return self.client.request(
            "PUT", f"/api/v1/runs/{run_id}/metadata", json={"operations": operations}
        )["metadata"]

    def list(self, *, status=None, task_identifier=None, tag=None, page_size=100):  # noqa: A003
        """Every matching run, newest first, fetched a page at a time."""
        params = {"page[size]": page_size}
        for name, value in (("status", status), ("taskIdentifier", task_identifier), ("tag", tag)):
            if value is not None:
                params[f"filter[{name}]"] = value if isinstance(value, str) else ",".join(value)
        while True:
            page = self.client.request("GET", "/api/v1/runs", params=params)
            yield from (RunObject(item) for item in page["data"])
            if not page["pagination"]["next"]:
                return
            params["page[after]"] = page["pagination"]["next"]

    def subscribe_to_run(self, run_id, stop_on_completion=True) -> "RemoteFeed":
        return RemoteFeed(
            self.client,
            {"run": run_id, "stopOnCompletion": stop_on_completion},
            {"read": {"runs": [run_id]}},
        )

    def subscribe_to_runs_with_tag(self, tags, created_at=None, status=None) -> "RemoteFeed":
        tags = [tags] if isinstance(tags, str) else list(tags)
        message = {"tags": tags}
        if created_at is not None:
            message["createdAt"] = created_at
        if status is not None:
            message["status"] = [status] if isinstance(status, str) else list(status)
        return RemoteFeed(self.client, message, {"read": {"tags": tags}})

    def subscribe_to_batch(self, batch_id) -> "RemoteFeed":
        return RemoteFeed(self.client, {"batch": batch_id}, {"read": {"batch": [batch_id]}})


class RemoteFeed:
    """A subscription over the websocket; ``for`` and ``async for`` both work."""

    RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1, 2, 5)

    def __init__(self, client, message, scopes, parts=False):
        self.client, self.message, self.scopes, self.parts = client, message, scopes, parts

    def with_streams(self) -> "RemoteFeed":
        return RemoteFeed(self.client, {**self.message, "streams": True}, self.scopes, True)

    def __iter__(self):
        loop = asyncio.new_event_loop()
        frames = self.__aiter__()
        try:
            while True:
                try:
                    item = loop.run_until_complete(frames.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            loop.run_until_complete(frames.aclose())
            loop.close()

    async def __aiter__(self):
        versions: dict[str, int] = {}
        seqs: dict[str, int] = {}
        failures = 0
        while True:
            token = await asyncio.to_thread(self.client.auth.create_public_token, self.scopes)
            subscribe = {"type": "subscribe", "id": "s", "token": token, **self.message}
            if "run" in self.message and (versions or seqs):
                subscribe["since"] = {
                    "version": versions.get(self.message["run"], 0),
                    "streams": seqs,
                }
            try:
                async with websockets.connect(self.client.ws_url, max_size=None) as socket:
                    await socket.send(json.dumps(subscribe))
                    async for text in socket:
                        frame = json.loads(text)
                        kind = frame["type"]
                        if kind == "subscribed":
                            failures = 0
                        elif kind == "run":
                            run = frame["run"]
                            if run["version"] <= versions.get(run["id"], 0):
                                continue
                            versions[run["id"]] = run["version"]
                            obj = RunObject(run)
                            yield Part("run", obj.id, run=obj) if self.parts else obj
                        elif kind == "stream":
                            if frame["seq"] <= seqs.get(frame["stream"], 0):
                                continue
                            seqs[frame["stream"]] = frame["seq"]
                            if self.parts:
                                yield Part(
                                    frame["stream"],
                                    frame["runId"],
                                    chunk=frame["chunk"],
                                    seq=frame["seq"],
                                )
                        elif kind == "complete":
                            return
                        elif kind == "error":
                            if frame["code"] == "token_expired":
                                break  # a fresh token, and on from where we were
                            raise ApiError(
                                _STATUS.get(frame["code"], 400),
                                frame["code"],
                                frame["message"],
                                frame,
                            )
            except (OSError, websockets.ConnectionClosed):
                failures += 1
                if failures > len(self.RECONNECT_DELAYS):
                    raise
                await asyncio.sleep(self.RECONNECT_DELAYS[failures - 1])


_STATUS = {
    "not_found": 404,
    "forbidden": 403,
    "unauthorized": 401,
    "token_expired": 401,
    "invalid": 400,
    "rate_limited": 429,
}

__all__ = ["ApiError", "RealtimeClient"]
