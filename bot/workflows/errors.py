"""The one error the service workflows raise: its text is the sentence every surface shows."""

from __future__ import annotations


class WorkflowError(Exception):
    """A workflow step that cannot be done now; ``str()`` says why, in the console's words."""


class WorkflowNotFound(WorkflowError, LookupError):
    """No such grant, visit or upgrade (or not one of this hospital's)."""
