"""Parse lme4-style random-effect terms nested within one grouping factor.

The trial's models have random effects per borough only, so the supported terms are the
ones nested within a single grouping factor ``g``:

* ``(1 | g)``        random intercept per cluster;
* ``(1 | g:f)``      random intercept per level of ``f`` within each cluster (``g:f``), e.g.
  borough x phase or borough x quarter, an iid effect with one variance;
* ``(1 + t | g)``    correlated random intercept and slope on the numeric column ``t``
  (``(t | g)`` means the same, as in R);
* ``(0 + t | g)``    random slope without intercept; with ``(1 | g)`` it is the slope
  uncorrelated with the intercept (lme4's ``(1 | g) + (0 + t | g)``).

Terms are combined with ``+``. Anything else (``||``, ``g/f``, several slopes in one term,
factors crossed with the cluster, slopes on a nested factor) raises :class:`DesignError`
naming the term and what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from analysis.errors import ModelSpecificationError

__all__ = ["DesignError", "RandomTerm", "parse_random"]

_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*\Z")


class DesignError(ModelSpecificationError):
    """A random-effect specification that cannot be parsed, built or identified.

    The message names the offending term, e.g. ``"(1 | borough:quarter)"``.
    """


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term, e.g. ``(1 + t | g)`` or ``(1 | g:f)``.

    Attributes
    ----------
    group : str
        The grouping factor every term is nested in (the cluster, e.g. ``"borough"``).
    nested : str or None
        ``f`` of a ``(1 | g:f)`` term, else ``None``.
    intercept : bool
        Whether the term has a random intercept.
    slope : str or None
        Numeric column with a random slope (``t`` of ``(1 + t | g)`` / ``(0 + t | g)``).
    """

    group: str
    nested: str | None
    intercept: bool
    slope: str | None

    @property
    def grouping(self) -> str:
        """lme4's name of the term's grouping factor: ``"g"`` or ``"g:f"``."""
        return self.group if self.nested is None else f"{self.group}:{self.nested}"

    @property
    def coefficients(self) -> tuple[str, ...]:
        """Names of the term's random coefficients as lme4 prints them."""
        names: list[str] = ["(Intercept)"] if self.intercept else []
        if self.slope is not None:
            names.append(self.slope)
        return tuple(names)

    @property
    def n_theta(self) -> int:
        """Number of theta entries: the lower triangle of the term's relative factor."""
        k = len(self.coefficients)
        return k * (k + 1) // 2

    @property
    def text(self) -> str:
        """Canonical lme4 spelling, e.g. ``"(1 + t | g)"``, used in messages."""
        lhs = {
            (True, False): "1",
            (True, True): f"1 + {self.slope}",
            (False, True): f"0 + {self.slope}",
        }[(self.intercept, self.slope is not None)]
        return f"({lhs} | {self.grouping})"


def _top_level_groups(text: str) -> tuple[list[str], str] | None:
    """Bodies of the top-level ``(...)`` groups and what lies between them (None if unbalanced)."""
    bodies: list[str] = []
    between: list[str] = []
    depth = start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
            if depth == 0:
                bodies.append(text[start:i])
        elif depth == 0:
            between.append(ch)
    return (bodies, "".join(between)) if depth == 0 else None


def _split_terms(spec: str | Sequence[str]) -> list[str]:
    """The ``(...)`` pieces of a specification, refusing anything between them but ``+``."""
    parts = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise DesignError(f"random-effect terms must be strings, got {part!r}")
        text = part.strip()
        if text.startswith("~"):
            text = text[1:]
        found = _top_level_groups(text)
        if found is None or found[1].replace("+", "").strip():
            raise DesignError(
                f"cannot read random-effect specification {part!r}: write terms such as "
                "'(1 | g)', '(1 | g:f)', '(1 + t | g)' or '(0 + t | g)' joined by '+'"
            )
        out.extend(found[0])
    if not out:
        raise DesignError("no random-effect term given: write e.g. '(1 | g)'")
    return out


