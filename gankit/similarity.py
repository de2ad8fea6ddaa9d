"""Pairs of students whose submitted code is unusually alike, ranked for a human to look at.

The fingerprints are copydetect's (winnowed k-gram hashes, the MOSS algorithm), taken per answer
cell in two channels: ``structure``, copydetect's filtered tokens (names become ``V``, strings
``S``, comments and layout vanish), so renamed variables and moved lines still match; and
``text``, the characters as typed, so the same odd names and comments match. A third channel,
``checks``, holds the hidden checks a student failed with the mistake diagnosed (the verdicts the
kit wrote into the autograded notebook). The release's own code in each cell counts for nothing:
its lines are blanked before fingerprinting (so no k-gram straddles the signature and the
student's first line), and its fingerprints are copydetect's boilerplate.

On short mathematical functions most correct answers are alike, so sharing what many students
wrote proves nothing. A feature held by ``df`` of the class's ``N`` students weighs
``log(L / (df - 1))``, clipped at 0, with ``L = max(RARE_SHARE * (N - 1), 2)``: the surprise of
finding it in a second student once one has it, beyond what a feature that a fifth of the class has
gives. What more than a fifth of the class wrote (the textbook formula, the release's names) weighs
nothing; what only the two share (the same odd names, comments, unusual mistake) weighs most. A
pair's score is the sum of the weights of the features both have.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from pathlib import Path

import numpy as np
from scipy import sparse

from gankit import ASSIGNMENT, NOTEBOOKS, notebooks
from gankit.nbgrader_adapter.hidden_checks import VERDICTS_KEY

# k-gram lengths and winnowing windows, sized for functions of a few lines: a filtered line such
# as "V=V.V(V,V=V)" is about 12 characters, so k = 10 keeps most lines' own k-grams whole when a
# copier moves lines around; the raw text's k is longer, as spaces and full names count there.
STRUCTURE_K, STRUCTURE_WINDOW = 10, 2
TEXT_K, TEXT_WINDOW = 16, 3
# A feature held by more than this share of the class counts for nothing (the common way to write it).
RARE_SHARE = 0.2


@dataclass(frozen=True)
class Work:
    """What one student handed in, as the detector reads it: the code of each answer cell (by grade
    id) and the hidden checks they failed, as (notebook, check, diagnosed mistake or "")."""

    student_id: str
    cells: Mapping[str, str]
    failed: frozenset[tuple[str, str, str]] = frozenset()


@dataclass
class Pair:
    """Two students and the evidence that their work is alike."""

    a: str
    b: str
    score: float
    cells: list[str] = field(default_factory=list)  # answer cells holding rare shared features, heaviest first
    rare: int = 0  # shared features that weigh anything (held by at most about RARE_SHARE of the class)
    same_failures: list[str] = field(default_factory=list)  # failed checks both share, rarest first
    unusual: float = 0.0  # standard deviations above the mean of all the class's pairs


@dataclass
class Ranking:
    """The class's most alike pairs, with what the pair views need to mark matched parts."""

    students: int
    pairs: list[Pair]
    fingerprints: dict[str, dict[tuple[str, str], Fingerprint]]  # student -> (channel, cell) -> prints
    weights: dict[tuple, float]  # feature -> weight, for features held by two or more students
    codes: dict[str, Mapping[str, str]]
    release: Mapping[str, str] = field(default_factory=dict)


def release_lines(code: str, release: str) -> np.ndarray:
    """A mask over ``code``'s characters: True on every line that the release's cell also has."""
    given = {line.strip() for line in release.splitlines() if line.strip()}
    return np.array(
        [
            flag
            for line in code.splitlines(keepends=True)
            for flag in [bool(line.strip()) and line.strip() in given] * len(line)
        ],
        dtype=bool,
    )


def own_code(code: str, release: str) -> str:
    """``code`` with every line that the release's cell also has blanked out (spaces, so positions
    still point into the code as typed)."""
    mask = release_lines(code, release)
    return "".join(
        " " if blank and character != "\n" else character for character, blank in zip(code, mask, strict=True)
    )


@dataclass(frozen=True)
class Fingerprint:
    """One answer cell's winnowed fingerprints, with the attributes of copydetect's
    ``CodeFingerprint`` that the ranking and the pair pages read."""

    raw_code: str
    filtered_code: str
    offsets: np.ndarray  # copydetect's: characters filtering removed, to map positions back
    hashes: frozenset[int]
    hash_idx: dict[int, list[int]]  # fingerprint -> where it starts in the filtered code
    k: int


