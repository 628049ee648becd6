"""Which failures a task retries: transient ones only.

A corrupt video, a bad setting or missing weights fail the same way every time, so retrying
them only delays the report. A flaky network file system, a timeout or a GPU shared with
another job may succeed a little later, so those are retried with exponential backoff.
"""

from __future__ import annotations

from prefect.tasks import exponential_backoff

from pipeline.errors import VideoError

PERMANENT = (
    VideoError,
    ValueError,  # includes unreadable feature files and checksum mismatches
    FileNotFoundError,  # includes missing weights
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, PERMANENT):
        return False
    if type(error).__name__ == "OutOfMemoryError":  # torch.cuda's, without importing torch
        return True
    return isinstance(error, OSError)  # includes TimeoutError and ConnectionError


def retry_transient(task, task_run, state) -> bool:
    """Prefect's `retry_condition_fn`: retry when the failure's exception is transient."""
    try:
        state.result()
    except Exception as error:
        return is_transient(error)
    return False


# The options of a task that may meet a transient failure: 3 retries after about 10, 20, 40 s.
RETRY_OPTIONS = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=10),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}