def _parse_lhs(lhs: str, term: str) -> tuple[bool, str | None]:
    intercept = True
    slopes: list[str] = []
    for token in re.split(r"\s*\+\s*", lhs.strip()):
        if token == "1":
            intercept = True
        elif token in ("0", "-1"):
            intercept = False
        elif _NAME.match(token):
            slopes.append(token)
        else:
            raise DesignError(
                f"unsupported random-effect term {term}: {token!r} is not a column name, 1 or 0 "
                "(transform the column in the data first)"
            )
    if len(slopes) > 1:
        raise DesignError(
            f"unsupported random-effect term {term}: one slope per term; write "
            f"'(1 + {slopes[0]} | g)' or uncorrelated slopes as '(0 + {slopes[0]} | g)' terms"
        )
    if not intercept and not slopes:
        raise DesignError(f"random-effect term {term} has no intercept and no slope")
    return intercept, (slopes[0] if slopes else None)


def _parse_one(body: str) -> RandomTerm:
    term = f"({body.strip()})"
    if "||" in body:
        raise DesignError(
            f"unsupported random-effect term {term}: write the uncorrelated slope as "
            "'(1 | g) + (0 + t | g)'"
        )
    if body.count("|") != 1:
        raise DesignError(f"cannot read random-effect term {term}: expected '(lhs | group)'")
    lhs, rhs = (s.strip() for s in body.split("|"))
    if "/" in rhs:
        outer, _, inner = rhs.partition("/")
        raise DesignError(
            f"unsupported random-effect term {term}: write the nested effect as "
            f"'(1 | {outer.strip()}) + (1 | {outer.strip()}:{inner.strip()})'"
        )
    factors = [s.strip() for s in rhs.split(":")]
    if len(factors) > 2 or not all(_NAME.match(s) for s in factors):
        raise DesignError(
            f"unsupported random-effect term {term}: the grouping must be 'g' or 'g:f' "
            "(one factor nested in the cluster)"
        )
    intercept, slope = _parse_lhs(lhs, term)
    nested = factors[1] if len(factors) == 2 else None
    if nested is not None and (slope is not None or not intercept):
        raise DesignError(
            f"unsupported random-effect term {term}: a nested factor takes a random intercept "
            f"only, '(1 | {rhs})'"
        )
    return RandomTerm(group=factors[0], nested=nested, intercept=intercept, slope=slope)


def parse_random(spec: str | Sequence[str]) -> tuple[RandomTerm, ...]:
    """Parse and check random-effect terms, in the order written.

    Parameters
    ----------
    spec : str or sequence of str
        ``"(1 | g) + (1 | g:f)"`` or ``["(1 | g)", "(0 + t | g)"]``.

    Raises
    ------
    DesignError
        For an unsupported form, terms on different grouping factors, or terms that repeat
        an effect (two intercepts on ``g``, the same slope twice, the same nested factor
        twice), naming the term.
    """
    terms = tuple(_parse_one(body) for body in _split_terms(spec))
    group = terms[0].group
    seen_intercept: RandomTerm | None = None
    slopes: dict[str, RandomTerm] = {}
    nested: dict[str, RandomTerm] = {}
    for term in terms:
        if term.group != group:
            raise DesignError(
                f"random-effect term {term.text} is not nested in {group!r}: every term must "
                f"share one grouping factor (the cluster)"
            )
        if term.nested is not None:
            if term.nested == group:
                raise DesignError(f"random-effect term {term.text} nests {group!r} in itself")
            if term.nested in nested:
                raise DesignError(f"random-effect term {term.text} is given twice")
            nested[term.nested] = term
            continue
        if term.intercept:
            if seen_intercept is not None:
                raise DesignError(
                    f"random-effect terms {seen_intercept.text} and {term.text} both give "
                    f"{group!r} a random intercept"
                )
            seen_intercept = term
        if term.slope is not None:
            if term.slope in (group, *nested):
                raise DesignError(
                    f"random-effect term {term.text}: {term.slope!r} is a grouping factor, "
                    "not a numeric slope variable"
                )
            if term.slope in slopes:
                raise DesignError(
                    f"random-effect terms {slopes[term.slope].text} and {term.text} both give "
                    f"{term.slope!r} a random slope"
                )
            slopes[term.slope] = term
    return terms