def kgram_hashes(text: str, k: int) -> np.ndarray:
    """A fixed 64-bit hash of every ``k``-character substring of ``text``. copydetect uses Python's
    ``hash()``, which each process seeds afresh: winnowing keeps each window's smallest hash, so the
    fingerprints kept, and every score, changed from run to run (a report that could not be
    reproduced, and a flaky test)."""
    return np.array(
        [
            int.from_bytes(blake2b(text[i : i + k].encode(), digest_size=8).digest(), "big", signed=True)
            for i in range(len(text) - k + 1)
        ],
        dtype=np.int64,
    )


def _fingerprint(code: str, channel: str, boilerplate: Sequence[int] = ()) -> Fingerprint:
    """copydetect's fingerprinting (its filter and winnowing), with ``kgram_hashes``; fingerprints
    in ``boilerplate`` are dropped wherever they occur."""
    from copydetect.utils import filter_code, winnow  # copydetect imports pyplot: only when fingerprinting

    k, window = (STRUCTURE_K, STRUCTURE_WINDOW) if channel == "structure" else (TEXT_K, TEXT_WINDOW)
    filtered, offsets = filter_code(code, "answer.py", "python") if channel == "structure" else (code, np.array([]))
    hashes, idx = winnow(kgram_hashes(filtered, k), window, remove_duplicates=False)
    keep = ~np.isin(hashes, np.asarray(boilerplate, dtype=np.int64))
    hash_idx: dict[int, list[int]] = {}
    for value, start in zip(hashes[keep].tolist(), idx[keep].tolist(), strict=True):
        hash_idx.setdefault(value, []).append(start)
    return Fingerprint(code, filtered, offsets, frozenset(hash_idx), hash_idx, k)


class Fingerprints:
    """The fingerprints of answer cells, the release's own code (each cell's stub) removed."""

    CHANNELS = ("structure", "text")

    def __init__(self, release: Mapping[str, str]):
        self.release = dict(release)
        self._seen: dict[tuple[str, str, str], Fingerprint] = {}  # many students write the same cell
        self._boilerplate = {
            (channel, grade_id): sorted(_fingerprint(code, channel).hashes)
            for grade_id, code in release.items()
            for channel in self.CHANNELS
        }

    def of(self, work: Work) -> dict[tuple[str, str], Fingerprint]:
        """(channel, grade id) -> fingerprint, for each cell the student changed from the release."""
        found = {}
        for grade_id, code in work.cells.items():
            if not code.strip() or code.strip() == self.release.get(grade_id, "").strip():
                continue  # left as released: nothing of the student's in it
            for channel in self.CHANNELS:
                key = (channel, grade_id, code)
                if key not in self._seen:
                    own = own_code(code, self.release.get(grade_id, ""))
                    self._seen[key] = _fingerprint(own, channel, self._boilerplate.get((channel, grade_id), ()))
                found[(channel, grade_id)] = self._seen[key]
        return found


def weight(df: int, students: int) -> float:
    """The weight of a feature that ``df`` of ``students`` hold (see the module's docstring)."""
    if df < 2:
        return 0.0  # nobody shares it
    return max(0.0, math.log(max(RARE_SHARE * (students - 1), 2.0) / (df - 1)))


def rank(release: Mapping[str, str], works: Sequence[Work], top: int = 50) -> Ranking:
    """The ``top`` most alike pairs of ``works``, highest score first (see the module's docstring)."""
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # copydetect warns per file
    printer = Fingerprints(release)
    prints = {work.student_id: printer.of(work) for work in works}
    ids = [work.student_id for work in works]
    rows: list[list[tuple]] = []
    for work in works:
        features = {
            (channel, grade_id, h) for (channel, grade_id), fp in prints[work.student_id].items() for h in fp.hashes
        }
        features |= {("checks", *failure) for failure in work.failed}
        rows.append(sorted(features, key=repr))
    column: dict[tuple, int] = {}
    indices, pointers = [], [0]
    for features in rows:
        indices += [column.setdefault(feature, len(column)) for feature in features]
        pointers.append(len(indices))
    n = len(ids)
    held = sparse.csr_matrix((np.ones(len(indices)), indices, pointers), shape=(n, len(column)))
    df = np.asarray(held.sum(axis=0)).ravel()
    w = np.array([weight(int(d), n) for d in df])
    scores = (held @ sparse.diags(w) @ held.T).toarray() if n else np.zeros((0, 0))
    upper = np.triu_indices(n, k=1)
    values = scores[upper]
    order = np.argsort(-values, kind="stable")[:top]
    mean = float(np.mean(values)) if len(values) else 0.0
    spread = float(np.std(values)) if len(values) else 0.0
    names = {index: feature for feature, index in column.items()}
    pairs = []
    for position in order:
        i, j = int(upper[0][position]), int(upper[1][position])
        shared = held[i].multiply(held[j]).indices
        per_cell: dict[str, float] = {}
        failures = []
        rare = 0
        for index in shared:
            feature = names[index]
            rare += w[index] > 0
            if feature[0] == "checks":
                failures.append((df[index], f"{feature[1]}: {feature[2]}" + (f" ({feature[3]})" if feature[3] else "")))
            elif w[index] > 0:
                per_cell[feature[1]] = per_cell.get(feature[1], 0.0) + w[index]
        pairs.append(
            Pair(
                ids[i],
                ids[j],
                float(values[position]),
                sorted(per_cell, key=lambda cell: -per_cell[cell]),
                int(rare),
                [text for _, text in sorted(failures)],
                (float(values[position]) - mean) / spread if spread else 0.0,
            )
        )
    weights = {names[index]: float(w[index]) for index in range(len(column)) if df[index] >= 2}
    codes = {work.student_id: work.cells for work in works}
    return Ranking(n, pairs, prints, weights, codes, dict(release))


