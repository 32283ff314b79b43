"""What the uvloop peers share: run a coroutine on uvloop, on any uvloop a machine may have."""
import asyncio

import uvloop


def run(coroutine):
    """uvloop.run() where it exists (uvloop >= 0.18); Debian bookworm's python3-uvloop is 0.17."""
    if hasattr(uvloop, 'run'):
        return uvloop.run(coroutine)
    uvloop.install()
    return asyncio.run(coroutine)
