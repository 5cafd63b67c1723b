"""Exercise 2: the class's websockets server, summing two numbers sent as JSON."""
import asyncio
import json
import sys

import websockets


def port():
    return int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 0


async def soma(websocket):
    async for message in websocket:
        try:
            msg = json.loads(message)
            a, b = int(msg["a"]), int(msg["b"])
            await websocket.send(json.dumps({"op": "sum", "a": a, "b": b, "sum": a + b}))
        except (ValueError, KeyError, TypeError) as e:
            await websocket.send(json.dumps({"error": str(e)}))


async def main():
    async with websockets.serve(soma, "127.0.0.1", port(), max_queue=None, backlog=4096) as server:
        host, p = server.sockets[0].getsockname()[:2]
        print(f"listening on {host}:{p}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
