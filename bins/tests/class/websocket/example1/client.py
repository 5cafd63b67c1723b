import sys
import asyncio
import websockets

async def hello():
    async with websockets.connect('ws://localhost:' + (sys.argv[1] if len(sys.argv) > 1 else '8765')) as websocket:
        name = input("Qual seu nome? ")

        await websocket.send(name)
        print(f"> {name}")

        greeting = await websocket.recv()
        print(f"< {greeting}")

asyncio.get_event_loop().run_until_complete(hello())
