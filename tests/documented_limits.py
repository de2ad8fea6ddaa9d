"""The sandbox's limits and the intake's bounds as docs/security.md states them, read from its text:
the tests compare what the code applies with what the documentation promises, so that a limit
changed or loosened in the code alone fails a test."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gankit import ROOT


@dataclass(frozen=True)
class DocumentedLimits:
    kernel_memory_mb: int
    checks_memory_mb: int
    max_processes: int
    scratch_mb: int
    cpu_seconds: int
    open_files: int
    kernel_open_files: int
    file_mb: int
    reply_mb: int


def _number(pattern: str, text: str) -> tuple[int, ...]:
    match = re.search(pattern, text)
    assert match, f"docs/security.md no longer says {pattern!r}"
    return tuple(int(group) for group in match.groups())


def documented_limits() -> DocumentedLimits:
    """The numbers of the sandbox's guarantees in docs/security.md."""
    text = " ".join((ROOT / "docs" / "security.md").read_text().split())
    kernel_gib, checks_gib = _number(
        r"memory of all its processes together \((\d+) GiB for a kernel, (\d+) GiB for", text
    )
    (processes,) = _number(r"Processes and threads \((\d+),", text)
    (scratch,) = _number(r"a (\d+) MiB tmpfs at `/tmp`", text)
    (cpu,) = _number(r"per process: address space \(the sandbox's memory\), CPU time \((\d+) s\)", text)
    files, kernel_files = _number(r"open files \((\d+), and (\d+) for a kernel", text)
    (file_mb,) = _number(r"file size \((\d+) MiB\), and no core files", text)
    (reply_mb,) = _number(r"only while at most (\d+) MiB of it have arrived without its line's end", text)
    return DocumentedLimits(
        kernel_gib * 1024, checks_gib * 1024, processes, scratch, cpu, files, kernel_files, file_mb, reply_mb
    )


@dataclass(frozen=True)
class DocumentedBounds:
    files: int
    depth: int
    entries: int
    folder_entries: int
    named: int
    notebook_values: int
    notebook_depth: int
    metadata_bytes: int


def documented_bounds() -> DocumentedBounds:
    """The numbers of the intake's bounds on one submission in docs/security.md."""
    text = " ".join((ROOT / "docs" / "security.md").read_text().split()).replace(",", "")
    (files,) = _number(r"The number of files \((\d+)\)", text)
    (depth,) = _number(r"the folder depth \((\d+)\)", text)
    entries, folder, named = _number(r"\((\d+) in all (\d+) in one folder; the first (\d+) left out are named", text)
    values, levels = _number(r"\((\d+) values (\d+) levels deep\)", text)
    (kib,) = _number(r"past (\d+) KiB an entry", text)
    return DocumentedBounds(files, depth, entries, folder, named, values, levels, kib * 1024)
