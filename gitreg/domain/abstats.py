"""The statistics of an A/B test report, in plain Python (no numpy, no scipy: the CLI stays light).

Per variant: count, mean and a 95% interval (Wilson for a binary outcome, Student t otherwise). The
difference candidate - control: a two-proportion z-test (binary) or Welch's t-test (continuous), with
its fixed-horizon 95% interval; these are shown, but they are valid only for one look at the data.

The verdict guards against peeking: it uses the **mixture sequential probability ratio test** (mSPRT;
Johari, Pekelis & Walsh 2017, "Always valid inference"; Howard et al. 2021 for the confidence
sequence), with a normal mixing distribution of variance ``tau2`` over the effect. Its p-value and
confidence sequence are valid at any sample size, however often the report is run. ``tau2`` is set
from the data's variances at the planned ``min_samples`` per variant (the effect scale that sample size
can resolve). ``P(candidate better)`` is the normal approximation of the posterior under a flat prior.
The sample-ratio-mismatch check is a chi-square test (1 d.o.f.) of the counts against the split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05
SRM_ALPHA = 0.001
POWER = 0.8
CANDIDATE_WINS, CONTROL_WINS = "candidate wins", "control wins"
NO_DIFFERENCE, KEEP_RUNNING = "no significant difference", "keep running (n < min-samples)"
VERDICTS = (CANDIDATE_WINS, CONTROL_WINS, NO_DIFFERENCE, KEEP_RUNNING)
METHOD = "mSPRT always-valid p-value and confidence sequence (Johari et al. 2017; Howard et al. 2021)"
_Z975 = 1.959963984540054
_Z80 = 0.8416212335729143


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    var: float  # sample variance (n - 1 in the denominator; 0 for n < 2)

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        n = len(values)
        if n == 0:
            return cls(0, math.nan, math.nan)
        mean = math.fsum(values) / n
        var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, var)


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-12:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    if not math.isfinite(t):
        return 0.0
    if df > 1e6:
        return math.erfc(abs(t) / math.sqrt(2))
    return betainc(df / 2, 0.5, df / (df + t * t))


def t_quantile975(df: float) -> float:
    """The 97.5% quantile of Student's t: solved on the exact distribution below 200 degrees of freedom,
    the Cornish-Fisher expansion above (within 1e-6 there)."""
    z = _Z975
    if df < 1:
        return math.inf
    if df < 200:
        lo, hi = z, 13.0  # 12.71 at df = 1
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if t_two_sided_p(mid, df) > 0.05 else (lo, mid)
        return (lo + hi) / 2
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def interval(summary: Summary, binary: bool) -> tuple[float, float]:
    n, mean = summary.n, summary.mean
    if n == 0:
        return (math.nan, math.nan)
    if binary:  # Wilson
        z2 = _Z975 ** 2
        centre = (mean + z2 / (2 * n)) / (1 + z2 / n)
        half = _Z975 * math.sqrt(mean * (1 - mean) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return (centre - half, centre + half)
    if n < 2:
        return (-math.inf, math.inf)
    half = t_quantile975(n - 1) * math.sqrt(summary.var / n)
    return (mean - half, mean + half)


def srm(n_control: int, n_candidate: int, split: float) -> dict:
    total = n_control + n_candidate
    expected = (total * (1 - split / 100), total * split / 100)
    if total == 0:
        return {"chi2": 0.0, "p_value": 1.0, "mismatch": False, "expected": list(expected)}
    chi2 = sum((o - e) ** 2 / e for o, e in zip((n_control, n_candidate), expected))
    p_value = math.erfc(math.sqrt(chi2 / 2))
    return {"chi2": chi2, "p_value": p_value, "mismatch": p_value < SRM_ALPHA, "expected": list(expected)}


def msprt(estimate: float, s2: float, tau2: float, alpha: float = ALPHA) -> tuple[float, float]:
    """(always-valid p-value, confidence-sequence half-width) of an effect estimate with variance ``s2``,
    under a N(0, tau2) mixture: Lambda = sqrt(s2 / (s2 + tau2)) * exp(estimate^2 tau2 / (2 s2 (s2 + tau2)))."""
    if s2 <= 0 or tau2 <= 0:
        return (0.0 if estimate else 1.0), 0.0
    log_lambda = 0.5 * math.log(s2 / (s2 + tau2)) + estimate ** 2 * tau2 / (2 * s2 * (s2 + tau2))
    p_value = math.exp(-log_lambda) if log_lambda > 0 else 1.0
    half = math.sqrt(2 * s2 * (s2 + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * math.log((s2 + tau2) / s2)))
    return min(1.0, p_value), half


def detectable_effect(s2: float, tau2: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The true difference the sequential test detects with probability ``power`` at this variance."""
    z = _Z80 if power == POWER else math.sqrt(2) * _erfinv(2 * power - 1)
    return msprt(0.0, s2, tau2, alpha)[1] + z * math.sqrt(s2)