def matched_slices(ranking: Ranking, pair: Pair, grade_id: str, rare: bool) -> tuple[np.ndarray, np.ndarray]:
    """Where, in each student's code of ``grade_id``, the features the pair shares lie: (starts,
    ends) arrays in characters of the code as typed; ``rare`` chooses the features that weigh
    anything, else the common ones, which weigh nothing."""
    from copydetect.utils import get_copied_slices

    found = []
    for student in (pair.a, pair.b):
        starts, ends = [], []
        for channel in Fingerprints.CHANNELS:
            mine = ranking.fingerprints[student].get((channel, grade_id))
            other = ranking.fingerprints[pair.b if student == pair.a else pair.a].get((channel, grade_id))
            if mine is None or other is None:
                continue
            chosen = [
                h for h in mine.hashes & other.hashes if (ranking.weights.get((channel, grade_id, h), 0.0) > 0) == rare
            ]
            if not chosen:
                continue
            idx = np.concatenate([np.array(mine.hash_idx[h]) for h in chosen])
            slices = get_copied_slices(idx, mine.k)
            if len(mine.offsets) > 0:  # filtered positions back to the code as typed (as copydetect does)
                shift = mine.offsets[:, 1][
                    np.clip(np.searchsorted(mine.offsets[:, 0], slices), 0, len(mine.offsets) - 1)
                ]
                slices = slices + shift
            starts += list(slices[0])
            ends += list(slices[1])
        found.append((np.array(starts, dtype=int), np.array(ends, dtype=int)))
    return found[0], found[1]


# -- reading a graded class -------------------------------------------------------------------------


def answer_cells(nb) -> dict[str, str]:
    """The code answer cells of a notebook, by grade id."""
    return {
        grade_id: cell.source
        for grade_id, cell in notebooks.cells_by_grade_id(nb).items()
        if cell.cell_type == "code" and notebooks.nbgrader_meta(cell).get("solution")
    }


def read_class(course: Path, assignment: str = ASSIGNMENT) -> tuple[dict[str, str], list[Work]]:
    """The release's answer cells and every graded student's work, from the autograded notebooks
    (the kit's own copies, written from the safe intake copy: a student's files are never opened)."""
    release: dict[str, str] = {}
    for name in NOTEBOOKS:
        path = course / "release" / assignment / f"{name}.ipynb"
        if path.is_file():
            release.update(answer_cells(notebooks.read(path)))
    works = []
    for folder in sorted((course / "autograded").glob(f"*/{assignment}")):
        if not folder.is_dir() or folder.is_symlink():
            continue
        cells: dict[str, str] = {}
        failed = set()
        for name in NOTEBOOKS:
            path = folder / f"{name}.ipynb"
            if not path.is_file():
                continue
            try:
                nb = notebooks.read(path)
            except (OSError, ValueError):  # the class report names it; here it is simply not compared
                continue
            answers = answer_cells(nb)
            cells.update(answers)
            if all(code.strip() == release.get(grade_id, "").strip() for grade_id, code in answers.items()):
                continue  # left as released: its failures are no one's mistakes
            for verdict in nb.metadata.get(VERDICTS_KEY, {}).values():
                for check in verdict.get("checks", []):
                    if not check.get("passed") and not check.get("internal_error"):
                        failed.add((name, str(check.get("name", "")), str(check.get("mistake") or "")))
        if cells:
            works.append(Work(folder.parent.name, cells, frozenset(failed)))
    return release, works


def rank_class(course: Path, assignment: str = ASSIGNMENT, top: int = 50) -> Ranking:
    """``rank`` over a graded course's autograded notebooks."""
    release, works = read_class(course, assignment)
    return rank(release, works, top)
