"""The uvloop peer of bench/echo_server.ts: the same plain Protocol echo (data_received -> transport.write)
on uvloop, the reference the network issue's speed goals are quoted against. Optional: bench/echo.ts runs it
when a python with uvloop is found (UVLOOP_PYTHON, else python3).

    python3 bench/uvloop_echo.py PORT [SECONDS]     (with SECONDS, it exits after that long)
"""
import asyncio
import sys

from uvloop_run import run


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport  # asyncio sets TCP_NODELAY on TCP transports, as we do

    def data_received(self, data):
        self.transport.write(data)


async def main(port, seconds):
    server = await asyncio.get_running_loop().create_server(Echo, '127.0.0.1', port)
    async with server:
        await asyncio.sleep(seconds)


if __name__ == '__main__':
    run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 1e9))
