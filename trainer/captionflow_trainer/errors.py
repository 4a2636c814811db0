"""Errors with the stable codes of captionflow's `PipelineError` (schemas/errors.ts).

The trainer runs as a child process of the training topology; on failure it prints one
`{"event":"error","code":...}` line, so the TS side can rebuild a PipelineError with the
same code and retriable flag.
"""

from __future__ import annotations


class TrainerError(Exception):
    """A failure with a stable captionflow error code."""

    def __init__(self, code: str, message: str, *, retriable: bool = False, context: dict[str, object] | None = None):
        super().__init__(message)
        self.code = code
        self.retriable = retriable
        self.context = context or {}

    def to_event(self) -> dict[str, object]:
        return {
            "event": "error",
            "code": self.code,
            "message": str(self),
            "retriable": self.retriable,
            "context": self.context,
        }


# The subset of schemas/errors.ts ErrorCodes the trainer raises.
CONFIG_INVALID = "CONFIG_INVALID"
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
IMAGE_DECODE_FAILED = "IMAGE_DECODE_FAILED"
MODEL_LOAD_FAILED = "MODEL_LOAD_FAILED"
MODEL_INVALID = "MODEL_INVALID"
TRAINING_FAILED = "TRAINING_FAILED"
INTERNAL = "INTERNAL"
