"""One JSON-RPC call over WebSocket, printed as JSON (run inside the test bed's namespace).

Usage: rpc_client.py URL METHOD PARAMS_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from websockets.asyncio.client import connect


async def call(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    async with connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        while True:
            # Notifications (subscriptions, heartbeats) may come first; the answer has our id.
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message.get("id") == 1:
                return message


if __name__ == "__main__":
    url, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    print(json.dumps(asyncio.run(call(url, method, params))))
