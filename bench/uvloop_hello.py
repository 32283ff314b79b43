"""The uvloop peers of bench/http_hello.ts: a keep-alive "hello world" on uvloop, the reference the HTTP
issue's speed goal is quoted against. Optional: bench/http.ts runs them when a python with uvloop is found
(UVLOOP_PYTHON, else python3).

    python3 bench/uvloop_hello.py PORT SECONDS raw|httptools

raw: a hand-written Protocol that answers every blank line that ends a head with a canned response (no
parsing at all: the ceiling of any server on one core). httptools: the same Protocol parsing each request
with httptools (llhttp in C), as uvloop's own HTTP benchmark does; the fair peer of a real HTTP server.
"""
import asyncio
import sys

from uvloop_run import run

RESPONSE = (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n'
            b'Connection: keep-alive\r\n\r\nHello, World!')
CLOSE_RESPONSE = RESPONSE.replace(b'keep-alive', b'close')


class Raw(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b''

    def data_received(self, data):
        self.buffer += data
        end = self.buffer.find(b'\r\n\r\n')
        while end >= 0:
            self.buffer = self.buffer[end + 4:]
            self.transport.write(RESPONSE)
            end = self.buffer.find(b'\r\n\r\n')


class Parsed(asyncio.Protocol):
    def connection_made(self, transport):
        import httptools
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.headers = []

    def on_url(self, url):
        self.url = url

    def on_header(self, name, value):
        self.headers.append((name, value))

    def on_message_complete(self):
        keep_alive = self.parser.should_keep_alive()
        self.transport.write(RESPONSE if keep_alive else CLOSE_RESPONSE)
        self.headers = []
        if not keep_alive:
            self.transport.close()

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except Exception:
            self.transport.close()


async def main(port, seconds, mode):
    protocol = Raw if mode == 'raw' else Parsed
    server = await asyncio.get_running_loop().create_server(protocol, '127.0.0.1', port)
    async with server:
        await asyncio.sleep(seconds)


if __name__ == '__main__':
    run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]))
