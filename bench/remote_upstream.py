"""A stand-in for a central server on another machine, for ``bench/agent.py --upstream remote``.

An edge agent forwards to a server elsewhere: the server's work (decoding every image again, storing it,
indexing the events) is not done on the edge box. Running the real ``sightlog serve`` beside the agent on
the same two cores measures the agent *and* the server. This process answers the three calls the agent's
forwarder makes, exactly as the server would shape them, at the cost of reading the request and writing a
small JSON answer — so the figure it gives is what the agent itself can sustain while it forwards.

    POST /                       {"workspace": "bench"}
    POST /vision-events/upload   201 {"success": true, "sourceId": ..., "url": ...}   (bytes counted)
    POST /vision-events/batch    201 {"created": n, "eventIds": [...]}                (events counted)
    GET  /stats                  {"images": n, "imageBytes": n, "events": n}

Run: ``python bench/remote_upstream.py PORT`` (a raw ASGI app under uvicorn; no framework, on purpose).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

totals = {"images": 0, "imageBytes": 0, "events": 0}


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = await _body(receive)
    route = (scope["method"], scope["path"])
    if route == ("POST", "/"):
        await _answer(send, 200, {"workspace": "bench"})
    elif route == ("POST", "/vision-events/upload"):
        totals["images"] += 1
        totals["imageBytes"] += len(body)
        source_id = uuid.uuid4().hex
        url = f"/vision-events/images/{source_id}"
        await _answer(send, 201, {"success": True, "sourceId": source_id, "url": url})
    elif route == ("POST", "/vision-events/batch"):
        ids = [event["eventId"] for event in orjson.loads(body)["events"]]
        totals["events"] += len(ids)
        await _answer(send, 201, {"created": len(ids), "eventIds": ids})
    elif route == ("GET", "/stats"):
        await _answer(send, 200, totals)
    else:
        await _answer(send, 404, {"error": {"code": "not_found", "message": f"No route {route}."}})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
