"""The generative world of each demo model: inputs, true outcomes, model versions, operations.

Everything is vectorised with numpy and every random draw comes from a ``numpy.random.Generator``
passed in explicitly (no global random state), so the simulator is deterministic given its seed.

A *feature frame* is a ``dict`` from feature name to a numpy array: ``float64`` for numeric
features, ``int64`` category codes for categorical ones (``-1`` = the key is absent from the
record, only for optional features). Timestamps are ``int64`` microseconds since the Unix epoch
(naive UTC).

Two worlds are defined:

``fraud_detector`` (binary classification, classes ``"0"``/``"1"``)
    Card transactions. The true fraud probability is ``sigmoid`` of a linear function of the
    inputs (large amounts, brand-new accounts, far from home, many recent transactions, night
    time, risky merchants, countries and devices), with a base rate of about 4 %. Version
    ``v1`` scores with the true function (well calibrated, AUC about 0.9); ``v2`` is the model
    retrained on the *concept-drifted* world (see :meth:`FraudProcess.outcome`).
``demand_forecaster`` (regression)
    Units sold per store and product. The truth is a multiplicative demand model of a latent
    store-product level (seen by the model only through ``lag_7d_units``), price elasticity,
    discount, promotion and temperature, times lognormal noise. ``v1`` predicts close to the
    truth; ``v2`` is recalibrated to a 25 % higher demand level.
"""

from dataclasses import dataclass

import numpy as np

from modelmon_dagster.config import LabelDelay

US_PER_HOUR = 3_600_000_000
FeatureFrame = dict[str, np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-z))


