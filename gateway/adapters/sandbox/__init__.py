"""The sandbox government: a simulated China single window (e-port + customs) for development,
tests and demos. Implements the Adapter port in-process (``SandboxGovernment``, name "sandbox");
failures are scripted by business number with ``SandboxScript``.
"""
from .government import SandboxGovernment
from .script import SandboxScript, ScriptedRejection

__all__ = ["SandboxGovernment", "SandboxScript", "ScriptedRejection"]
