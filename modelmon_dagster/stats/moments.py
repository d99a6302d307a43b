"""Mean and variance from mergeable, shifted sums."""

import math


def mean_and_variance(n: float, sum_shifted: float, sumsq_shifted: float, shift: float):
    """Mean and sample variance from sums of ``x - shift`` and ``(x - shift)**2``.

    Notes
    -----
    Shifting by the baseline mean keeps the sums small, so the textbook
    ``(sumsq - sum**2 / n) / (n - 1)`` does not lose precision on features with a large mean and
    a small spread. ``n == 0`` gives ``(nan, nan)``; ``n == 1`` gives variance ``nan``.
    """
    if n <= 0:
        return math.nan, math.nan
    mean = shift + sum_shifted / n
    if n < 2:
        return mean, math.nan
    variance = max((sumsq_shifted - sum_shifted * sum_shifted / n) / (n - 1), 0.0)
    return mean, variance
