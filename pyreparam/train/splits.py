"""Speaker-independent cross-validation folds.

Every fold has disjoint test, validation and training speakers. Model selection
(the best epoch) looks only at the validation speakers, which are drawn from the
non-test speakers, so a test speaker is never looked at before the final evaluation.

Schemes (``--cv``):
    loso            leave one speaker out: one fold per speaker
    loso:session    leave one session (group) out, e.g. IEMOCAP's 5 sessions
    groupkfold:N    N folds of whole speakers, balanced by utterance count
    fixed           one fold: about 20 % of the speakers (at least one) for test
    fixed:A,B       one fold with the named test speakers
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Fold:
    """One split: speaker ids of each part (sorted)."""

    index: int
    test: tuple[str, ...]
    validation: tuple[str, ...]
    train: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"index": self.index, "test": list(self.test),
                "validation": list(self.validation), "train": list(self.train)}

    @classmethod
    def from_dict(cls, d: dict) -> "Fold":
        return cls(int(d["index"]), tuple(d["test"]), tuple(d["validation"]), tuple(d["train"]))


def _test_groups(scheme: str, speakers: Sequence[str], sessions: Sequence[str],
                 rng: np.random.Generator) -> list[list[str]]:
    """The test speakers of each fold."""
    counts = Counter(speakers)
    unique = sorted(counts)
    name, _, arg = scheme.partition(":")
    if name == "loso" and arg in ("", "speaker"):
        return [[s] for s in unique]
    if name == "loso" and arg == "session":
        if not all(sessions):
            raise ValueError("--cv loso:session needs a session for every utterance")
        by_session: dict[str, set[str]] = {}
        for spk, ses in zip(speakers, sessions):
            by_session.setdefault(ses, set()).add(spk)
        return [sorted(by_session[s]) for s in sorted(by_session)]
    if name == "groupkfold":
        try:
            k = int(arg)
        except ValueError:
            raise ValueError(f"--cv groupkfold:N needs an integer N, got {arg!r}") from None
        if not 2 <= k <= len(unique):
            raise ValueError(f"groupkfold:{k} needs 2 <= N <= {len(unique)} (the speakers)")
        folds: list[list[str]] = [[] for _ in range(k)]
        load = [0] * k
        order = sorted(unique, key=lambda s: (-counts[s], rng.random()))
        for spk in order:                         # largest speakers first, to the lightest fold
            j = int(np.argmin(load))
            folds[j].append(spk)
            load[j] += counts[spk]
        return [sorted(f) for f in folds]
    if name == "fixed":
        if arg:
            chosen = [s.strip() for s in arg.split(",") if s.strip()]
            unknown = sorted(set(chosen) - set(unique))
            if unknown:
                raise ValueError(f"--cv fixed: unknown speaker(s) {unknown}")
            return [sorted(chosen)]
        n_test = max(1, round(0.2 * len(unique)))
        return [sorted(rng.choice(unique, size=n_test, replace=False).tolist())]
    raise ValueError(f"unknown --cv scheme {scheme!r}; use loso, loso:session, "
                     "groupkfold:N, fixed or fixed:SPK1,SPK2")


def make_folds(speakers: Sequence[str], scheme: str = "loso", *, seed: int = 0,
               sessions: Sequence[str] | None = None, n_validation: int = 1,
               genders: Sequence[str] | None = None) -> list[Fold]:
    """Speaker-independent folds for utterances spoken by ``speakers``.

    The validation speakers of each fold are drawn (from ``seed``) among its
    non-test speakers; at least one speaker must remain for training. With two or
    more validation speakers and the speakers' genders known ('f'/'m', one per
    utterance), the draw is balanced by gender (as even as the speakers left allow).
    """
    speakers = [str(s) for s in speakers]
    sessions = [str(s) for s in sessions] if sessions is not None else [""] * len(speakers)
    rng = np.random.default_rng([seed, 0xF01D])
    unique = sorted(set(speakers))
    if len(unique) < 2 + n_validation:
        raise ValueError(f"speaker-independent training needs at least {2 + n_validation} "
                         f"speakers (test, validation, training); the data has {len(unique)}")
    gender_of = {}
    if genders is not None:
        gender_of = {s: str(g).lower() for s, g in zip(speakers, genders) if g}
    folds = []
    for index, test in enumerate(_test_groups(scheme, speakers, sessions, rng)):
        rest = [s for s in unique if s not in test]
        if len(rest) < n_validation + 1:
            raise ValueError(f"fold {index}: too few speakers left for validation and training")
        validation = _draw_validation(rng, rest, n_validation, gender_of)
        train = [s for s in rest if s not in validation]
        folds.append(Fold(index, tuple(test), tuple(validation), tuple(train)))
    return folds


def _draw_validation(rng: np.random.Generator, rest: list[str], n: int,
                     gender_of: dict[str, str]) -> list[str]:
    """n validation speakers from ``rest``; balanced by gender when n >= 2 and every
    candidate's gender is known: the genders take turns (a random one first), each
    turn a random speaker of that gender (the other gender when one runs out)."""
    if n < 2 or not all(gender_of.get(s) in ("f", "m") for s in rest):
        return sorted(rng.choice(rest, size=n, replace=False).tolist())
    pools = {g: [str(s) for s in rng.permutation([s for s in rest if gender_of[s] == g])]
             for g in ("f", "m")}
    other = {"f": "m", "m": "f"}
    turn = ("f", "m")[int(rng.integers(0, 2))]
    chosen: list[str] = []
    while len(chosen) < n:
        if not pools[turn]:
            turn = other[turn]
        chosen.append(pools[turn].pop())
        turn = other[turn]
    return sorted(chosen)
