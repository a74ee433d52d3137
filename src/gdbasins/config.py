"""The study configuration: defaults from the schema, checks the schema cannot express, and the
expansion into jobs. The Snakefile validates against the JSON Schema first
(``snakemake.utils.validate``); :func:`resolve` then completes and checks the rest, before any job
runs, and raises :class:`ConfigError` naming the key, what was expected and what was got.
"""

from __future__ import annotations

import copy
import inspect
import math
import unicodedata
from pathlib import Path

import yaml

from . import tables
from .cost import MEMORY_VAR, job_memory, memory_limit
from .datasets import GENERATORS, generate
from .endpoints import TRAINING_TOLERANCES
from .network import Network, network_from
from .train import VARIANTS, batch_size_for

__all__ = ["ConfigError", "SCHEMA", "load_schema", "load_config", "validate", "resolve", "eta_label",
           "DEFAULT_MINIBATCH", "check_time", "study_cpu_seconds"]

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def load_schema(path=SCHEMA) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


#: The mini-batch size when the config sets none: this, or half the training samples of a
#: dataset with fewer than twice as many (XOR's 4 samples: 2), so that mini-batch stays apart from
#: full batch.
DEFAULT_MINIBATCH = 16


class _StrictLoader(yaml.SafeLoader):
    """YAML as ``yaml.safe_load`` reads it, except that a key given twice in one mapping is an
    error instead of the last one silently winning (a second ``xor:`` replacing the first)."""


def _mapping(loader, node):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice in one mapping "
                              f"(first on line {seen[key] + 1}); YAML would keep only the last, remove one")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_config(path) -> dict:
    """The config file ``path``, refusing duplicate keys; raises :class:`ConfigError` naming the
    file (a missing or unreadable file, YAML that does not parse, a duplicate key)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r}: cannot be read ({exc.strerror})") from None
    try:
        config = yaml.load(text, Loader=_StrictLoader)
    except ConfigError as exc:
        raise ConfigError(f"config file {str(path)!r}, {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {str(path)!r}{where}: not valid YAML "
                          f"({getattr(exc, 'problem', None) or exc})") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"config file {str(path)!r}: must hold a mapping of settings. "
                          f"Got a {type(config).__name__} instead.")
    return config


def _strict_validator(schema):
    """A JSON-Schema validator for which an integer is an ``int``: the standard counts 30.0 as one,
    and ``epochs: 30.0`` would then fail only inside the jobs."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(base, type_checker=checker)(schema)


