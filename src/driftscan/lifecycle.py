"""How a scan stops when it does not complete, shared by the local and the forge runner.

SIGINT and SIGTERM become ScanInterrupted (the scan is stored as far as it got, marked
`incomplete`, resumable); anything else marks it `failed` with a one-line reason. Either way no
scan is left `running` by a process that is still alive to say otherwise (a process that dies
without a word leaves a lease that lapses: store/queries.py shows it `interrupted`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

from driftscan.models import RepoResult
from driftscan.store.queries import LeaseLost, Store, StoreError


class ScanInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a scan. A KeyboardInterrupt, so every Ctrl-C handler
    applies; `exit_code` is the shell's 128 + signal number (130, 143)."""

    def __init__(self, signum: int, message: str | None = None) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(message or f"interrupted by {signal.Signals(signum).name}")


@contextmanager
def interrupt_signals() -> Iterator[None]:
    """While scanning, SIGINT and SIGTERM raise ScanInterrupted (SIGTERM would otherwise kill
    the process on the spot, leaving the scan `running` and its workers behind). Raised once:
    a repeated signal is ignored while the first is handled, so that storing what finished
    and stopping the workers is not cut short. A signal ignored by the caller (nohup) stays
    ignored; outside the main thread nothing changes (Python delivers signals there only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise ScanInterrupted(signum)

    previous = {
        sig: signal.signal(sig, handler)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_interrupted(
    store: Store, scan_id: int, exc: KeyboardInterrupt, stored: int, total: int
) -> ScanInterrupted:
    """Mark a scan stopped by SIGINT/SIGTERM `incomplete`; the exception to raise for it."""
    signum = exc.signum if isinstance(exc, ScanInterrupted) else int(signal.SIGINT)
    note = (
        f"interrupted by {signal.Signals(signum).name}; rerun with --resume to finish "
        f"({stored} of {total} repositories stored)"
    )
    _finish_quietly(store, scan_id, "incomplete", note)
    return ScanInterrupted(signum, f"scan #{scan_id} {note}")


def stop_failed(store: Store, scan_id: int, exc: Exception) -> None:
    """Mark a scan that anything else stopped `failed`, with a one-line reason."""
    if isinstance(exc, LeaseLost):
        return  # another process owns the scan now: its status is not ours to set
    if isinstance(exc, StoreError):
        reason = str(exc)
    else:
        reason = f"internal error {type(exc).__name__}: {_one_line(exc)}"
    _finish_quietly(store, scan_id, "failed", f"failed: {reason}")


def _finish_quietly(store: Store, scan_id: int, status: str, note: str) -> None:
    # Already failing: the first error is the one to report. Should this write fail too, the
    # lease lapses and the scan shows `interrupted`, never `running`.
    with suppress(StoreError):
        store.finish_scan(scan_id, status, note)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def unanswered_note(unanswered: list[RepoResult], who: str) -> str:
    """Why a scan that stored every repository is still not complete: `who` (a forge, git)
    gave no answer for part of some. Not a refusal (that is a repository's recorded error):
    what these repositories hold is unknown until they are read again."""
    first = unanswered[0]
    return (
        f"{len(unanswered)} repositories not fully read: {who} gave no answer (first: "
        f"{first.name}: {unanswered_reason(first)}); run the same command with --resume to "
        "read them again"
    )


def unanswered_reason(result: RepoResult) -> str:
    """Why a repository is unanswered: its error, else its first unanswered read."""
    if result.error:
        return result.error
    unread = [p.reason for p in result.problems if p.reason.startswith("not read (no answer)")]
    return unread[0] if unread else "no answer"
