"""Runnable stand-ins for what a gateway talks to, and the reference gateway itself.

``mocks.calcom`` answers as Cal.com's API does, ``mocks.sinks`` records what a
gateway posts to Slack, and ``mocks.gateway`` is the embedded default target,
startable with seeded defects. ``mocks`` may use the wire formats of
``probes`` but never its runner, observers or checks.
"""