def choose(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Draw category codes by inverse CDF.

    Parameters
    ----------
    u : numpy.ndarray
        Uniform draws in [0, 1), one per record.
    probs : numpy.ndarray
        Category weights, shape ``(K,)`` or one row per record ``(n, K)``; rows need not sum
        to one.

    Returns
    -------
    numpy.ndarray
        ``int64`` codes in ``[0, K)``.
    """
    probs = np.asarray(probs, dtype=float)
    k = probs.shape[-1]
    if probs.ndim == 1:
        cum = np.cumsum(probs) / probs.sum()
        return np.minimum(np.searchsorted(cum, u, side="right"), k - 1).astype(np.int64)
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    return np.minimum((u[:, None] >= cum).sum(axis=1), k - 1).astype(np.int64)


def hour_of_day(ts_us: np.ndarray) -> np.ndarray:
    """UTC hour (0-23) of each timestamp."""
    return (ts_us // US_PER_HOUR) % 24


@dataclass(frozen=True)
class OpsProfile:
    """How a model's service behaves: latency, errors and host metrics.

    Latency is lognormal (``latency_median_ms``, ``latency_sigma``) with a small slow
    component (``tail_share`` of requests around ``tail_median_ms``). Errors fail fast (half
    the latency); timeouts take ``timeout_ms`` plus up to 5 %.
    """

    latency_median_ms: float
    latency_sigma: float
    tail_share: float
    tail_median_ms: float
    tail_sigma: float
    error_rate: float
    timeout_rate: float
    error_types: tuple[str, ...]
    timeout_ms: float
    cpu_base_pct: float
    memory_base_mb: float


@dataclass(frozen=True)
class Operations:
    """Per-record service metrics drawn by :meth:`Process.operations`."""

    latency_ms: np.ndarray
    cpu_pct: np.ndarray
    memory_mb: np.ndarray
    u_status: np.ndarray
    u_burst: np.ndarray
    u_timeout: np.ndarray
    u_type: np.ndarray
    u_timeout_latency: np.ndarray


class Process:
    """Base class of a model's generative world; subclasses fill in the class attributes."""

    name: str = ""
    classification: bool = False
    numeric: tuple[str, ...] = ()
    categorical: dict[str, tuple[str, ...]] = {}
    category_probs: dict[str, np.ndarray] = {}
    optional: tuple[str, ...] = ()
    decimals: dict[str, int] = {}
    lower: dict[str, float] = {}
    versions: tuple[str, ...] = ()
    volume_per_hour: float = 100.0
    diurnal_amplitude: float = 0.5
    diurnal_peak_hour: float = 14.0
    label_missing_rate: float = 0.0
    ops: OpsProfile

    # -- traffic -------------------------------------------------------------------------------
    def diurnal(self, hour: np.ndarray | int) -> np.ndarray:
        """Relative traffic at a UTC hour of day (averages 1 over a day)."""
        h = np.asarray(hour, dtype=float) + 0.5
        return 1.0 + self.diurnal_amplitude * np.cos(2 * np.pi * (h - self.diurnal_peak_hour) / 24)

    def hourly_rate(self, hour: int) -> float:
        """Return the expected predictions in an hour starting at UTC hour ``hour``."""
        return float(self.volume_per_hour * self.diurnal(hour))

    # -- features ------------------------------------------------------------------------------
    def feature_type(self, name: str) -> str:
        """``numeric`` or ``categorical``; KeyError for an unknown feature."""
        if name in self.numeric:
            return "numeric"
        if name in self.categorical:
            return "categorical"
        raise KeyError(name)

    def sample_features(
        self, rng: np.random.Generator, ts_us: np.ndarray, weights: dict[str, np.ndarray]
    ) -> FeatureFrame:
        """Draw the inputs of ``len(ts_us)`` requests.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness (the number of draws depends only on the record count).
        ts_us : numpy.ndarray
            Request timestamps, microseconds since the epoch.
        weights : dict
            Per categorical feature, optional ``(n, K)`` multipliers of the category mix
            (data drift); a missing key means the base mix.
        """
        raise NotImplementedError

    def finalize(self, frame: FeatureFrame) -> FeatureFrame:
        """Clip and round numeric features to their logged precision (after any drift)."""
        out = dict(frame)
        for name in self.numeric:
            x = out[name]
            if name in self.lower:
                x = np.maximum(x, self.lower[name])
            out[name] = np.round(x, self.decimals.get(name, 3))
        return out

    def _cat_probs(self, name: str, weights: dict[str, np.ndarray]) -> np.ndarray:
        base = self.category_probs[name]
        w = weights.get(name)
        return base if w is None else base[None, :] * w

    def feature_values(self, frame: FeatureFrame, names: tuple[str, ...]) -> dict[str, list]:
        """Plain Python values per feature for JSON (``None`` = absent key)."""
        out = {}
        for name in names:
            x = frame[name]
            if name in self.categorical:
                lookup = np.array([*self.categorical[name], None], dtype=object)
                out[name] = lookup[x].tolist()
            elif self.decimals.get(name, 3) == 0:
                out[name] = x.astype(np.int64).tolist()
            else:
                out[name] = x.tolist()
        return out

    # -- outcomes and model --------------------------------------------------------------------
    def outcome(
        self,
        rng: np.random.Generator,
        frame: FeatureFrame,
        concept: np.ndarray,
        logit_shift: np.ndarray,
        outcome_scale: np.ndarray,
    ) -> np.ndarray:
        """Draw the true outcome of each request.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness (draw count depends only on the record count).
        frame : FeatureFrame
            The inputs, after data drift.
        concept : numpy.ndarray
            Weight in [0, 1] of the drifted outcome function per record (concept drift).
        logit_shift : numpy.ndarray
            Added to the true log-odds (classification prior drift).
        outcome_scale : numpy.ndarray
            Multiplies the true outcome level (regression label drift).

        Returns
        -------
        numpy.ndarray
            Booleans (positive class) for classifiers, floats for regression.
        """
        raise NotImplementedError

    def predict(self, version: str, frame: FeatureFrame) -> np.ndarray:
        """Model output: P(positive) for classifiers, the predicted value for regression."""
        raise NotImplementedError

    def check_version(self, version: str) -> None:
        """Raise ValueError if ``version`` is not a simulated version of this model."""
        if version not in self.versions:
            raise ValueError(
                f"{self.name}: no simulated model version {version!r}; known: {list(self.versions)}"
            )

    # -- operations and labels -----------------------------------------------------------------
    def operations(self, rng: np.random.Generator, ts_us: np.ndarray) -> Operations:
        """Draw latency, host metrics and the uniforms that decide each record's status."""
        n = ts_us.size
        p = self.ops
        z = rng.standard_normal(n)
        z_tail = rng.standard_normal(n)
        u_tail = rng.random(n)
        latency = np.where(
            u_tail < p.tail_share,
            p.tail_median_ms * np.exp(p.tail_sigma * z_tail),
            p.latency_median_ms * np.exp(p.latency_sigma * z),
        )
        load = self.diurnal(hour_of_day(ts_us))
        cpu = p.cpu_base_pct * (0.6 + 0.4 * load) + 4.0 * rng.standard_normal(n)
        memory = p.memory_base_mb * (0.97 + 0.03 * load) + 15.0 * rng.standard_normal(n)
        return Operations(
            latency_ms=latency,
            cpu_pct=cpu,
            memory_mb=memory,
            u_status=rng.random(n),
            u_burst=rng.random(n),
            u_timeout=rng.random(n),
            u_type=rng.random(n),
            u_timeout_latency=rng.random(n),
        )

    def label_delays(self, rng: np.random.Generator, n: int, delay: LabelDelay) -> np.ndarray:
        """Hours from prediction to label arrival, capped at ``delay.max_hours``."""
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------
# fraud_detector
# ----------------------------------------------------------------------------------------------

MERCHANTS = (
    "grocery",
    "restaurant",
    "fuel",
    "online_retail",
    "electronics",
    "travel",
    "entertainment",
    "jewelry",
)
MERCHANT_P = np.array([0.24, 0.18, 0.13, 0.17, 0.08, 0.06, 0.09, 0.05])
MERCHANT_MEDIAN_AMOUNT = np.array([35.0, 28.0, 45.0, 55.0, 180.0, 320.0, 40.0, 260.0])
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "NG")
COUNTRY_P = np.array([0.42, 0.16, 0.15, 0.12, 0.09, 0.06])
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_P = np.array([0.6, 0.3, 0.1])
DEVICE_ABSENT_SHARE = 0.12