def _check_values(node, path=()) -> None:
    """What the schema lets through anywhere in the config: a NaN or infinite number (YAML's
    ``.nan``, ``.inf``), and a key or text with a control character (a name ending in a newline
    passes a ``^...$`` pattern)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        here = (*path, k)
        key = _key(here)
        for text in (k, v):
            if isinstance(text, str) and any(unicodedata.category(c) == "Cc" for c in text):
                what = "key" if text is k else "value"
                raise ConfigError(f"config key {key!r}: the {what} {text!r} holds a control character "
                                  "(a newline, tab, ...); names and values must be plain text")
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"config key {key!r}: must be a finite number. Got {v!r} instead.")
        _check_values(v, here)


def _key(path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(top level)"


def validate(config: dict, schema_path=SCHEMA) -> dict:
    """JSON-Schema validation with defaults filled in (what ``snakemake.utils.validate`` does),
    for use outside Snakemake; raises :class:`ConfigError` with the failing key."""
    if not isinstance(config, dict):
        raise ConfigError(f"the config must be a mapping of settings. Got {type(config).__name__} instead.")
    _check_values(config)
    schema = load_schema(schema_path)
    errors = sorted(_strict_validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        raise ConfigError(_message(errors[0]))
    config = copy.deepcopy(config)
    for k, spec in schema["properties"].items():
        config.setdefault(k, copy.deepcopy(spec.get("default")))
    return config


def _message(error) -> str:
    """One line naming the offending key: ``config key 'variants.sgd[1]': <what is wrong>``; an
    unknown key is named itself, with the keys allowed there."""
    path = list(error.path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in known]
        if unknown:
            path.append(unknown[0])
            message = f"unknown key ({unknown[0]!r} was unexpected); expected one of {known}"
    if error.validator == "type" and isinstance(error.instance, str) and _looks_numeric(error.instance):
        # YAML 1.1 reads 1e-2 as text: its numbers need a dot before the exponent
        mantissa, _, exponent = error.instance.lower().partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        message += f" (YAML reads {error.instance} as text; write {mantissa}e{exponent} for the number)"
    elif error.validator == "type" and error.validator_value == "integer" and isinstance(error.instance, float) \
            and error.instance.is_integer():
        message += f" (a count: write {int(error.instance)}, without the decimal point)"
    return f"config key {_key(path)!r}: {message}"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "e" in text.lower()


def eta_label(eta: float) -> str:
    """The canonical text of a learning rate in paths and job keys (``repr`` of the float)."""
    return repr(float(eta))


def _defaults(schema: dict, spec: dict) -> dict:
    return {k: copy.deepcopy(v["default"]) for k, v in spec["properties"].items() if "default" in v}


def resolve(config: dict, schema_path=SCHEMA) -> dict:
    """Complete a schema-valid config and check what the schema cannot. Returns
    ``{"datasets": {name: dataset spec with every default}, "jobs": [job, ...]}`` where each job
    is the dict :func:`gdbasins.job.run_job` takes, plus ``key`` (``study/dataset/variant/eta=..``)."""
    schema = load_schema(schema_path)
    dataset_spec = schema["$defs"]["dataset"]
    net_spec = dataset_spec["properties"]["network"]
    tolerances = dict(_defaults(schema, schema["properties"]["tolerances"]), **(config.get("tolerances") or {}))
    certification = dict(_defaults(schema, schema["properties"]["certification"]), **(config.get("certification") or {}))
    datasets, jobs = {}, []
    for name, raw in config["datasets"].items():
        where = f"datasets.{name}"
        ds = dict(_defaults(schema, dataset_spec), **raw)
        ds["network"] = dict(_defaults(schema, net_spec), **(raw.get("network") or {}))
        ds.setdefault("epochs", config["epochs"])
        ds.setdefault("seeds", config["seeds"])
        n_train, n_test = _check_generator(where, ds)
        ds.setdefault("minibatch_size", config.get("minibatch_size") or min(DEFAULT_MINIBATCH, max(1, n_train // 2)))
        net = _check_network(where, ds)
        _check_memory(where, raw, config, ds, net, n_train, n_test, certification)
        grids = dict(config["variants"], **ds["learning_rates"])
        for variant in VARIANTS:
            if variant not in grids:
                continue
            _check_rates(where, raw, variant, grids[variant])
            if variant == "minibatch" and ds["minibatch_size"] > n_train:
                key = f"{where}.minibatch_size" if "minibatch_size" in raw else "minibatch_size"
                raise ConfigError(
                    f"config key {key!r}: must be <= the {n_train} training samples of dataset "
                    f"{name!r}. Got {ds['minibatch_size']} instead.")
            for eta in grids[variant]:
                job = {
                    "study": config["study"], "dataset": name, "variant": variant, "eta": float(eta),
                    "seeds": ds["seeds"], "epochs": ds["epochs"], "minibatch_size": ds["minibatch_size"],
                    "network": ds["network"],
                    # only what training uses: a classification tolerance changed reruns no job
                    "tolerances": {k: tolerances[k] for k in TRAINING_TOLERANCES},
                    "certification": certification,
                    "batch_size": batch_size_for(variant, n_train, ds["minibatch_size"]),
                }
                job["key"] = f"{config['study']}/{name}/{variant}/eta={eta_label(eta)}"
                jobs.append(job)
        datasets[name] = ds
    extra = {k: dict(_defaults(schema, schema["properties"][k]), **(config.get(k) or {}))
             for k in ("escape_experiment", "minima")}
    return _canonical({"datasets": datasets, "jobs": jobs, "tolerances": tolerances, **extra})


#: CPU time above which a study is refused (an absurd one: a typo, not a plan), and above which
#: the workflow warns before it starts.
REFUSE_SECONDS, WARN_SECONDS = 365 * 86400, 86400


def study_cpu_seconds(resolved: dict) -> dict[str, float]:
    """Estimated CPU seconds of each dataset's jobs (:func:`gdbasins.cost.study_seconds`, a model
    fitted to the per-job CPU times of the default study on this project's 2-core machine)."""
    from .cost import study_seconds

    out = {}
    for name, ds in resolved["datasets"].items():
        part = dict(resolved, datasets={name: ds}, jobs=[j for j in resolved["jobs"] if j["dataset"] == name])
        out[name] = sum(study_seconds(part, 1)["cpu"].values())
    return out


