"""Property-based fuzzing of the command line (hypothesis): arbitrary option values and file contents for
every command must end in exit 0 or exit 2 with a message, within a time bound; never a traceback, another
exit code or a hang. Values mix hostile ones (markup, NaN, infinities, huge and tiny numbers, system paths,
control characters) with valid ones so that the checks behind the first error are reached too."""

from __future__ import annotations

import os
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stemdm.cli import app

runner = CliRunner()
SECONDS_PER_RUN = 120

HOSTILE = [
    "", " ", "0", "-1", "1", "2", "3", "0.5", "nan", "inf", "-inf", "1e300", "-1e300", "1e-300",
    "[red]x", "[/]", "[link=http://evil.example]x", "x" * 300, "../x", "/proc/x", "/sys/x", "\x1b[31mred",
    "é中文", "0,12", "12,0,-4", "0,0", "T2DM", "t1dm", "REML", "reml", "knha", "RR", "md", "msc",
    "psc-islet", "Bone-Marrow", "iv", "INTRA-ARTERIAL", "99.9", "100", "-0", "1_000", "0x10",
]  # fmt: skip
HOSTILE_JSON = [
    '{"schema": "stemdm-evidence", "trials": 5}',
    '{"schema": "stemdm-evidence", "trials": [1, "x", null]}',
    '{"schema": "stemdm-evidence", "trials": [{"trial_id": {"a": 1}}]}',
    '{"schema": "stemdm-evidence", "measurements": [{"mean": 1e300}]}',
    "[" * 100_000 + "]" * 100_000,
    '{"schema": "stemdm-evidence"}',
    "null",
]
value = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))
LONG = "x" * 300  # longer than a file name may be
#: Small numbers only where a valid value would start real work (patients, weeks).
small = st.one_of(
    st.sampled_from(["2", "3", "5", "12"]),  # valid, so that the checks behind them are reached
    st.sampled_from(["", "0", "-1", "1", "nan", "inf", "1e300", "[red]", "x"]),
)

CSV_HEADERS = [
    "study,yi,vi", "study,yi,sei", "study,ai,n1i,ci,n2i", "study,ai,bi,ci,di",
    "study,m1i,sd1i,n1i,m2i,sd2i,n2i", "study,yi,vi,group", "yi,yi,vi", "",
]  # fmt: skip


class HangError(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    """Interrupt a command that runs past ``seconds`` (SIGALRM; the tests run in the main thread)."""

    def _raise(_signum, _frame):
        raise HangError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _run(args: list[str]) -> None:
    with time_limit(SECONDS_PER_RUN):
        result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output[-2000:])
    assert "Traceback" not in result.output, args


@st.composite
def csv_text(draw) -> str:
    header = draw(st.sampled_from(CSV_HEADERS))
    width = max(1, header.count(",") + 1)
    rows = draw(st.lists(st.lists(value, min_size=width, max_size=width), min_size=0, max_size=5))
    return header + "\n" + "\n".join(",".join(cell.replace("\n", " ") for cell in row) for row in rows)


def _bcg_rows() -> list[list[str]]:
    from stemdm.meta.datasets import load_dataset

    frame = load_dataset("bcg")
    return [list(frame.columns)] + [[str(v) for v in row] for row in frame.itertuples(index=False)]


BCG = _bcg_rows()


#: Labels that broke a way out before (rich markup, mathtext, terminal escapes, HTML): a fuzzing dictionary.
HOSTILE_LABELS = [
    "[/]", "Jones [/]", "[/red]", "[red]x", "[link=http://evil.example]x", "$\\frac{", "a$b$", "\x1b[2J",
    "<script>alert(1)</script>", "=cmd|' /C calc'!A0",
]  # fmt: skip
LABELS = st.one_of(st.sampled_from(HOSTILE_LABELS), st.sampled_from(HOSTILE), st.text(max_size=12)).map(
    lambda t: t.replace(",", ";").replace("\n", " ").replace("\r", " ").replace('"', "'")
)


