"""Load for the kill test, run as its own process: ``python _sender.py URL KEY OUT SECONDS``.

Sends single events and small batches from 16 concurrent tasks and appends the id of every
acknowledged (2xx) event to OUT, until SECONDS pass or the server has gone for a while.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta


async def main(url: str, key: str, out: str, seconds: float) -> None:
    import httpx

    acked = open(out, "a", buffering=1)  # noqa: SIM115 - line-buffered log of acks
    stop = time.monotonic() + seconds
    ts = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    failures = 0

    async def worker(i: int, client: httpx.AsyncClient) -> None:
        nonlocal failures
        n = 0
        while time.monotonic() < stop and failures < 200:
            n += 1
            size = 1 if n % 3 else 25
            events = [
                {
                    "event_id": f"k{i}-{n}-{j}-{uuid.uuid4().hex[:6]}",
                    "customer_id": f"C{(i * 7919 + n * 31 + j) % 400:07d}",
                    "ts": ts,
                    "type": "purchase" if j % 2 == 0 else "page_view",
                    "properties": {"amount": 10.0 + j, "category": "garden"} if j % 2 == 0 else {},
                }
                for j in range(size)
            ]
            body = events[0] if size == 1 else {"events": events}
            try:
                r = await client.post("/v1/events", json=body)
            except httpx.HTTPError:
                failures += 1
                await asyncio.sleep(0.01)
                continue
            if 200 <= r.status_code < 300:
                acked.write("".join(json.dumps(e) + "\n" for e in events))

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        await asyncio.gather(*(worker(i, client) for i in range(16)))
    acked.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