def check_time(resolved: dict, config: dict, cores: int | None = 1) -> str | None:
    """Refuse a study estimated at more than a year of CPU time (:func:`study_cpu_seconds`),
    naming the key to lower; return a warning line above a day, else ``None``. Separate from
    :func:`resolve` (it generates every dataset again): the workflow runs it once per run.
    ``cores`` is ``None`` when the run has no core count (a cluster executor): the warning then
    gives the CPU time alone."""
    per_dataset = study_cpu_seconds(resolved)
    total = sum(per_dataset.values())
    if total > REFUSE_SECONDS:
        name = max(per_dataset, key=per_dataset.get)
        raw = config["datasets"][name]
        ds = resolved["datasets"][name]
        order = ("epochs", "seeds") if ds["epochs"] > ds["seeds"] else ("seeds", "epochs")
        keys = [f"datasets.{name}.{k}" if k in raw else k for k in order]
        raise ConfigError(
            f"config key {keys[0]!r}: the study would take about {total / REFUSE_SECONDS:.3g} years of CPU time "
            f"(dataset {name!r} alone {per_dataset[name] / REFUSE_SECONDS:.3g}: {ds['seeds']} seeds, {ds['epochs']} "
            "epochs; estimated by gdbasins.cost.study_seconds, from per-job costs measured on the default study); "
            "lower its seeds or epochs")
    if total > WARN_SECONDS:
        wall = "" if cores is None else (
            f", {total / 86400 / max(1, cores):.3g} days on {cores} core{'s' * (cores != 1)}")
        return (f"gdbasins: warning: this study would take about {total / 86400:.3g} days of CPU time{wall} "
                "(gdbasins.cost.study_seconds); check its seeds and epochs, or run it on a cluster")
    return None


#: How the result tables write a learning rate (``float_format`` of the CSVs).
RATE_FORMAT = "%.12g"


def _check_rates(where: str, raw: dict, variant: str, rates) -> None:
    """Two rates of one grid that the result tables would write as the same text (12 significant
    digits) would be merged there: refused."""
    key = f"{where}.learning_rates.{variant}" if variant in (raw.get("learning_rates") or {}) else f"variants.{variant}"
    seen = {}
    for eta in rates:
        text = RATE_FORMAT % eta
        if text in seen:
            raise ConfigError(f"config key {key!r}: the rates {seen[text]!r} and {eta!r} are the same to the 12 "
                              f"significant digits the result tables keep ({text}); remove one or make them differ "
                              "sooner")
        seen[text] = eta