@dataclass(frozen=True)
class FraudCoefficients:
    """A linear log-odds function of the fraud inputs (one per model version or world)."""

    intercept: float
    log_amount: float  # log(amount / 50)
    new_account: float  # exp(-account_age_days / 90): 1 for a brand-new account
    distance: float  # log1p(distance_from_home_km) - 2
    txn_count: float  # (txn_count_24h - 2.5) / 1.6
    night: float  # 1 between 00:00 and 05:59 UTC
    daytime: float  # 1 between 09:00 and 17:59 UTC
    merchant: tuple[float, ...]  # per MERCHANTS
    country: tuple[float, ...]  # per COUNTRIES
    device: tuple[float, ...]  # per DEVICES, then absent

    def logit(self, frame: FeatureFrame) -> np.ndarray:
        """Log-odds of fraud per record."""
        hour = frame["hour_of_day"]
        return (
            self.intercept
            + self.log_amount * np.log(np.maximum(frame["amount"], 0.01) / 50.0)
            + self.new_account * np.exp(-np.maximum(frame["account_age_days"], 0.0) / 90.0)
            + self.distance * (np.log1p(np.maximum(frame["distance_from_home_km"], 0.0)) - 2.0)
            + self.txn_count * (frame["txn_count_24h"] - 2.5) / 1.6
            + self.night * (hour < 6)
            + self.daytime * ((hour >= 9) & (hour < 18))
            + np.asarray(self.merchant)[frame["merchant_category"]]
            + np.asarray(self.country)[frame["country"]]
            # code -1 (absent) picks the last entry
            + np.asarray(self.device)[frame["device_type"]]
        )


