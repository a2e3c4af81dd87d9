"""The Deribit side: protocol framing, the session, the asyncio client and the simulator."""