def _canonical(obj):
    """Dicts with sorted keys, all the way down: the same config written in another key order
    gives the same job parameters (Snakemake reruns a job whose parameters changed)."""
    if isinstance(obj, dict):
        return {k: _canonical(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    return obj


def _check_generator(where: str, ds: dict) -> tuple[int, int]:
    if ds["generator"] == "file":
        return _check_file(where, ds)
    gen = GENERATORS[ds["generator"]]
    allowed = [p for p in inspect.signature(gen).parameters if p != "seed"]
    for key, value in ds["params"].items():
        if key not in allowed:
            raise ConfigError(f"config key '{where}.params.{key}': not a parameter of generator "
                              f"{ds['generator']!r}; expected one of {allowed}.")
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            raise ConfigError(f"config key '{where}.params.{key}': must be a number or a name. Got {value!r} instead.")
    p = ds["params"]
    if "n_samples" in p and (not isinstance(p["n_samples"], int) or p["n_samples"] < 4):
        raise ConfigError(f"config key '{where}.params.n_samples': must be an integer >= 4. Got {p['n_samples']!r} instead.")
    if "test_fraction" in p and not (0 <= p["test_fraction"] < 1):
        raise ConfigError(f"config key '{where}.params.test_fraction': must be in [0, 1). Got {p['test_fraction']!r} instead.")
    if "k" in p and not (isinstance(p["k"], int) and not isinstance(p["k"], bool) and p["k"] >= 1):
        raise ConfigError(f"config key '{where}.params.k': must be an integer >= 1 (the teacher's hidden units and "
                          f"the input dimension). Got {p['k']!r} instead.")
    for key in ("noise", "scale", "turns", "factor"):
        if key in p and not (isinstance(p[key], (int, float)) and p[key] >= 0):
            raise ConfigError(f"config key '{where}.params.{key}': must be a number >= 0. Got {p[key]!r} instead.")
    try:
        arrays, _ = generate(ds["generator"], p, ds["seed"])
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"config key '{where}.params': the generator refused them: {exc}") from None
    ds["_probe"] = arrays  # used by _check_network, then dropped
    return len(arrays["X_train"]), len(arrays.get("X_test", ()))


def _check_file(where: str, ds: dict) -> tuple[int, int]:
    """A user's table (the ``file`` generator; the schema has checked the params' types): the file
    is read here, before any job, and every refusal names the param at fault. With loss 'bce' the
    target must be 0/1 class labels; with 'mse' any finite number will do."""
    defaults = {k: v.default for k, v in inspect.signature(GENERATORS["file"]).parameters.items()
                if v.default is not inspect.Parameter.empty and k != "seed"}
    p = ds["params"] = dict(defaults, **ds["params"])  # recorded in full, however validation filled it
    try:
        _, y = tables.table_arrays(tables.read_table(p["path"]), p["features"], p["target"], p["path"])
        if ds["network"]["loss"] == "bce":
            tables.check_labels(y, p["target"], p["path"])
        arrays, info = generate("file", p, ds["seed"])
    except tables.TableError as exc:
        raise ConfigError(f"config key '{where}.params.{exc.param}': {exc}") from None
    ds["_probe"] = arrays  # used by _check_network, then dropped
    ds["source_sha256"] = info["source_sha256"]  # the file's content: a param of the dataset's job
    return len(arrays["X_train"]), len(arrays.get("X_test", ()))


def _check_memory(where, raw, config, ds, net, n_train, n_test, certification) -> None:
    """Refuse a dataset whose jobs would not fit in memory (:func:`gdbasins.cost.job_memory`)
    before any job starts, instead of a job killed by the kernel halfway."""
    parts = job_memory(net, n_train, n_test, seeds=ds["seeds"], epochs=ds["epochs"],
                       directions=certification["directions"])
    limit, source = memory_limit()
    total = sum(parts.values())
    if total <= limit:
        return
    # the history grows with seeds x epochs, the rest with seeds: name the larger factor of the larger part
    order = ("epochs", "seeds") if max(parts, key=parts.get) == "history" and ds["epochs"] > ds["seeds"] \
        else ("seeds", "epochs")
    keys = [f"{where}.{k}" if k in raw else k for k in order if k in raw or k in config] or [where]
    detail = ", ".join(f"{k} {v / 2**30:.3g} GiB" for k, v in parts.items())
    raise ConfigError(
        f"config key {keys[0]!r}: each job of dataset {where.split('.', 1)[1]!r} would need about "
        f"{total / 2**30:.3g} GiB ({detail}; {ds['seeds']} seeds, {ds['epochs']} epochs, {net.n_params} parameters), "
        f"more than the {limit / 2**30:.3g} GiB of {source}. Lower its seeds or epochs "
        f"(or set {MEMORY_VAR} to the memory of the machine the jobs run on).")


def _check_network(where: str, ds: dict) -> Network:
    arrays = ds.pop("_probe")
    spec = ds["network"]
    n_out = 1 if arrays["y_train"].ndim == 1 else arrays["y_train"].shape[1]
    try:
        net = network_from((arrays["X_train"].shape[1], *spec["hidden"], n_out), spec)
    except ValueError as exc:
        option = next((o for o in ("fixed_output", "bias") if f"'{o}'" in str(exc)), None)
        key = f"{where}.network" + (f".{option}" if option else "")
        raise ConfigError(f"config key '{key}': {exc}") from None
    y = arrays["y_train"]
    if spec["loss"] == "bce" and ((y < 0) | (y > 1)).any():
        raise ConfigError(f"config key '{where}.network.loss': 'bce' needs targets in [0, 1], but generator "
                          f"{ds['generator']!r} makes real-valued targets; use 'mse'.")
    return net
