"""Bad configs stop before any job runs, naming the key; nothing is written."""

import copy

import pytest

from gdbasins.config import ConfigError, resolve, validate
from helpers import smoke_config

GOOD = smoke_config()


def broken(path, value=None, delete=False):
    cfg = copy.deepcopy(GOOD)
    *parents, last = path
    node = cfg
    for p in parents:
        node = node[p]
    if delete:
        del node[last]
    else:
        node[last] = value
    return cfg


# (config, text the message must contain): each names the key and what was expected.
BAD = [
    (broken(["variants", "adam"], [0.1]), "'adam' was unexpected"),
    (broken(["datasets", "moons", "generator"], "mnist"), "'mnist' is not one of"),
    (broken(["datasets", "moons", "network", "activation"], "softsign"), "'softsign' is not one of"),
    (broken(["datasets", "moons", "network", "loss"], "hinge"), "'hinge' is not one of"),
    (broken(["variants", "sgd"], [0.1, -0.5]), "-0.5 is less than or equal to the minimum of 0"),
    (broken(["variants", "batch"], ["fast"]), "'fast' is not of type 'number'"),
    (broken(["seeds"], 0), "0 is less than the minimum of 1"),
    (broken(["seeds"], -3), "-3 is less than the minimum of 1"),
    (broken(["epochs"], 0), "0 is less than the minimum of 1"),
    (broken(["minibatch_size"], 1000), "'minibatch_size': must be <= the 45 training samples of dataset 'moons'"),
    (broken(["variants", "minibatch"], []), "should be non-empty"),
    (broken(["datasets"], {}), "should be non-empty"),
    (broken(["learning_rate"], 0.1), "'learning_rate' was unexpected"),
    (broken(["tolerances"], {"global_gap": -1e-4}), "-0.0001 is less than or equal to the minimum of 0"),
    (broken(["datasets", "../x"], {"generator": "xor"}), "'../x' does not match"),
    (broken(["datasets", "moons", "params", "nois"], 0.2), "'datasets.moons.params.nois': not a parameter of generator 'moons'"),
    (broken(["datasets", "teacher", "network"], {"hidden": [2], "loss": "bce", "output": "sigmoid"}),
     "'datasets.teacher.network.loss': 'bce' needs targets in [0, 1]"),
    (broken(["datasets", "moons", "network", "output"], "identity"), "'output' parameter must be 'sigmoid' with loss 'bce'"),
    (broken(["seeds"], "many"), "'many' is not of type 'integer'"),
    (broken(["tolerances"], {"arrival_band": 0}), "0 is less than or equal to the minimum of 0"),
    (broken(["tolerances"], {"arrival_band": -0.01}), "-0.01 is less than or equal to the minimum of 0"),
    (broken(["tolerances"], {"arrival_band": "wide"}), "'wide' is not of type 'number'"),
    (broken(["claims"], {"alpha": 1.5}), "1.5 is greater than or equal to the maximum of 1"),
    (broken(["claims"], {"margin": 0}), "0 is less than or equal to the minimum of 0"),
    (broken(["claims"], {"min_pairs": 1}), "1 is less than the minimum of 2"),
    (broken(["claims"], {"selection": "odd"}), "'selection' was unexpected"),
]