FRAUD_TRUE = FraudCoefficients(
    intercept=-6.3,
    log_amount=1.1,
    new_account=3.0,
    distance=1.1,
    txn_count=0.8,
    night=1.2,
    daytime=0.0,
    merchant=(-0.8, -0.6, -0.3, 0.6, 1.0, 0.6, 0.0, 1.2),
    country=(0.0, -0.1, -0.3, -0.1, 0.8, 1.4),
    device=(0.1, 0.0, 0.4, 0.5),
)
# After the concept drift fraud is card testing: small amounts, bursts of transactions,
# tablets and unknown devices, daytime, entertainment and online retail; distance and
# country no longer matter.
FRAUD_DRIFTED = FraudCoefficients(
    intercept=-4.6,
    log_amount=-0.9,
    new_account=0.5,
    distance=0.0,
    txn_count=1.6,
    night=-0.5,
    daytime=0.8,
    merchant=(-0.8, -0.2, -0.5, 1.0, -0.3, -1.0, 1.3, -1.0),
    country=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    device=(-0.3, -0.2, 1.3, 1.5),
)
FRAUD_VERSIONS = {
    # v1 was fitted on the original world: the true function up to fitting noise.
    "v1": FraudCoefficients(
        intercept=-6.25,
        log_amount=1.08,
        new_account=2.95,
        distance=1.1,
        txn_count=0.78,
        night=1.18,
        daytime=0.0,
        merchant=(-0.78, -0.6, -0.32, 0.6, 1.02, 0.58, 0.0, 1.18),
        country=(0.0, -0.1, -0.28, -0.1, 0.8, 1.38),
        device=(0.1, 0.0, 0.4, 0.48),
    ),
    # v2 was retrained after the concept drift.
    "v2": FraudCoefficients(
        intercept=-4.65,
        log_amount=-0.85,
        new_account=0.5,
        distance=0.0,
        txn_count=1.55,
        night=-0.45,
        daytime=0.8,
        merchant=(-0.75, -0.2, -0.5, 0.95, -0.3, -0.95, 1.25, -0.95),
        country=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        device=(-0.3, -0.2, 1.25, 1.45),
    ),
}


class FraudProcess(Process):
    """Card transactions scored by ``fraud_detector`` (about 600 requests per hour)."""

    name = "fraud_detector"
    classification = True
    numeric = (
        "amount",
        "account_age_days",
        "distance_from_home_km",
        "txn_count_24h",
        "hour_of_day",
    )
    categorical = {"merchant_category": MERCHANTS, "country": COUNTRIES, "device_type": DEVICES}
    category_probs = {
        "merchant_category": MERCHANT_P,
        "country": COUNTRY_P,
        "device_type": DEVICE_P,
    }
    optional = ("device_type",)
    decimals = {
        "amount": 2,
        "account_age_days": 0,
        "distance_from_home_km": 1,
        "txn_count_24h": 0,
        "hour_of_day": 0,
    }
    lower = {"amount": 0.5, "account_age_days": 0.0, "distance_from_home_km": 0.0}
    versions = tuple(FRAUD_VERSIONS)
    volume_per_hour = 600.0
    diurnal_amplitude = 0.55
    diurnal_peak_hour = 15.0
    label_missing_rate = 0.05
    ops = OpsProfile(
        latency_median_ms=15.0,
        latency_sigma=0.4,
        tail_share=0.02,
        tail_median_ms=50.0,
        tail_sigma=0.3,
        error_rate=0.003,
        timeout_rate=0.0004,
        error_types=("ValueError", "UpstreamTimeout", "FeatureStoreError"),
        timeout_ms=250.0,
        cpu_base_pct=45.0,
        memory_base_mb=820.0,
    )

    def sample_features(
        self, rng: np.random.Generator, ts_us: np.ndarray, weights: dict[str, np.ndarray]
    ) -> FeatureFrame:
        """Draw transactions (see :meth:`Process.sample_features`)."""
        n = ts_us.size
        merchant = choose(rng.random(n), self._cat_probs("merchant_category", weights))
        country = choose(rng.random(n), self._cat_probs("country", weights))
        device = choose(rng.random(n), self._cat_probs("device_type", weights))
        device = np.where(rng.random(n) < DEVICE_ABSENT_SHARE, -1, device)
        amount = MERCHANT_MEDIAN_AMOUNT[merchant] * np.exp(0.9 * rng.standard_normal(n))
        age = rng.gamma(1.3, 550.0, n)
        distance = np.exp(np.log(6.0) + 1.4 * rng.standard_normal(n))
        txn = rng.poisson(2.5, n).astype(float)
        return {
            "amount": amount,
            "account_age_days": np.floor(age),
            "distance_from_home_km": distance,
            "txn_count_24h": txn,
            "hour_of_day": hour_of_day(ts_us).astype(float),
            "merchant_category": merchant,
            "country": country,
            "device_type": device,
        }

    def outcome(
        self,
        rng: np.random.Generator,
        frame: FeatureFrame,
        concept: np.ndarray,
        logit_shift: np.ndarray,
        outcome_scale: np.ndarray,
    ) -> np.ndarray:
        """Fraud (True) or not: Bernoulli of the true probability (see :meth:`Process.outcome`).

        The concept weight mixes the original and the drifted log-odds.
        """
        u = rng.random(frame["amount"].size)
        z = (1.0 - concept) * FRAUD_TRUE.logit(frame) + concept * FRAUD_DRIFTED.logit(frame)
        return u < sigmoid(z + logit_shift)

    def predict(self, version: str, frame: FeatureFrame) -> np.ndarray:
        """P(fraud) according to model ``version``."""
        self.check_version(version)
        return sigmoid(FRAUD_VERSIONS[version].logit(frame))

    def label_delays(self, rng: np.random.Generator, n: int, delay: LabelDelay) -> np.ndarray:
        """Chargebacks: lognormal with median ``expected_hours``, capped at ``max_hours``."""
        hours = delay.expected_hours * np.exp(0.5 * rng.standard_normal(n))
        return np.clip(hours, 0.05, delay.max_hours)


