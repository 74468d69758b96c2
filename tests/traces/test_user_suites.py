"""A user's own suites: checked before anything is stored, hashed, versioned, usable everywhere a
built-in suite is, and refused when a stored file changes; end to end from files a user wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import traces.user_suites as user_suites
from simulator.params import load_params
from simulator.trace_io import read_trace
from traces.bounds import compute_bounds
from traces.errors import SuiteError
from traces.suites import SUITES, add_user_suite, get_suite, list_suites, remove_user_suite
from traces.user_suites import CaseSource, generated_sources, parse_case_spec, parse_seeds

ROOT = Path(__file__).resolve().parents[2]

SMALL = """\
duration = 60
ticks_per_second = 100
num_pipelines = 4
num_operators = 4
num_pools = 2
cpus_per_pool = 16
ram_gb_per_pool = 128
random_seed = {seed}
"""
# a second cluster shape in the same suite: one big pool, multi-operator containers
BIG = """\
duration = 60
ticks_per_second = 100
num_pipelines = 3
num_pools = 1
cpus_per_pool = 64
ram_gb_per_pool = 500
multi_operator_containers = true
random_seed = {seed}
"""


def policyforge(*args: str, env: dict[str, str], cwd: Path = ROOT,
                timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policyforge", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv(user_suites.DATA_ENV, str(folder))
    return folder


def write_case(folder: Path, name: str, template: str, seed: int) -> tuple[Path, Path]:
    """A params file and the trace the generator makes from it, as a user would have them."""
    from simulator.generator import generate_trace
    from simulator.trace_io import write_trace

    folder.mkdir(parents=True, exist_ok=True)
    params = folder / f"{name}.toml"
    params.write_text(template.format(seed=seed))
    trace = folder / f"{name}.csv"
    write_trace(generate_trace(load_params(params)), trace)
    return params, trace


def files_case(tmp_path: Path) -> list[CaseSource]:
    p1, t1 = write_case(tmp_path / "mine", "small-a", SMALL, 1)
    p2, t2 = write_case(tmp_path / "mine", "big-a", BIG, 2)
    p3, t3 = write_case(tmp_path / "mine", "small-b", SMALL, 3)
    return [parse_case_spec(f"search:{p1}:{t1}"), parse_case_spec(f"search:{p2}:{t2}"),
            parse_case_spec(f"held-out:{p3}:{t3}")]


def stored_anything(data: Path) -> bool:
    root = data / "suites"
    return root.exists() and any(root.rglob("*"))


# --- adding and using -------------------------------------------------------------------------


def test_a_suite_from_files_is_stored_with_hashes_and_bounds_and_resolves_like_a_builtin(
    data: Path, tmp_path: Path
) -> None:
    sources = files_case(tmp_path)
    suite = add_user_suite("mine", sources)
    assert (suite.name, suite.version, suite.user) == ("mine", 1, True)
    assert suite.cache_dir == data / "suites" / "mine" / "v1"

    resolved = get_suite("mine")
    search, held = resolved.search_cases(), resolved.held_out_cases()
    assert [c.name for c in search] == ["small-a", "big-a"]
    assert [c.name for c in held] == ["small-b"]
    # several cluster shapes, each case with its own complete params
    assert {c.params["num_pools"] for c in search} == {1, 2}
    assert search[1].params["multi_operator_containers"] is True
    for case, source in zip(search + held, sources, strict=True):
        assert case.trace_path.read_bytes() == Path(source.trace_file).read_bytes()
        assert case.params == load_params(source.params_file)
        assert case.trace_path.parent.name == source.part
        assert case.pipelines == len(read_trace(source.trace_file))
    manifest = json.loads((suite.cache_dir / "suite.json").read_text())
    for entry in manifest["cases"]:
        trace = read_trace(suite.cache_dir / entry["part"] / f"{entry['name']}.csv")
        params = load_params(suite.cache_dir / entry["part"] / f"{entry['name']}.toml")
        bounds = compute_bounds(trace, params).to_dict()
        assert entry["bounds"]["max_completed_pipelines"] == bounds["max_completed_pipelines"]
    assert resolved.hashes() == {f"{c['part']}/{c['name']}": c["trace_sha256"]
                                 for c in manifest["cases"]}
    info = resolved.info()
    assert (info.user, info.search_cases, info.held_out_cases, info.cache_state) == (
        True, 2, 1, "stored")
    assert [i.name for i in list_suites()] == [*SUITES, "mine"]
    assert not any(i.user for i in list_suites() if i.name in SUITES)


def test_re_adding_makes_a_new_version_and_remove_deletes_every_version(
    data: Path, tmp_path: Path
) -> None:
    add_user_suite("mine", files_case(tmp_path))
    p, _ = write_case(tmp_path / "gen", "base", SMALL, 0)
    second = add_user_suite("mine", generated_sources(str(p), [4, 5], [9]))
    assert second.version == 2
    assert get_suite("mine").version == 2
    assert [c.name for c in get_suite("mine@v1").search_cases()] == ["small-a", "big-a"]
    assert [c.name for c in get_suite("mine").search_cases()] == ["seed4", "seed5"]
    assert [c.seed for c in get_suite("mine").held_out_cases()] == [9]
    with pytest.raises(SuiteError, match="no version 7"):
        get_suite("mine@v7")
    assert remove_user_suite("mine") == [1, 2]
    with pytest.raises(SuiteError, match="unknown suite 'mine'"):
        get_suite("mine")
    assert not (data / "suites" / "mine").exists()
    with pytest.raises(SuiteError, match="built-in"):
        remove_user_suite("small")


def test_generated_cases_are_the_generators_traces_for_each_seed(
    data: Path, tmp_path: Path
) -> None:
    from simulator.generator import generate_trace
    from simulator.trace_io import trace_to_text

    p, _ = write_case(tmp_path / "gen", "base", SMALL, 0)
    suite = add_user_suite("gen", generated_sources(str(p), [1, 2, 3], [7, 8]))
    cases = suite.search_cases() + suite.held_out_cases()
    assert [c.seed for c in cases] == [1, 2, 3, 7, 8]
    for case in cases:
        params = {**load_params(p), "random_seed": case.seed}
        assert case.params == params
        assert case.trace_path.read_bytes() == trace_to_text(generate_trace(params)).encode()


def test_seed_lists_must_be_disjoint_integers() -> None:
    with pytest.raises(SuiteError, match=r"disjoint; both have \[3\]"):
        generated_sources("p.toml", [1, 2, 3], [3, 8])
    with pytest.raises(SuiteError, match="'x' is not an integer"):
        parse_seeds("1,x", "--search-seeds")
    with pytest.raises(SuiteError, match="seed 2 is given twice"):
        parse_seeds("2,2", "--search-seeds")


def test_the_coders_tools_never_see_held_out_cases(data: Path, tmp_path: Path) -> None:
    from tools import search_suite
    from tools.errors import ToolError

    suite = add_user_suite("tools-only", files_case(tmp_path))
    held = suite.cache_dir / "held-out"
    held.rename(tmp_path / "away")  # a search-only reader never opens these
    search_suite._inputs.cache_clear()
    try:
        assert search_suite.search_names("tools-only") == ["small-a", "big-a"]
        with pytest.raises(ToolError, match="not in the search suite"):
            search_suite.search_case("tools-only", "small-b")
        assert "small-b" not in search_suite.suite_description("tools-only")
        with pytest.raises(SuiteError, match="cannot read stored file"):
            get_suite("tools-only").held_out_cases()
    finally:
        search_suite._inputs.cache_clear()


def test_a_stored_file_changed_on_disk_is_refused_never_rescored(
    data: Path, tmp_path: Path
) -> None:
    suite = add_user_suite("mine", files_case(tmp_path))
    trace = suite.cache_dir / "held-out" / "small-b.csv"
    trace.write_bytes(trace.read_bytes().replace(b"BATCH_PIPELINE", b"QUERY", 1))
    assert get_suite("mine").info().cache_state == "changed on disk: 1 of 3 cases"
    get_suite("mine").search_cases()  # the untouched part still works
    with pytest.raises(SuiteError, match="changed on disk.*refusing to score it"):
        get_suite("mine").held_out_cases()
    params = suite.cache_dir / "search" / "big-a.toml"
    params.write_text(params.read_text().replace("num_pools = 1", "num_pools = 2"))
    with pytest.raises(SuiteError, match=r"big-a\.toml changed on disk"):
        get_suite("mine").search_cases()


def test_an_oversized_trace_is_refused_with_the_reason(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = files_case(tmp_path)
    sizes = [Path(s.trace_file).stat().st_size for s in sources]
    monkeypatch.setattr(user_suites, "MAX_TRACE_BYTES", max(sizes) - 1)
    with pytest.raises(SuiteError, match="MiB, over the .* a suite trace may have.*sandbox") as exc:
        add_user_suite("mine", sources)
    assert exc.value.context["file"] == sources[sizes.index(max(sizes))].trace_file
    assert not stored_anything(data)


@pytest.mark.parametrize("name", ["small", "add", "bad/name", "a b", ""])
def test_a_bad_or_builtin_name_is_refused(name: str, data: Path, tmp_path: Path) -> None:
    with pytest.raises(SuiteError):
        add_user_suite(name, files_case(tmp_path))
    assert not stored_anything(data)


def test_both_parts_are_needed_and_case_names_must_differ(data: Path, tmp_path: Path) -> None:
    sources = files_case(tmp_path)
    with pytest.raises(SuiteError, match="no held-out case"):
        add_user_suite("mine", sources[:2])
    same = [sources[0], CaseSource("held-out", sources[0].params_file, sources[0].trace_file)]
    with pytest.raises(SuiteError, match="two cases named 'small-a'"):
        add_user_suite("mine", same)
    copy = tmp_path / "copy" / "other.csv"
    copy.parent.mkdir()
    copy.write_bytes(Path(sources[0].trace_file).read_bytes())
    leak = [sources[0], CaseSource("held-out", sources[0].params_file, str(copy))]
    with pytest.raises(SuiteError, match="would not be held out"):
        add_user_suite("mine", leak)
    assert not stored_anything(data)


# --- end to end, from the command line -------------------------------------------------------


def _break(kind: str, params: Path, trace: Path, out: Path) -> tuple[Path, Path, str]:
    """A bad copy of a user's files, and the error text it must give."""
    lines = trace.read_text().splitlines()
    header = lines[0].split(",")
    if kind == "missing column":
        col = header.index("cpu_scaling")
        rows = [",".join(c for i, c in enumerate(line.split(",")) if i != col) for line in lines]
        bad = out / "nocol.csv"
        bad.write_text("\n".join(rows) + "\n")
        return params, bad, f"{bad}:1: header lacks column(s) cpu_scaling"
    if kind == "non-numeric field":
        cells = lines[2].split(",")
        cells[header.index("baseline_cpu_seconds")] = "fast"
        lines[2] = ",".join(cells)
        bad = out / "nonnum.csv"
        bad.write_text("\n".join(lines) + "\n")
        col = header.index("baseline_cpu_seconds") + 1
        return (params, bad, (f"{bad}:3:{col}: baseline_cpu_seconds must be a number, got "
                f"'fast' (field 'baseline_cpu_seconds')"))
    if kind == "unknown params key":
        bad = out / "typo.toml"
        bad.write_text(params.read_text() + "num_pool = 3\n")
        line = len(bad.read_text().splitlines())
        return (bad, trace, (f"{bad}:{line}: unknown params key 'num_pool'; did you mean "
                "'num_pools'? (field 'num_pool')"))
    assert kind == "missing parent"
    row = next(i for i in range(1, len(lines)) if lines[i].split(",")[header.index("parents")])
    cells = lines[row].split(",")
    cells[header.index("parents")] = "op99"
    lines[row] = ",".join(cells)
    bad = out / "orphan.csv"
    bad.write_text("\n".join(lines) + "\n")
    return (params, bad, (f"{bad}:{row + 1}:{header.index('parents') + 1}: unknown parent "
            "'op99' of operator"))