@st.composite
def mutated_bcg(draw) -> str:
    """The BCG trials with hostile study labels and a few cells (or a header) replaced by hostile values:
    valid enough to reach the fitting, subgroup, printing and plotting code."""
    rows = [list(row) for row in BCG]
    for row in rows[1:]:
        if draw(st.booleans()):
            row[0] = draw(LABELS) or "x"
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(rows) - 1))
        j = draw(st.integers(0, len(rows[0]) - 1))
        rows[i][j] = draw(value).replace(",", ";").replace("\n", " ")
    keep = draw(st.integers(1, len(rows)))
    return "\n".join(",".join(row) for row in rows[:keep])


@pytest.fixture(autouse=True)
def _private_store(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMDM_DB", str(tmp_path / "store.sqlite"))
    monkeypatch.chdir(tmp_path)


#: Examples per command (STEMDM_FUZZ_EXAMPLES raises it for a long hunt; the suite's default stays quick).
EXAMPLES = int(os.environ.get("STEMDM_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PRIORS = [
    "halfnormal(0.5)", "uniform(0,inf)", "halft(1e300,1)", "normal(0,1e-300)", "normal(1e300,1)",
    "halfnormal(1e-300)", "halfnormal(1e300)", "uniform(0,1e-300)", "lognormal_tau2(1e300,1)", "uniform(5,6)",
    "turner(pharma, subjective)", "turner(x)", "normal(0,4)", "halfcauchy()", "jeffreys(1)",
]  # fmt: skip
#: Valid values for the meta options, so that fits with subgroups, moderators and other methods are reached.
META_VALUES = ["alloc", "ablat", "year", "RR", "OR", "RD", "MH", "PETO", "jeffreys"]
META_OPTIONS = [
    "--measure", "--method", "--test", "--level", "--by", "--mods", "--add", "--to",
    "--tau-prior", "--mu-prior",
]  # fmt: skip


@FUZZ
@given(
    content=st.one_of(
        mutated_bcg(), mutated_bcg(), csv_text(), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    ),
    suffix=st.sampled_from([".csv", ".csv", ".xlsx", ".txt", ""]),
    options=st.lists(
        st.tuples(
            st.sampled_from(META_OPTIONS),
            st.one_of(value, st.sampled_from(META_VALUES), st.sampled_from(PRIORS)),
        ),
        max_size=4,
    ),
    plot=st.sampled_from(
        [
            [],
            ["--forest", "f.png"],
            ["--funnel", "f.svg"],
            ["--forest", "/proc/f.png"],
            ["--forest", LONG + ".png"],
        ]
    ),
    as_json=st.booleans(),
    bayesian=st.booleans(),
)
def test_meta_never_crashes(tmp_path, content, suffix, options, plot, as_json, bayesian):
    path = tmp_path / f"data{suffix}"
    path.write_text(content, encoding="utf-8", errors="surrogatepass")
    args = ["meta", str(path), "--measure", "RR", *[part for pair in options for part in pair], *plot]
    _run(args + (["--json"] if as_json else []) + (["--bayes"] if bayesian else []))


@FUZZ
@given(
    command=st.sampled_from(["list", "show", "coverage", "history", "export", "template", "validate"]),
    first=value,
    second=value,
    content=st.one_of(
        csv_text(),
        st.text(max_size=200),
        st.binary(max_size=100).map(lambda b: b.hex()),
        st.sampled_from(HOSTILE_JSON),
    ),
    suffix=st.sampled_from([".csv", ".json", ".json", ".xlsx", ".rm5"]),
    as_json=st.booleans(),
)
def test_evidence_never_crashes(tmp_path, command, first, second, content, suffix, as_json):
    file = tmp_path / f"input{suffix}"
    file.write_text(content, encoding="utf-8", errors="surrogatepass")
    args = {
        "list": ["evidence", "list", "--type", first, "--status", second],
        "show": ["evidence", "show", first],
        "coverage": ["evidence", "coverage"],
        "history": ["evidence", "history", "--limit", first],
        "export": ["evidence", "export", "--format", first, "--out", second or "out"],
        "template": ["evidence", "template", "--out", first or "t"],
        "validate": ["evidence", "validate", str(file)],
    }[command]
    _run(args + (["--json"] if as_json and command != "template" else []))


PROTOCOL_KEYS = [
    ("model", "method"), ("model", "level"), ("model", "test"), ("next_trial", "alpha"),
    ("next_trial", "power"), ("small_study", "min_k"), ("inclusion", "cell_types"),
    ("subgroups", "variables"), ("question", "population"), ("data", "pm_as"),
]  # fmt: skip


@settings(
    max_examples=max(1, EXAMPLES // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(st.tuples(st.sampled_from(PROTOCOL_KEYS), value), max_size=3),
    raw=st.one_of(st.none(), st.none(), st.text(max_size=100), st.sampled_from(["deep", "folder", "latin1"])),
)
def test_review_never_crashes(tmp_path, edits, raw):
    import tomllib

    default = Path(__file__).parents[1] / "src/stemdm/review/data/default_protocol.toml"
    document = tomllib.loads(default.read_text(encoding="utf-8"))
    for (table, key), text in edits:
        document.setdefault(table, {})[key] = _toml_value(text)
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "protocol.toml"  # a fresh path for every example
    if raw == "folder":
        path.mkdir()
    elif raw == "latin1":
        path.write_bytes("title = 'caf\xe9'".encode("latin-1"))
    else:
        text = {"deep": "a = " + "[" * 50_000 + "]" * 50_000}.get(raw, raw)
        text = text if text is not None else _dump_toml(document)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _run(["review", "run", "--protocol", str(path), "--json"])


def _toml_value(text: str):
    """Numbers as numbers, lists as lists of strings, the rest as strings."""
    try:
        return float(text)
    except ValueError:
        return text.split(",") if "," in text else text


def _dump_toml(document: dict) -> str:
    import json

    lines = []
    for key, item in document.items():
        if not isinstance(item, dict | list):
            lines.append(f"{key} = {_toml(item)}")
    for key, item in document.items():
        if isinstance(item, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {_toml(v)}" for k, v in item.items()]
        elif isinstance(item, list):
            for entry in item:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {_toml(v)}" for k, v in entry.items()]
    assert json.dumps(document)  # plain data only
    return "\n".join(lines) + "\n"


def _toml(item) -> str:
    import json
    import math

    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float) and not math.isfinite(item):
        return "nan" if math.isnan(item) else ("inf" if item > 0 else "-inf")
    if isinstance(item, int | float):
        return repr(item)
    if isinstance(item, list):
        return "[" + ", ".join(_toml(x) for x in item) + "]"
    return json.dumps(str(item))


SIM_OPTIONS = [
    "--pathway", "--source", "--route", "--dose", "--infusions", "--interval-weeks", "--visits", "--hba1c",
    "--hba1c-sd", "--bmi", "--duration-years", "--cpep", "--cpep-sd", "--seed",
]  # fmt: skip


@FUZZ
@given(
    options=st.lists(st.tuples(st.sampled_from(SIM_OPTIONS), value), max_size=4),
    patients=small,
    weeks=small,
    visits=st.sampled_from(["0,2", "0,2", "2", "0", "", "0,0", "-1,2", "0,2,2", "a", "0,12,1000"]),
    plot=st.sampled_from(
        [
            [],
            ["--plot", "p.png"],
            ["--plot", "dir"],
            ["--responders", "/sys/r.png"],
            ["--plot", LONG + ".png"],
        ]
    ),
    as_json=st.booleans(),
)
def test_simulate_never_crashes(options, patients, weeks, visits, plot, as_json):
    args = ["simulate", "--infusions", "1", "--patients", patients, "--weeks", weeks, "--visits", visits]
    args += ["--json"] if as_json else []
    _run(args + [part for pair in options for part in pair] + plot)