# ----------------------------------------------------------------------------------------------
# demand_forecaster
# ----------------------------------------------------------------------------------------------

REGIONS = ("north", "south", "east", "west", "central")
REGION_P = np.array([0.25, 0.22, 0.20, 0.18, 0.15])
REGION_LEVEL = np.array([1.0, 1.2, 0.9, 1.1, 0.8])
REGION_TEMPERATURE = np.array([3.0, 15.0, 8.0, 10.0, 6.0])
FAMILIES = ("beverages", "snacks", "dairy", "produce", "household", "frozen")
FAMILY_P = np.array([0.25, 0.20, 0.18, 0.15, 0.12, 0.10])
FAMILY_PRICE = np.array([2.5, 3.0, 3.5, 2.0, 6.0, 5.0])
FAMILY_UNITS = np.array([40.0, 35.0, 30.0, 25.0, 12.0, 15.0])
FAMILY_TEMPERATURE = np.array([0.035, 0.005, 0.0, 0.01, 0.0, 0.03])
PROMO = ("no", "yes")
PROMO_P = np.array([0.8, 0.2])
PROMO_DISCOUNTS = np.array([10.0, 15.0, 20.0, 25.0, 30.0, 40.0])


@dataclass(frozen=True)
class DemandCoefficients:
    """A multiplicative demand function (one per model version or world)."""

    level: float  # overall multiplier
    elasticity: float  # exponent of price / family list price
    discount: float  # per discount point
    promo_lift: float  # multiplier when promo == "yes"
    temperature: float  # multiplier of the family's temperature sensitivity
    lag_weight: float  # models: weight of lag_7d_units vs the family x region prior

    def factor(self, frame: FeatureFrame) -> np.ndarray:
        """Demand multiplier of the observable conditions."""
        family = frame["product_family"]
        relative_price = np.maximum(frame["price"], 0.01) / FAMILY_PRICE[family]
        return (
            self.level
            * relative_price**self.elasticity
            * (1.0 + self.discount * frame["discount_pct"])
            * np.where(frame["promo"] == 1, self.promo_lift, 1.0)
            * np.exp(self.temperature * FAMILY_TEMPERATURE[family] * (frame["temperature_c"] - 10))
        )

    def predict(self, frame: FeatureFrame) -> np.ndarray:
        """Forecast as a model would: shrunk lag level times the conditions."""
        prior = FAMILY_UNITS[frame["product_family"]] * REGION_LEVEL[frame["store_region"]]
        level = self.lag_weight * frame["lag_7d_units"] + (1 - self.lag_weight) * prior
        return level * self.factor(frame)


DEMAND_TRUE = DemandCoefficients(1.0, -1.3, 0.02, 1.15, 1.0, 1.0)
DEMAND_DRIFTED = DemandCoefficients(1.0, -2.4, 0.035, 1.5, 2.0, 1.0)
DEMAND_VERSIONS = {
    "v1": DemandCoefficients(1.0, -1.25, 0.02, 1.14, 1.0, 0.85),
    "v2": DemandCoefficients(1.25, -1.3, 0.021, 1.15, 1.0, 0.85),
}


