"""Write the demo models' prediction logs, label logs and reference data, deterministically.

Layout and record formats are those of :mod:`modelmon_dagster.logformat`; every log file is
written by the writer id ``sim`` as ``.sim.jsonl.open`` and renamed to ``sim.jsonl``.

Determinism: each (model, hour) draws from ``np.random.default_rng([seed, model_index,
hour_index])`` where ``model_index`` is the CRC-32 of the model name (stable when the config
lists other models or a different order) and ``hour_index`` counts hours since the Unix epoch.
So an hour's records depend only on the seed, the model, the hour, the scenarios and the served
version: simulating a short window reproduces exactly the same hours of a longer run. Within an
hour, independent child streams feed the volume, the timestamps, the ids, the features, the
outcomes, the operations, the injected faults and the label delays, so a scenario that touches
one of them leaves the others unchanged.

Labels are foldered by arrival hour and written only if they arrive before the end of the
simulated window; labels of predictions made before ``start`` are not simulated.
"""

import datetime as dt
import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelmon_dagster.config import FeatureType, ModelConfig, MonitoringConfig, Task
from modelmon_dagster.logformat import (
    CLOSED_SUFFIX,
    LABELS,
    OPEN_SUFFIX,
    PREDICTIONS,
    format_timestamp,
    hour_folder,
)
from modelmon_dagster.registry.serving import ServingPlan, read_serving_plan
from modelmon_dagster.sim.processes import US_PER_HOUR, FeatureFrame, Process, choose, process_for
from modelmon_dagster.sim.scenarios import (
    ConceptDrift,
    ErrorBurst,
    FeatureDrift,
    LabelDrift,
    LatencySpike,
    MalformedLines,
    Scenario,
    SchemaBreak,
    VolumeDrop,
    to_us,
)
from modelmon_dagster.sim.serving import SimulatedServer

WRITER_ID = "sim"
REFERENCE_DAYS = 7
# Seeds the reference data in place of an hour index (an hour far beyond any simulation).
REFERENCE_STREAM = 2**31 - 1
NON_JSON_LINES = (
    "Traceback (most recent call last):",
    "ERROR worker-3: connection reset by peer",
    "<html><body><h1>502 Bad Gateway</h1></body></html>",
    "WARN dropped record: queue full",
)
_EPOCH = dt.datetime(1970, 1, 1)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class ModelSimulation:
    """What was written for one model.

    Attributes
    ----------
    model_name, model_version : str
        The model and the version that served the last predictions of the window.
    hours : int
        Hours simulated.
    predictions : int
        Valid prediction records written (malformed lines excluded).
    labels : int
        Label records written to the label log (arrived before the end).
    malformed_lines : int
        Broken lines injected into the prediction log.
    schema_broken : int
        Prediction records with at least one injected feature-schema problem.
    files : int
        Log files written (prediction and label files; reference files not included).
    reference_predictions, reference_labels : int
        Records in the reference files.
    malformed_by_hour, schema_broken_by_hour : tuple of (datetime, int)
        The two fault counts per prediction hour, hours without faults left out.
    served_versions : tuple of str
        Every version that answered a request of the window, in order of first use.
    """

    model_name: str
    model_version: str
    hours: int
    predictions: int
    labels: int
    malformed_lines: int
    schema_broken: int
    files: int
    reference_predictions: int
    reference_labels: int
    malformed_by_hour: tuple[tuple[dt.datetime, int], ...] = ()
    schema_broken_by_hour: tuple[tuple[dt.datetime, int], ...] = ()
    served_versions: tuple[str, ...] = ()

    def malformed_in(self, hour: dt.datetime) -> int:
        """Malformed lines injected into the prediction file of ``hour``."""
        return dict(self.malformed_by_hour).get(hour, 0)

    def schema_broken_in(self, hour: dt.datetime) -> int:
        """Schema-broken records in the prediction file of ``hour``."""
        return dict(self.schema_broken_by_hour).get(hour, 0)


