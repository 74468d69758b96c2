"""The sandbox's exception hierarchy.

Every error says what to do next (start the engine, build the image, raise a limit) and carries
the context that caused it; ``to_dict()`` gives the structured form the CLI prints.
"""

from __future__ import annotations

from simulator.errors import PolicyforgeError


class SandboxError(PolicyforgeError):
    """Base class of every error the sandbox raises on purpose (its text is the message alone)."""

    kind = "sandbox_error"

    def __str__(self) -> str:
        return self.message


class EngineUnavailable(SandboxError):
    """No Docker engine answers, and none could be started here."""

    kind = "engine_unavailable"


class ImageError(SandboxError):
    """Building the sandbox image failed (base bootstrap, wheel download, docker build)."""

    kind = "image_error"


class ImageMissing(SandboxError):
    """The sandbox image is not built, or was built from other simulator code."""

    kind = "image_missing"


class SandboxRunError(SandboxError):
    """The engine failed while running a batch (not the policy's fault)."""

    kind = "sandbox_run_error"


class ProtocolError(SandboxError):
    """What came back from the sandbox is not a well-formed result."""

    kind = "protocol_error"


class ExecutorError(SandboxError):
    """The execution engine cannot be used (a Ray cluster that does not answer, bad workers)."""

    kind = "executor_error"


class NodeMismatch(ExecutorError):
    """A Ray node's sandbox differs from the driver's, so its results are not comparable."""

    kind = "node_mismatch"