@pytest.mark.parametrize("cfg,message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_config_is_refused_with_the_key(cfg, message):
    with pytest.raises(ConfigError) as info:
        resolve(validate(cfg))
    assert message in str(info.value)


def test_good_config_expands_into_jobs():
    resolved = resolve(validate(GOOD))
    assert len(resolved["jobs"]) == 36
    job = next(j for j in resolved["jobs"] if j["key"] == "smoke/xor/minibatch/eta=0.1")
    assert job["batch_size"] == 2 and job["epochs"] == 200 and job["network"]["hidden"] == [2]
    assert resolved["tolerances"]["global_gap"] == 1e-4  # the schema's default


@pytest.mark.parametrize("cfg,line", [
    (broken(["variants", "sgd"], [0.1, -0.5]), "config key 'variants.sgd[1]': -0.5 is less than or equal to the minimum of 0"),
    (broken(["learning_rate"], 0.1), "config key 'learning_rate': unknown key ('learning_rate' was unexpected); "
                                     "expected one of ['certification', 'claims', 'datasets', "),
    (broken(["datasets", "moons", "netwrok"], {}), "config key 'datasets.moons.netwrok': unknown key"),
    (broken(["tolerances"], {"arrival_band": 0}), "config key 'tolerances.arrival_band': 0 is less than or equal to"),
    (broken(["tolerances"], {"arrival_band": "wide"}), "config key 'tolerances.arrival_band': 'wide' is not of type"),
    (broken(["certification"], {"radius": 0}), "config key 'certification.radius': 0 is less than or equal to"),
    (broken(["certification"], {"radius": -1e-3}), "config key 'certification.radius': -0.001 is less than or equal"),
    (broken(["escape_experiment"], {"epochs": 0}), "config key 'escape_experiment.epochs': 0 is less than the minimum"),
    (broken(["datasets", "relu", "params", "n_samples"], 0), "config key 'datasets.relu.params.n_samples': must be"),
    (broken(["datasets", "relu", "params", "k"], 0), "config key 'datasets.relu.params.k': must be an integer >= 1"),
])
def test_message_is_one_line_naming_the_key(cfg, line):
    with pytest.raises(ConfigError) as info:
        resolve(validate(cfg))
    assert str(info.value).startswith(line) and "\n" not in str(info.value)


# Through Snakemake, in a directory that holds a finished study: test_reliability.py,
# test_bad_configs_stop_before_any_job_and_leave_a_finished_study_untouched.


def test_study_too_large_for_memory_is_refused_with_the_estimate_and_the_limit(monkeypatch):
    """10^6 seeds: XOR's history alone (its 200 epochs, 5 metrics) is 2 x 8 B x 201 x 10^6 x 5,
    15 GiB; refused before any job, naming the key, the estimate and the limit."""
    from gdbasins.cost import MEMORY_VAR, job_memory
    from gdbasins.network import Network

    monkeypatch.delenv(MEMORY_VAR, raising=False)
    cfg = broken(["seeds"], 10**6)
    with pytest.raises(ConfigError) as info:
        resolve(validate(cfg))
    text = str(info.value)
    assert text.startswith("config key 'seeds': each job of dataset 'xor'") and "this machine's memory" in text
    assert "history 15 GiB" in text and "1000000 seeds, 200 epochs, 9 parameters" in text
    # The estimate, by hand, for one small case: every part.
    net = Network((2, 8, 1), "tanh", "sigmoid", "bce")
    parts = job_memory(net, 75, 25, seeds=10, epochs=99, directions=3)
    P = 2 * 8 + 8 + 8 + 1
    assert parts == {"history": 2 * 8 * 100 * 10 * 7, "training": 8 * 10 * (4 * P + 75 * 4),
                     "hessians": 3 * 8 * 10 * P * P, "polishing": 2 * 8 * 30 * 10 * 3 * P}


def test_memory_limit_can_be_set_for_the_machine_the_jobs_run_on(monkeypatch):
    from gdbasins.cost import MEMORY_VAR

    monkeypatch.setenv(MEMORY_VAR, "0.01")  # 10 kB: the smoke study's jobs need more
    with pytest.raises(ConfigError) as info:
        resolve(validate(copy.deepcopy(GOOD)))
    assert f"{MEMORY_VAR}=0.01" in str(info.value)
    monkeypatch.setenv(MEMORY_VAR, "100000")
    resolve(validate(copy.deepcopy(GOOD)))


# What the schema lets through, refused by the checks around it (through Snakemake, on a finished
# study: test_reliability.py's BAD).
NAN, INF = float("nan"), float("inf")
STRICT = [
    (broken(["variants", "sgd"], [NAN]), "config key 'variants.sgd[0]': must be a finite number. Got nan instead."),
    (broken(["variants", "batch"], [0.5, -INF]), "config key 'variants.batch[1]': must be a finite number. Got -inf"),
    (broken(["tolerances"], {"global_gap": INF}), "config key 'tolerances.global_gap': must be a finite number"),
    (broken(["certification"], {"radius": NAN}), "config key 'certification.radius': must be a finite number"),
    (broken(["datasets", "moons", "network", "init_scale"], INF), "config key 'datasets.moons.network.init_scale': "
                                                                  "must be a finite number"),
    (broken(["datasets", "moons", "params", "noise"], NAN), "config key 'datasets.moons.params.noise': must be a finite"),
    (broken(["epochs"], 30.0), "config key 'epochs': 30.0 is not of type 'integer' (a count: write 30, without"),
    (broken(["datasets", "xor", "seeds"], 4.0), "config key 'datasets.xor.seeds': 4.0 is not of type 'integer'"),
    (broken(["datasets", "moons", "network", "hidden"], [4.0]), "config key 'datasets.moons.network.hidden[0]': 4.0 is "
                                                                "not of type 'integer'"),
    (broken(["seeds"], True), "config key 'seeds': True is not of type 'integer'"),
    (broken(["variants", "batch"], [0.1, 0.1000000000001]), "config key 'variants.batch': the rates 0.1 and "
                                                            "0.1000000000001 are the same to the 12 significant digits"),
    (broken(["datasets", "teacher", "learning_rates", "sgd"], [0.01, 0.0100000000000004]),
     "config key 'datasets.teacher.learning_rates.sgd': the rates 0.01 and 0.0100000000000004 are the same"),
    (broken(["study"], "smoke\n"), "config key 'study': the value 'smoke\\n' holds a control character"),
    (broken(["datasets", "xor\n"], {"generator": "xor"}), "config key 'datasets.xor\\n': the key 'xor\\n' holds a control"),
    (broken(["datasets", "moons", "generator"], "moons\t"), "config key 'datasets.moons.generator': the value "),
    (broken(["variants", "sgd"], ["1e-2"]), "config key 'variants.sgd[0]': '1e-2' is not of type 'number' (YAML reads "
                                            "1e-2 as text; write 1.0e-2 for the number)"),
    (broken(["tolerances"], {"grad": "5E-7"}), "(YAML reads 5E-7 as text; write 5.0e-7 for the number)"),
]


@pytest.mark.parametrize("cfg,line", STRICT, ids=[m[11:50] for _, m in STRICT])
def test_what_the_schema_lets_through_is_refused_in_one_line(cfg, line):
    with pytest.raises(ConfigError) as info:
        resolve(validate(cfg))
    assert line in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_rates_that_differ_in_the_twelfth_digit_are_kept_apart():
    cfg = broken(["variants", "batch"], [0.1, 0.100000000001])  # %.12g: 0.1 and 0.100000000001
    etas = sorted(j["eta"] for j in resolve(validate(cfg))["jobs"] if j["variant"] == "batch" and j["dataset"] == "xor")
    assert etas == [0.1, 0.100000000001]


def test_a_config_of_defaults_only_is_valid():
    """Every setting at its default: the schema's XOR, its 4 samples, and no mini-batch size set:
    mini-batch takes half the samples (2), not the default 16 that XOR cannot hold."""
    resolved = resolve(validate({}))
    sizes = {(j["dataset"], j["variant"]): j["batch_size"] for j in resolved["jobs"]}
    assert sizes == {("xor", "batch"): 4, ("xor", "minibatch"): 2, ("xor", "sgd"): 1}
    moons = resolve(validate({"datasets": {"moons": {"generator": "moons"}}}))
    assert {j["batch_size"] for j in moons["jobs"] if j["variant"] == "minibatch"} == {16}
    with pytest.raises(ConfigError, match="'minibatch_size': must be <= the 4 training samples of dataset 'xor'"):
        resolve(validate({"minibatch_size": 16}))  # set, not defaulted: refused


def test_a_key_given_twice_in_a_config_file_is_refused_naming_both_lines(tmp_path):
    from gdbasins.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("study: s\ndatasets:\n  xor: {generator: xor}\n  moons: {generator: moons}\n"
                    "  xor: {generator: circles}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"config file '{path}', line 5: key 'xor' appears twice in one mapping (first on line 3); "
                               "YAML would keep only the last, remove one")
    path.write_text("study: s\nseeds: 3\nseeds: 4\n")
    with pytest.raises(ConfigError, match="line 3: key 'seeds' appears twice in one mapping"):
        load_config(path)
    path.write_text("study: [s\n")
    with pytest.raises(ConfigError, match=f"config file '{path}', line 2: not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("study: s\ndatasets: {xor: {generator: xor}}\n")
    assert load_config(path) == {"study": "s", "datasets": {"xor": {"generator": "xor"}}}


def test_an_absurd_study_is_refused_a_long_one_announced_with_the_estimate(monkeypatch):
    """The estimate (gdbasins.cost.study_seconds) against a hand count for one job, then its use: a
    year of CPU time refused naming the key, a day announced, the smoke study neither."""
    from gdbasins import cost
    from gdbasins.config import REFUSE_SECONDS, WARN_SECONDS, check_time, study_cpu_seconds

    monkeypatch.setenv("GDBASINS_MEMORY_MB", str(10**12))  # memory is not what is tested here
    one = broken(["variants"], {"sgd": [0.1]})
    one["datasets"] = {"moons": one["datasets"]["moons"]}
    resolved = resolve(validate(one))
    [job] = resolved["jobs"]
    n, P, S, E = 45, 17, job["seeds"], job["epochs"]  # moons' 45 training samples, a 2-4-1 network
    t = cost.TRAIN
    train = t["start"] + t["replica_step"] * E * n * S + t["replica_sample_param"] * E * n * S * P + t["replica_param"] * S * P
    assert cost.study_seconds(resolved, 1)["cpu"]["train"] == pytest.approx(train, rel=1e-12)
    assert sum(study_cpu_seconds(resolved).values()) == pytest.approx(sum(cost.study_seconds(resolved, 1)["cpu"].values()))
    assert check_time(resolve(validate(GOOD)), GOOD, 2) is None
    # seeds scale the training and analysis terms linearly: find counts a day and a year away
    per_seed = (train - t["start"]) / S
    day, year = int(2 * WARN_SECONDS / per_seed), int(2 * REFUSE_SECONDS / per_seed)
    long = copy.deepcopy(one)
    long["datasets"]["moons"]["seeds"] = day
    line = check_time(resolve(validate(long)), long, 2)
    assert line.startswith("gdbasins: warning: this study would take about ") and "days of CPU time" in line
    assert " on 2 cores " in line
    no_cores = check_time(resolve(validate(long)), long, None)  # a cluster executor's run has no --cores
    assert "days of CPU time (" in no_cores and "days on" not in no_cores
    long["datasets"]["moons"]["seeds"] = year
    with pytest.raises(ConfigError) as info:
        check_time(resolve(validate(long)), long, 2)
    assert str(info.value).startswith("config key 'datasets.moons.seeds': the study would take about ")
    assert "years of CPU time" in str(info.value) and f"{year} seeds, {E} epochs" in str(info.value)