def _erfinv(y: float) -> float:
    lo, hi = -6.0, 6.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erf(mid) < y else (lo, mid)
    return (lo + hi) / 2


def mixing_variance(control: Summary, candidate: Summary, min_samples: int) -> float:
    """tau2: the variance of the difference estimate at ``min_samples`` per variant."""
    return (control.var + candidate.var) / min_samples


def analyse(control: Summary, candidate: Summary, *, binary: bool, split: float, min_samples: int,
            direction: str = "higher", alpha: float = ALPHA) -> dict:
    """The report's numbers and its verdict (one of :data:`VERDICTS`)."""
    diff = candidate.mean - control.mean if control.n and candidate.n else math.nan
    s2 = (control.var / control.n + candidate.var / candidate.n) if control.n and candidate.n else math.nan
    test = _test(control, candidate, binary, diff, s2)
    sign = 1 if direction == "higher" else -1
    enough = min(control.n, candidate.n) >= max(min_samples, 2)
    report = {
        "variants": {name: {"n": s.n, "mean": s.mean, "ci95": list(interval(s, binary))}
                     for name, s in (("control", control), ("candidate", candidate))},
        "outcome": "binary" if binary else "continuous", "direction": direction, "difference": diff,
        "difference_ci95": [diff - _Z975 * math.sqrt(s2), diff + _Z975 * math.sqrt(s2)] if s2 == s2 else None,
        "test": test, "srm": srm(control.n, candidate.n, split), "min_samples": min_samples,
    }
    if not enough or not s2 == s2:
        report.update(p_candidate_better=None, sequential={"method": METHOD, "p_value": None, "cs95": None,
                                                           "tau2": None}, detectable_effect=None, verdict=KEEP_RUNNING)
        return report
    tau2 = mixing_variance(control, candidate, min_samples)
    p_value, half = msprt(diff, s2, tau2, alpha)
    better = normal_cdf(sign * diff / math.sqrt(s2)) if s2 > 0 else (1.0 if sign * diff > 0 else 0.0)
    verdict = NO_DIFFERENCE
    if p_value < alpha:
        verdict = CANDIDATE_WINS if sign * diff > 0 else CONTROL_WINS
    report.update(p_candidate_better=better, sequential={"method": METHOD, "p_value": p_value,
                                                         "cs95": [diff - half, diff + half], "tau2": tau2},
                  detectable_effect=detectable_effect(s2, tau2, alpha), verdict=verdict)
    return report


def _test(control: Summary, candidate: Summary, binary: bool, diff: float, s2: float) -> dict:
    if not (control.n and candidate.n):
        return {"name": "two-proportion z-test" if binary else "Welch's t-test", "statistic": None, "p_value": None}
    if binary:
        pooled = (control.mean * control.n + candidate.mean * candidate.n) / (control.n + candidate.n)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / candidate.n))
        z = diff / se0 if se0 > 0 else 0.0
        return {"name": "two-proportion z-test", "statistic": z, "p_value": math.erfc(abs(z) / math.sqrt(2))}
    if s2 <= 0 or control.n < 2 or candidate.n < 2:
        return {"name": "Welch's t-test", "statistic": None, "df": None, "p_value": None}
    t = diff / math.sqrt(s2)
    a, b = control.var / control.n, candidate.var / candidate.n
    df = (a + b) ** 2 / (a * a / (control.n - 1) + b * b / (candidate.n - 1)) if a or b else math.inf
    return {"name": "Welch's t-test", "statistic": t, "df": df, "p_value": t_two_sided_p(t, df)}