def test_end_to_end_a_users_files_become_a_suite_a_heuristic_run_reviewed_and_exported(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({user_suites.DATA_ENV: str(tmp_path / "data"),
                "POLICYFORGE_CACHE_DIR": str(tmp_path / "cache")})
    mine = tmp_path / "mine"
    mine.mkdir()
    cases = []
    for name, template, seed in (("a", SMALL, 1), ("b", BIG, 2), ("c", SMALL, 3)):
        params = mine / f"{name}.toml"
        params.write_text(template.format(seed=seed))
        made = policyforge("traces", "generate", str(params), str(mine / f"{name}.csv"), env=env)
        assert made.returncode == 0, made.stderr
        cases.append((params, mine / f"{name}.csv"))

    # bad files: each its own clear error, and nothing stored
    for kind in ("missing column", "non-numeric field", "unknown params key", "missing parent"):
        params, trace, expected = _break(kind, *cases[0], mine)
        proc = policyforge("traces", "suites", "add", "mine", "--case",
                           f"search:{params}:{trace}", "--case",
                           f"held-out:{cases[2][0]}:{cases[2][1]}", env=env)
        assert proc.returncode == 2, kind
        assert proc.stderr.startswith(f"error: {expected}"), (kind, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "data" / "suites" / "mine").exists(), kind

    add = policyforge("traces", "suites", "add", "mine",
                      "--case", f"search:{cases[0][0]}:{cases[0][1]}",
                      "--case", f"search:{cases[1][0]}:{cases[1][1]}",
                      "--case", f"held-out:{cases[2][0]}:{cases[2][1]}", env=env)
    assert add.returncode == 0, add.stderr
    assert "added suite mine v1: 2 search and 1 held-out case(s)" in add.stdout
    listed = json.loads(policyforge("traces", "suites", "--json", env=env).stdout)
    assert [(s["name"], s["user"]) for s in listed] == [
        *((n, False) for n in SUITES), ("mine", True)]

    runs = tmp_path / "runs"
    # a target no policy reaches: the run stops unfinished (budget spent), so it can be resumed
    unreachable = tmp_path / "objective.toml"
    unreachable.write_text('metric = "completed_pipelines"\ntarget = 1000000\n')
    run = policyforge("run", "--model", "heuristic", "--suite", "mine", "--max-iterations", "1",
                      "--objective", str(unreachable), "--sandbox", "local", "--runs-dir",
                      str(runs), "--quiet", env=env, timeout=600)
    assert run.returncode == 3, run.stdout + run.stderr  # budget spent, not accepted
    [run_dir] = list(runs.iterdir())
    record = json.loads((run_dir / "run.json").read_text())
    stored = json.loads((tmp_path / "data/suites/mine/v1/suite.json").read_text())
    assert record["provenance"]["suites"] == {"mine": "v1"}
    assert record["provenance"]["suite_hashes"]["mine"] == {
        f"{c['part']}/{c['name']}": c["trace_sha256"] for c in stored["cases"]}

    review = policyforge("review", str(run_dir), "--json", env=env)
    assert review.returncode == 0, review.stderr
    report = json.loads(review.stdout)
    assert report["best_candidate"] == 1
    exported = tmp_path / "best.py"
    export = policyforge("export", str(run_dir), str(exported), env=env)
    assert export.returncode == 0, export.stderr
    sim = policyforge("simulate", str(cases[0][0]), "-w", str(cases[0][1]), "--policy",
                      str(exported), "--json", env=env)
    assert sim.returncode == 0, sim.stderr
    assert json.loads(sim.stdout)["pipelines_all"]["arrival_count"] > 0

    # added again with other traces: the run is not continued on them
    again = policyforge("traces", "suites", "add", "mine", "--generate", str(cases[0][0]),
                        "--search-seeds", "5", "--held-out-seeds", "6", env=env)
    assert again.returncode == 0 and "added suite mine v2" in again.stdout, again.stderr
    resumed = policyforge("run", "--resume", str(run_dir), "--max-iterations", "2",
                          "--runs-dir", str(runs), "--quiet", env=env)
    assert resumed.returncode == 2, resumed.stdout + resumed.stderr
    assert "suite 'mine' now has other traces (v2; this run was made on v1)" in resumed.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == record["status"]

    removed = policyforge("traces", "suites", "remove", "mine", env=env)
    assert removed.returncode == 0 and "removed suite mine (v1, v2)" in removed.stdout
    after = policyforge("review", str(run_dir), "--json", env=env)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["best_candidate"] == 1
    gone = policyforge("evaluate", "--policy", "naive", "--suite", "mine", "--sandbox", "local",
                       env=env)
    assert gone.returncode == 2 and "unknown suite 'mine'" in gone.stderr


def test_a_broken_suite_record_is_a_warning_in_the_listing_and_an_error_on_use(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from policyforge.commands.traces import suites_command

    suite = add_user_suite("mine", files_case(tmp_path))
    add_user_suite("other", files_case(tmp_path / "again"))
    (suite.cache_dir / "suite.json").write_text("{not json")
    assert suites_command(["--json"]) == 0
    out = capsys.readouterr()
    assert [s["name"] for s in json.loads(out.out)] == [*SUITES, "other"]
    assert "warning: your suite 'mine' cannot be read: unreadable suite record" in out.err
    assert suites_command(["mine"]) == 2
    assert "unreadable suite record" in capsys.readouterr().err


def test_a_failure_while_writing_leaves_nothing_behind(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = files_case(tmp_path)
    real = Path.write_bytes
    calls = []

    def flaky(self: Path, payload: bytes) -> int:
        calls.append(self)
        if len(calls) == 4:  # the second case's trace
            raise OSError(28, "No space left on device")
        return real(self, payload)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(SuiteError, match="cannot store the suite: No space left on device"):
        add_user_suite("mine", sources)
    assert not stored_anything(data)
    assert user_suites.user_suite_names() == []