class DemandProcess(Process):
    """Store-product demand forecasts by ``demand_forecaster`` (about 150 requests per hour)."""

    name = "demand_forecaster"
    classification = False
    numeric = ("price", "discount_pct", "temperature_c", "lag_7d_units")
    categorical = {"store_region": REGIONS, "product_family": FAMILIES, "promo": PROMO}
    category_probs = {"store_region": REGION_P, "product_family": FAMILY_P, "promo": PROMO_P}
    decimals = {"price": 2, "discount_pct": 0, "temperature_c": 1, "lag_7d_units": 0}
    lower = {"price": 0.05, "discount_pct": 0.0, "lag_7d_units": 0.0}
    versions = tuple(DEMAND_VERSIONS)
    volume_per_hour = 150.0
    diurnal_amplitude = 0.45
    diurnal_peak_hour = 12.0
    label_missing_rate = 0.01
    ops = OpsProfile(
        latency_median_ms=60.0,
        latency_sigma=0.35,
        tail_share=0.02,
        tail_median_ms=180.0,
        tail_sigma=0.3,
        error_rate=0.003,
        timeout_rate=0.0004,
        error_types=("ValueError", "UpstreamTimeout"),
        timeout_ms=2000.0,
        cpu_base_pct=35.0,
        memory_base_mb=1540.0,
    )

    def sample_features(
        self, rng: np.random.Generator, ts_us: np.ndarray, weights: dict[str, np.ndarray]
    ) -> FeatureFrame:
        """Draw forecast requests (see :meth:`Process.sample_features`).

        The latent store-product level is kept in the frame as ``_level`` (never logged).
        """
        n = ts_us.size
        region = choose(rng.random(n), self._cat_probs("store_region", weights))
        family = choose(rng.random(n), self._cat_probs("product_family", weights))
        promo = choose(rng.random(n), self._cat_probs("promo", weights))
        discount = np.where(
            promo == 1,
            PROMO_DISCOUNTS[rng.integers(0, PROMO_DISCOUNTS.size, n)],
            np.where(rng.random(n) < 0.1, 5.0, 0.0),
        )
        price = FAMILY_PRICE[family] * np.exp(0.2 * rng.standard_normal(n))
        hour = hour_of_day(ts_us)
        temperature = (
            REGION_TEMPERATURE[region]
            + 4.0 * np.sin(2 * np.pi * (hour - 9) / 24)
            + 3.0 * rng.standard_normal(n)
        )
        level = FAMILY_UNITS[family] * REGION_LEVEL[region] * np.exp(0.35 * rng.standard_normal(n))
        lag = np.round(level * np.exp(0.15 * rng.standard_normal(n)))
        return {
            "price": price,
            "discount_pct": discount,
            "temperature_c": temperature,
            "lag_7d_units": lag,
            "store_region": region,
            "product_family": family,
            "promo": promo,
            "_level": level,
        }

    def outcome(
        self,
        rng: np.random.Generator,
        frame: FeatureFrame,
        concept: np.ndarray,
        logit_shift: np.ndarray,
        outcome_scale: np.ndarray,
    ) -> np.ndarray:
        """Units sold: level x conditions x lognormal noise, rounded, never negative."""
        noise = np.exp(0.2 * rng.standard_normal(frame["price"].size) - 0.02)
        log_factor = (1.0 - concept) * np.log(DEMAND_TRUE.factor(frame)) + concept * np.log(
            DEMAND_DRIFTED.factor(frame)
        )
        expected = frame["_level"] * np.exp(log_factor) * outcome_scale
        return np.maximum(np.round(expected * noise), 0.0)

    def predict(self, version: str, frame: FeatureFrame) -> np.ndarray:
        """Forecast units according to model ``version``."""
        self.check_version(version)
        return np.maximum(DEMAND_VERSIONS[version].predict(frame), 0.0)

    def label_delays(self, rng: np.random.Generator, n: int, delay: LabelDelay) -> np.ndarray:
        """Sales are booked ``expected_hours`` later, give or take three hours."""
        hours = delay.expected_hours + 3.0 * rng.standard_normal(n)
        return np.clip(hours, 0.05, delay.max_hours)


PROCESSES: dict[str, Process] = {p.name: p for p in (FraudProcess(), DemandProcess())}


def process_for(name: str) -> Process:
    """Return the simulated world of model ``name``; KeyError if there is none."""
    try:
        return PROCESSES[name]
    except KeyError:
        known = sorted(PROCESSES)
        raise KeyError(f"no simulated world for model {name!r}; known: {known}") from None
