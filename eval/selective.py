"""Abstention as selective prediction: the risk–coverage curve and its area (AURC).

Answers are sorted from the most to the least confident; showing the first k of n covers k/n of the
questions, and the risk at that coverage is the share of those k that are wrong. AURC is the mean
risk over k = 1..n: lower is better, and an abstention model that ranked every wrong answer last
would reach the lowest value the answers allow.
"""

from __future__ import annotations

from collections.abc import Sequence


def risk_coverage(confidence: Sequence[float], wrong: Sequence[bool | int]) -> list[tuple[float, float]]:
    """(coverage, risk) after each answer, most confident first; ties stay in their given order.

    >>> risk_coverage([0.9, 0.2, 0.5], [0, 1, 0])
    [(0.3333333333333333, 0.0), (0.6666666666666666, 0.0), (1.0, 0.3333333333333333)]
    """
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    points, errors = [], 0
    for k, i in enumerate(order, start=1):
        errors += int(bool(wrong[i]))
        points.append((k / len(order), errors / k))
    return points


def aurc(confidence: Sequence[float], wrong: Sequence[bool | int]) -> float:
    """Area under the risk–coverage curve (mean risk over the coverages 1/n..1); 0 for no answers.

    >>> aurc([0.9, 0.2, 0.5], [0, 1, 0])
    0.1111111111111111
    >>> aurc([0.9, 0.8], [1, 0]) > aurc([0.9, 0.8], [0, 1])
    True
    """
    points = risk_coverage(confidence, wrong)
    return sum(risk for _, risk in points) / len(points) if points else 0.0