@dataclass(frozen=True)
class SimulationSummary:
    """Result of :func:`simulate`: the window, the seed and per-model counts."""

    start: dt.datetime
    end: dt.datetime
    seed: int
    data_dir: Path
    models: tuple[ModelSimulation, ...]

    def model(self, name: str) -> ModelSimulation:
        """Return the counts of model ``name``."""
        for m in self.models:
            if m.model_name == name:
                return m
        raise KeyError(name)

    def format(self) -> str:
        """Render the counts as a plain-text table."""
        head = (
            f"simulated {self.start:%Y-%m-%d %H:%M} -> {self.end:%Y-%m-%d %H:%M} UTC, "
            f"seed {self.seed}, into {self.data_dir}"
        )
        cols = (
            "model",
            "version",
            "hours",
            "predictions",
            "labels",
            "malformed",
            "schema_broken",
            "files",
            "reference",
        )
        rows = [
            (
                m.model_name,
                "/".join(m.served_versions) or m.model_version,
                m.hours,
                m.predictions,
                m.labels,
                m.malformed_lines,
                m.schema_broken,
                m.files,
                f"{m.reference_predictions}/{m.reference_labels}",
            )
            for m in self.models
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows, strict=True)]
        lines = [
            head,
            "  ".join(str(c).ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip(),
        ]
        lines += [
            "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        ]
        return "\n".join(lines)


@dataclass
class _Batch:
    lines: list[str]
    malformed: int
    schema_broken: int
    label_arrival_us: np.ndarray
    label_lines: list[str]
    predictions: int
    versions: tuple[str, ...] = ()  # versions that answered, in order of first use


def _naive(ts: dt.datetime) -> dt.datetime:
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts


def format_us(us: np.ndarray) -> list[str]:
    """Timestamps (microseconds since the epoch) as ``logformat.format_timestamp`` text."""
    us = np.asarray(us, dtype=np.int64)
    hours = us // US_PER_HOUR
    rem = us - hours * US_PER_HOUR
    minute = (rem // 60_000_000).tolist()
    second = ((rem // 1_000_000) % 60).tolist()
    micro = (rem % 1_000_000).tolist()
    prefixes: dict[int, str] = {}
    out = []
    for h, m, s, u in zip(hours.tolist(), minute, second, micro, strict=True):
        prefix = prefixes.get(h)
        if prefix is None:
            prefix = format_timestamp(_EPOCH + dt.timedelta(hours=h))[:14]
            prefixes[h] = prefix
        out.append(f"{prefix}{m:02d}:{s:02d}.{u:06d}Z")
    return out


def _check_model(process: Process, model: ModelConfig) -> None:
    for feat in model.features:
        try:
            kind = process.feature_type(feat.name)
        except KeyError:
            raise ValueError(
                f"{model.name}: feature {feat.name!r} is not simulated; "
                f"known: {[*process.numeric, *process.categorical]}"
            ) from None
        if kind != feat.type.value:
            raise ValueError(f"{model.name}: feature {feat.name!r} is {kind} in the simulation")
    if process.classification != model.task.is_classification:
        raise ValueError(f"{model.name}: the simulation does not match task {model.task.value}")
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        raise ValueError(f"{model.name}: multiclass models are not simulated")


def _check_scenarios(process: Process, model: ModelConfig, scenarios: list[Scenario]) -> None:
    known = (
        ConceptDrift,
        ErrorBurst,
        FeatureDrift,
        LabelDrift,
        LatencySpike,
        MalformedLines,
        SchemaBreak,
        VolumeDrop,
    )
    logged = {f.name: f for f in model.features}
    for s in scenarios:
        if not isinstance(s, known):
            raise TypeError(f"unknown scenario {s!r}")
        if isinstance(s, FeatureDrift):
            try:
                kind = process.feature_type(s.feature)
            except KeyError:
                raise ValueError(f"{s!r}: {model.name} has no feature {s.feature!r}") from None
            if kind == "numeric" and s.category_weights is not None:
                raise ValueError(f"{s!r}: category_weights on numeric feature {s.feature!r}")
            if kind == "categorical":
                if s.scale != 1.0 or s.shift != 0.0:
                    raise ValueError(f"{s!r}: scale/shift on categorical feature {s.feature!r}")
                unknown = {c for c, _ in s.category_weights or ()} - set(
                    process.categorical[s.feature]
                )
                if unknown:
                    raise ValueError(f"{s!r}: unknown categories {sorted(unknown)}")
        if isinstance(s, SchemaBreak):
            if s.feature not in logged:
                raise ValueError(f"{s!r}: {model.name} logs no feature {s.feature!r}")
            if s.mode == "string" and logged[s.feature].type is not FeatureType.NUMERIC:
                raise ValueError(f"{s!r}: mode 'string' needs a numeric feature")


def _of(scenarios: Sequence[Scenario], kind: type) -> list:
    return [s for s in scenarios if isinstance(s, kind)]


def _served_mask(scenario, ts_us: np.ndarray, versions: np.ndarray) -> np.ndarray:
    """The scenario's time window, narrowed to one served version when it names one."""
    inside = scenario.mask(ts_us)
    if scenario.version is not None:
        inside &= versions == scenario.version
    return inside


def _features(
    process: Process,
    ts_us: np.ndarray,
    feat_rng: np.random.Generator,
    scenarios: Sequence[Scenario],
) -> FeatureFrame:
    """The inputs of the requests at ``ts_us``, with data drift."""
    drifts = _of(scenarios, FeatureDrift)
    weights: dict[str, np.ndarray] = {}
    for s in drifts:
        if s.category_weights is None:
            continue
        p = s.progress(ts_us)
        if not p.any():
            continue
        named = dict(s.category_weights)
        w = np.array([named.get(c, 1.0) for c in process.categorical[s.feature]])
        weights[s.feature] = weights.get(s.feature, 1.0) * (1.0 + p[:, None] * (w[None, :] - 1.0))
    frame = process.sample_features(feat_rng, ts_us, weights)
    for s in drifts:
        if s.category_weights is not None or (s.scale == 1.0 and s.shift == 0.0):
            continue
        p = s.progress(ts_us)
        if p.any():
            frame[s.feature] = frame[s.feature] * (1.0 + p * (s.scale - 1.0)) + p * s.shift
    return process.finalize(frame)


@dataclass
class _Hour:
    """One simulated hour's requests before serving: times, random streams and inputs."""

    ts_us: np.ndarray
    streams: Sequence[np.random.Generator]
    frame: FeatureFrame


def _serve_hours(server: SimulatedServer, hours: Sequence[_Hour]) -> list[tuple]:
    """``(versions, output)`` of each hour, every version asked once for all the hours.

    A trained model predicts far faster on one large batch than on many hourly ones, and each
    row's answer does not depend on the other rows of its batch.
    """
    if not hours:
        return []
    ts_us = np.concatenate([h.ts_us for h in hours])
    frame = {name: np.concatenate([h.frame[name] for h in hours]) for name in hours[0].frame}
    versions, output = server.serve(frame, ts_us)
    bounds = np.cumsum([h.ts_us.size for h in hours])[:-1]
    return list(zip(np.split(versions, bounds), np.split(output, bounds), strict=True))


def _positive_negative(model: ModelConfig) -> tuple[str, str]:
    positive = model.positive_class
    return positive, next(c for c in model.classes if c != positive)


def _render_predictions(
    process: Process,
    model: ModelConfig,
    frame: FeatureFrame,
    ids: list[str],
    version_list: list[str],
    ts_us: np.ndarray,
    output: np.ndarray,
    ok: np.ndarray,
    ops: dict[str, list],
    breaks: list[tuple[SchemaBreak, list[int]]],
) -> list[str]:
    """The prediction log lines of an hour's requests (JSON, one per request)."""
    n = len(ids)
    # Model outputs as JSON values (null on failed requests).
    if model.task.is_classification:
        positive, negative = _positive_negative(model)
        score = np.round(output, 6)
        rest = np.round(1.0 - score, 6)
        predicted = np.where(score >= 0.5, positive, negative).tolist()
        first, second = model.classes
        pairs = zip(score.tolist(), rest.tolist(), strict=True)
        if first == negative:
            probabilities = [{first: r, second: s} for s, r in pairs]
        else:
            probabilities = [{first: s, second: r} for s, r in pairs]
        scores = score.tolist()
    else:
        predicted = np.round(output, 2).tolist()
        scores = [None] * n
        probabilities = [None] * n
    ok_list = ok.tolist()

    # Features as logged, with optional keys absent and injected schema problems.
    names = tuple(f.name for f in model.features)
    values = process.feature_values(frame, names)
    features = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]
    for name in names:
        if name in process.optional:
            for i in np.flatnonzero(frame[name] < 0).tolist():
                del features[i][name]
    for s, rows in breaks:
        for i in rows:
            if s.mode == "missing":
                features[i].pop(s.feature, None)
            elif s.mode == "null":
                features[i][s.feature] = None
            else:
                features[i][s.feature] = s.text
    timestamps = format_us(ts_us)
    encode = _ENCODER.encode
    lines = []
    for i in range(n):
        good = ok_list[i]
        record = {
            "prediction_id": ids[i],
            "model_name": model.name,
            "model_version": version_list[i],
            "timestamp": timestamps[i],
            "features": features[i],
            "prediction": predicted[i] if good else None,
            "score": scores[i] if good else None,
            "probabilities": probabilities[i] if good else None,
            "latency_ms": ops["latency_ms"][i],
            "status": ops["status"][i],
            "error_type": ops["error_type"][i],
            "host": {
                "cpu_pct": ops["cpu_pct"][i],
                "memory_mb": ops["memory_mb"][i],
                "gpu_pct": None,
            },
        }
        lines.append(encode(record) + "\n")
    return lines


def _generate(
    process: Process,
    model: ModelConfig,
    hour: _Hour,
    served: tuple[np.ndarray, np.ndarray | None],
    scenarios: Sequence[Scenario],
    end_us: int | None,
) -> _Batch:
    """Simulate the requests of ``hour`` and render their log lines.

    ``served`` is the version and output of each request; with output None the prediction lines
    are not rendered (an hour before a resimulation's ``since``: only its labels are needed).
    """
    ts_us, frame = hour.ts_us, hour.frame
    id_rng, _feat_rng, out_rng, ops_rng, fault_rng, label_rng = hour.streams
    n = int(ts_us.size)
    ids_hex = id_rng.bytes(16 * n).hex()
    ids = [ids_hex[i : i + 32] for i in range(0, 32 * n, 32)]
    versions, output = served
    render = output is not None

    # The truth and the model.
    concept = np.zeros(n)
    for s in _of(scenarios, ConceptDrift):
        concept = np.maximum(concept, s.strength * s.mask(ts_us))
    logit_shift, outcome_scale = np.zeros(n), np.ones(n)
    for s in _of(scenarios, LabelDrift):
        m = s.mask(ts_us)
        logit_shift = logit_shift + s.logit_shift * m
        outcome_scale = outcome_scale * np.where(m, s.outcome_scale, 1.0)
    truth = process.outcome(out_rng, frame, concept, logit_shift, outcome_scale)
    version_list = versions.tolist()

    # Operations: latency, status, host.
    ops = process.operations(ops_rng, ts_us)
    spike = np.ones(n)
    for s in _of(scenarios, LatencySpike):
        spike = spike * np.where(_served_mask(s, ts_us, versions), s.factor, 1.0)
    latency = ops.latency_ms * spike
    cpu = np.clip(ops.cpu_pct + 8.0 * np.log(spike), 1.0, 100.0)
    prof = process.ops
    error = ops.u_status < prof.error_rate
    timeout = ~error & (ops.u_status < prof.error_rate + prof.timeout_rate)
    burst_rate, burst_timeouts = np.zeros(n), np.zeros(n)
    for s in _of(scenarios, ErrorBurst):
        m = _served_mask(s, ts_us, versions)
        burst_rate = np.where(m, 1.0 - (1.0 - burst_rate) * (1.0 - s.rate), burst_rate)
        burst_timeouts = np.where(m, np.maximum(burst_timeouts, s.timeout_share), burst_timeouts)
    hit = ops.u_burst < burst_rate
    burst_timeout = hit & (ops.u_timeout < burst_timeouts)
    timeout |= burst_timeout
    error = (error | (hit & ~burst_timeout)) & ~timeout
    ok = ~(error | timeout)
    latency = np.where(error, 0.5 * latency, latency)
    latency = np.where(timeout, prof.timeout_ms * (1.0 + 0.05 * ops.u_timeout_latency), latency)
    statuses = np.array(["ok", "error", "timeout"], dtype=object)[error + 2 * timeout].tolist()
    type_codes = np.minimum(
        (ops.u_type * len(prof.error_types)).astype(int), len(prof.error_types) - 1
    )
    error_types = np.array([*prof.error_types, "TimeoutError", None], dtype=object)
    type_index = np.where(error, type_codes, np.where(timeout, len(prof.error_types), -1))
    error_type_list = error_types[type_index].tolist()

    # Injected schema problems (rows chosen even when the lines are not rendered).
    u_malformed = fault_rng.random(n)
    kinds = fault_rng.integers(0, 3, n).tolist()
    cuts = fault_rng.random(n).tolist()
    breaks = []
    broken = np.zeros(n, dtype=bool)
    for s in _of(scenarios, SchemaBreak):
        sel = s.mask(ts_us) & (fault_rng.random(n) < s.fraction)
        breaks.append((s, np.flatnonzero(sel).tolist()))
        broken |= sel
    lines = []
    if render:
        ops_lists = {
            "status": statuses,
            "error_type": error_type_list,
            "latency_ms": np.round(latency, 3).tolist(),
            "cpu_pct": np.round(cpu, 1).tolist(),
            "memory_mb": np.round(ops.memory_mb, 1).tolist(),
        }
        lines = _render_predictions(
            process, model, frame, ids, version_list, ts_us, output, ok, ops_lists, breaks
        )

    # Malformed lines: the record is lost, the line is garbage.
    malformed_rate = np.zeros(n)
    for s in _of(scenarios, MalformedLines):
        malformed_rate = np.where(
            s.mask(ts_us), 1.0 - (1.0 - malformed_rate) * (1.0 - s.fraction), malformed_rate
        )
    bad = np.flatnonzero(u_malformed < malformed_rate).tolist()
    for i in bad if render else ():
        text = lines[i][:-1]
        if kinds[i] == 0:
            text = text[: max(1, int(len(text) * (0.2 + 0.6 * cuts[i])))]
        elif kinds[i] == 1:
            text = NON_JSON_LINES[min(int(cuts[i] * len(NON_JSON_LINES)), len(NON_JSON_LINES) - 1)]
        else:
            text = f"[{text}]"
        lines[i] = text + "\n"
    schema_broken = broken.copy()
    schema_broken[bad] = False

    # Labels of successful requests, unless they never arrive or arrive after the end.
    u_missing = label_rng.random(n)
    delays = process.label_delays(label_rng, n, model.label_delay)
    arrival = ts_us + np.round(delays * US_PER_HOUR).astype(np.int64)
    has = ok & (u_missing >= process.label_missing_rate)
    if end_us is not None:
        has &= arrival < end_us
    keep = np.flatnonzero(has)
    if model.task.is_classification:
        positive, negative = _positive_negative(model)
        label_values = np.where(truth[keep], positive, negative).tolist()
    else:
        label_values = truth[keep].astype(float).tolist()
    label_ts = format_us(arrival[keep])
    encode = _ENCODER.encode
    label_lines = [
        encode(
            {
                "prediction_id": ids[i],
                "model_name": model.name,
                "label": value,
                "label_timestamp": ts,
            }
        )
        + "\n"
        for i, value, ts in zip(keep.tolist(), label_values, label_ts, strict=True)
    ]
    return _Batch(
        lines=lines,
        malformed=len(bad),
        schema_broken=int(schema_broken.sum()),
        label_arrival_us=arrival[keep],
        label_lines=label_lines,
        predictions=n - len(bad),
        versions=tuple(dict.fromkeys(version_list)),
    )


def _write_file(path: Path, lines: list[str]) -> None:
    """Write through a hidden ``.open`` file and rename, as the SDK writer does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.removesuffix(CLOSED_SUFFIX)
    tmp = path.with_name(f".{name}{OPEN_SUFFIX}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(lines))
    os.replace(tmp, path)


def _clear_folder(folder: Path) -> None:
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() or p.is_symlink():
                p.unlink()


def _prune_folder(folder: Path) -> None:
    """Remove an hour folder (and its day folder) left empty."""
    for f in (folder, folder.parent):
        try:
            f.rmdir()
        except OSError:
            return


def _simulate_model(
    process: Process,
    model: ModelConfig,
    server: SimulatedServer,
    scenarios: list[Scenario],
    data_dir: Path,
    start: dt.datetime,
    hours: int,
    seed: int,
    reference_size: int,
    since: dt.datetime | None = None,
) -> ModelSimulation:
    logs_root = data_dir / "logs"
    model_index = zlib.crc32(model.name.encode())
    start_us = to_us(start)
    end_us = start_us + hours * US_PER_HOUR
    hour_starts = [start + dt.timedelta(hours=h) for h in range(hours)]
    folders = [
        hour_folder(logs_root, stream, model.name, hour)
        for hour in hour_starts
        if since is None or hour >= since
        for stream in (PREDICTIONS, LABELS)
    ]
    for folder in folders:
        _clear_folder(folder)

    volume_drops = _of(scenarios, VolumeDrop)
    requests = []
    for h, hour in enumerate(hour_starts):
        hour_us = start_us + h * US_PER_HOUR
        rng = np.random.default_rng([seed, model_index, hour_us // US_PER_HOUR])
        vol_rng, ts_rng, *streams = rng.spawn(8)
        factor = 1.0
        for s in volume_drops:
            share = s.overlap(hour)
            factor *= 1.0 - share + share * s.factor
        n = int(vol_rng.poisson(process.hourly_rate(hour.hour) * factor))
        ts_us = hour_us + np.sort(ts_rng.integers(0, US_PER_HOUR, n))
        requests.append(_Hour(ts_us, streams, _features(process, ts_us, streams[1], scenarios)))
    first = sum(1 for hour in hour_starts if since is not None and hour < since)
    answers = [(server.versions_at(r.ts_us), None) for r in requests[:first]] + _serve_hours(
        server, requests[first:]
    )

    files = predictions = malformed = broken = 0
    malformed_by_hour, broken_by_hour = [], []
    arrivals, label_lines = [], []
    served: dict[str, None] = {}
    for hour, request, answer in zip(hour_starts, requests, answers, strict=True):
        batch = _generate(process, model, request, answer, scenarios, end_us)
        served.update(dict.fromkeys(batch.versions))
        if batch.lines:
            folder = hour_folder(logs_root, PREDICTIONS, model.name, hour)
            _write_file(folder / f"{WRITER_ID}{CLOSED_SUFFIX}", batch.lines)
            files += 1
        predictions += batch.predictions
        malformed += batch.malformed
        broken += batch.schema_broken
        if batch.malformed:
            malformed_by_hour.append((hour, batch.malformed))
        if batch.schema_broken:
            broken_by_hour.append((hour, batch.schema_broken))
        arrivals.append(batch.label_arrival_us)
        label_lines.extend(batch.label_lines)

    arrival = np.concatenate(arrivals) if arrivals else np.zeros(0, dtype=np.int64)
    order = np.argsort(arrival, kind="stable")
    arrival_hour = arrival[order] // US_PER_HOUR
    bounds = np.flatnonzero(np.diff(arrival_hour)) + 1
    for chunk in np.split(order, bounds):
        if chunk.size == 0:
            continue
        hour = _EPOCH + dt.timedelta(hours=int(arrival[chunk[0]] // US_PER_HOUR))
        if since is not None and hour < since:
            continue  # written by the run this one resimulates from ``since``
        folder = hour_folder(logs_root, LABELS, model.name, hour)
        _write_file(folder / f"{WRITER_ID}{CLOSED_SUFFIX}", [label_lines[i] for i in chunk])
        files += 1
    for folder in folders:
        _prune_folder(folder)

    ref_predictions = ref_labels = 0
    if reference_size > 0:
        ref_predictions, ref_labels = _write_reference(
            process, model, data_dir, start, seed, model_index, reference_size
        )
    return ModelSimulation(
        model_name=model.name,
        model_version=next(reversed(served), model.baseline.model_version),
        hours=hours,
        predictions=predictions,
        labels=len(label_lines),
        malformed_lines=malformed,
        schema_broken=broken,
        files=files,
        reference_predictions=ref_predictions,
        reference_labels=ref_labels,
        malformed_by_hour=tuple(malformed_by_hour),
        schema_broken_by_hour=tuple(broken_by_hour),
        served_versions=tuple(served),
    )


def _write_reference(
    process: Process,
    model: ModelConfig,
    data_dir: Path,
    start: dt.datetime,
    seed: int,
    model_index: int,
    size: int,
) -> tuple[int, int]:
    """Scenario-free records of the baseline version in the week before ``start``."""
    rng = np.random.default_rng([seed, model_index, REFERENCE_STREAM])
    hour_rng, ts_rng, *streams = rng.spawn(8)
    ref_start_us = to_us(start - dt.timedelta(days=REFERENCE_DAYS))
    n_hours = REFERENCE_DAYS * 24
    hour_of_day = (ref_start_us // US_PER_HOUR + np.arange(n_hours)) % 24
    hours = choose(hour_rng.random(size), process.diurnal(hour_of_day))
    ts_us = np.sort(ref_start_us + hours * US_PER_HOUR + ts_rng.integers(0, US_PER_HOUR, size))
    server = SimulatedServer(process, model)  # the baseline version, built in
    request = _Hour(ts_us, streams, _features(process, ts_us, streams[1], []))
    batch = _generate(process, model, request, server.serve(request.frame, ts_us), [], None)
    _write_file(data_dir / model.baseline.reference_predictions, batch.lines)
    if model.baseline.reference_labels is None:
        return len(batch.lines), 0
    _write_file(data_dir / model.baseline.reference_labels, batch.label_lines)
    return len(batch.lines), len(batch.label_lines)


def simulate(
    config: MonitoringConfig,
    data_dir: Path,
    start: dt.datetime,
    days: int,
    seed: int = 42,
    scenarios: list | None = None,
    reference_size: int = 20000,
    serving: Mapping[str, ServingPlan] | None = None,
    hours: int | None = None,
    since: dt.datetime | None = None,
) -> SimulationSummary:
    """Simulate ``days`` days of prediction and label logs of every model in ``config``.

    Writes, per model:

    * ``{data_dir}/logs/predictions/{model}/{day}/{HH}/sim.jsonl`` for each hour of
      ``[start, start + days)``, timestamps inside the hour and sorted;
    * ``{data_dir}/logs/labels/{model}/{day}/{HH}/sim.jsonl`` by label *arrival* hour, for the
      labels that arrive before ``start + days`` (labels of failed requests never exist, some
      labels never arrive; see the model's world in :mod:`modelmon_dagster.sim.processes`);
    * the reference data ``{data_dir}/{baseline.reference_predictions}`` and
      ``{data_dir}/{baseline.reference_labels}``: ``reference_size`` scenario-free records of the
      baseline version time-stamped in the 7 days before ``start`` (with the normal background
      error rate) and their labels, without the arrival cut-off (0 skips the reference).

    Each request is answered by the version the model registry had as champion at the
    request's time: ``serving`` gives each model's plan, and by default the plan the registry
    published under ``{data_dir}/registry/serving/`` is read
    (:func:`modelmon_dagster.registry.serving.read_serving_plan`; no warehouse access). Before
    the plan's first activation, or without a plan, the baseline's version serves. A version
    trained by the retrain job is loaded from its artifact and predicts on the logged features.

    Rerunning is idempotent: every file already in the hour folders of the window (both
    streams, any writer) is deleted first, so the simulator owns those folders.

    Parameters
    ----------
    config : MonitoringConfig
        The monitored models; each needs a simulated world (``fraud_detector``,
        ``demand_forecaster``).
    data_dir : Path
        The data folder (logs go to ``{data_dir}/logs``).
    start : datetime
        First simulated hour (naive UTC, on a whole hour).
    days : int
        Days to simulate (at least 1).
    seed : int, default 42
        Non-negative seed; the same arguments give byte-identical files.
    scenarios : list of Scenario, optional
        Scenario switches (see :mod:`modelmon_dagster.sim.scenarios`); those naming a model not
        in ``config`` are ignored. None means a clean simulation.
    reference_size : int, default 20000
        Records in each model's reference file.
    serving : mapping of str to ServingPlan, optional
        Per model, the champion over time (overrides the published plans; a model left out
        serves its baseline version).
    hours : int, optional
        Simulate this many hours instead of ``days`` whole days (the live simulator: the hours
        up to the current one, labels arriving before its end).
    since : datetime, optional
        Rewrite only the files of the hours from ``since`` on (prediction files of those hours,
        label files by arrival hour), leaving earlier hours' files as an earlier run with the
        same arguments wrote them: after the serving plan changes at ``since``, the files are
        then exactly those of a whole new run, at a fraction of its cost (earlier hours are
        still simulated for the labels they send into later hours, but not served or rendered).

    Returns
    -------
    SimulationSummary
        Per-model counts.

    Raises
    ------
    ValueError
        On a bad window, seed, served version or scenario.
    """
    start = _naive(start)
    if start != start.replace(minute=0, second=0, microsecond=0):
        raise ValueError(f"start {start} is not on a whole hour")
    if days < 1:
        raise ValueError("days must be at least 1")
    hours = days * 24 if hours is None else hours
    if hours < 1:
        raise ValueError("hours must be at least 1")
    if seed < 0:
        raise ValueError("seed must not be negative")
    if reference_size < 0:
        raise ValueError("reference_size must not be negative")
    data_dir = Path(data_dir)
    scenarios = list(scenarios or [])
    plans = []
    for model in config.models:
        process = process_for(model.name)
        _check_model(process, model)
        if serving is None:
            plan = read_serving_plan(data_dir, model.name)
        else:
            plan = serving.get(model.name)
        server = SimulatedServer(process, model, plan)
        mine = [s for s in scenarios if s.model_name == model.name]
        _check_scenarios(process, model, mine)
        plans.append((process, model, server, mine))
    results = tuple(
        _simulate_model(
            process, model, server, mine, data_dir, start, hours, seed, reference_size, since
        )
        for process, model, server, mine in plans
    )
    return SimulationSummary(
        start=start,
        end=start + dt.timedelta(hours=hours),
        seed=seed,
        data_dir=data_dir,
        models=results,
    )
