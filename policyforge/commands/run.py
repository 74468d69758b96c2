"""``policyforge run`` and ``policyforge export``.

Exit codes of ``run``: 0 a policy was accepted; 3 the budget ran out before any was accepted;
1 the run failed (a sandbox or model error it could not get past); 2 bad input or usage (also
when no model is configured); 130 interrupted (Ctrl-C: the run stays resumable with
``--resume``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from policyforge.commands.engine import add_engine_arguments, engine_problem
from policyforge.console import interrupted_code, interruption, parse_args, print_error
from policyforge.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, run_exit_code
from sandbox.registry import KINDS as SANDBOX_KINDS

NO_MODEL = """\
error: no model endpoint is configured.
  * OpenAI: export OPENAI_API_KEY=sk-... and pass --model gpt-4.1-mini (or any model name)
  * an OpenAI-compatible server (vLLM, Ollama, llama.cpp): --model NAME --base-url \
http://127.0.0.1:8000/v1 (set --api-key-env if it needs a key)
  * offline, no model at all: --model heuristic (the non-LLM heuristic proposer)"""


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="policyforge run",
        description="Let the agents design a scheduling policy for a goal, within a budget.")
    p.add_argument("--goal", default="", help="what good scheduling means for you (free text)")
    p.add_argument("--objective", metavar="FILE", help="objective as TOML/JSON (agents.objective)")
    p.add_argument("--suite", default="small", help="trace suite (default: small)")
    p.add_argument("--model", help="model for every role, or 'heuristic' (no LLM)")
    p.add_argument("--role-model", action="append", default=[], metavar="ROLE=M",
                   help="model for one role (planner, coder, critic, reviewer)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--models", metavar="FILE",
                   help="TOML settings for every role and per role ([roles.coder] ...); "
                        "they override the flags")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--reasoning-effort", choices=("minimal", "low", "medium", "high"))
    p.add_argument("--max-output-tokens", type=int, default=8192, metavar="N",
                   help="answer length per model call (default 8192; budgets reserve it)")
    p.add_argument("--request-timeout", type=float, metavar="S",
                   help="limit per model call attempt in seconds (default 600; cut to what is "
                        "left of --max-minutes)")
    p.add_argument("--prices", metavar="FILE", help="TOML price table extending the built-in one")
    p.add_argument("--max-iterations", type=int, metavar="N")
    p.add_argument("--max-usd", type=float, metavar="X")
    p.add_argument("--max-tokens", type=int, metavar="N")
    p.add_argument("--max-minutes", type=float, metavar="M")
    p.add_argument("--sandbox", choices=SANDBOX_KINDS, default="auto")
    p.add_argument("--timeout", type=float, default=300.0, metavar="S",
                   help="sandbox wall-clock limit per evaluation (default 300)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", metavar="RUN_ID",
                   help="continue a stopped run (id or folder); it keeps the settings it started "
                        "with: only the budget, --request-timeout, --workers and --ray-address "
                        "may change")
    p.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")
    add_engine_arguments(p, population=True)
    p.add_argument("--strategy", choices=("feedback", "best-of-n"), default="feedback",
                   help="feedback: each round learns from the archive and the critic's verdicts "
                        "(default); best-of-n: every candidate sampled independently on the same "
                        "budget, the baseline that shows what the feedback is worth")
    p.add_argument("--cascade", action="store_true",
                   help="evaluate each candidate first on the smallest search case, and on the "
                        "others only when it is not far below the best baseline there")
    p.add_argument("--until", choices=("accepted", "budget"), default="accepted",
                   help="stop at the first accepted policy (default), or search on until the "
                        "budget is spent, the accepted policy being the floor to beat")
    return p


# What a resumed run takes from its run.json: given with --resume, an error, never ignored.
_KEPT_ON_RESUME = ("goal", "objective", "suite", "model", "role_model", "base_url", "models",
                   "api_key_env", "temperature", "reasoning_effort", "max_output_tokens",
                   "prices", "sandbox", "timeout", "seed", "population", "strategy", "cascade",
                   "until")


def _kept_on_resume(argv: list[str]) -> list[str]:
    """The flags in ``argv`` that a resumed run does not take."""
    unset: dict[str, Any] = dict.fromkeys(_KEPT_ON_RESUME, _UNSET)
    unset["role_model"] = None  # an append action needs a list or None to start from
    probe = _run_parser()
    probe.set_defaults(**unset)
    given = probe.parse_args(argv)  # already parsed once: it cannot fail
    return ["--" + name.replace("_", "-") for name in _KEPT_ON_RESUME
            if getattr(given, name) is not unset[name]]


_UNSET = object()  # not a str: argparse would convert a str default with the flag's type


def run_main(argv: list[str]) -> int:
    """``policyforge run ...``; returns the exit code."""
    parser = _run_parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    from agents.budget import BudgetLimits

    for name in ("max_iterations", "max_tokens", "max_usd", "max_minutes", "timeout",
                 "max_output_tokens", "request_timeout"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            return print_error(f"--{name.replace('_', '-')} must be positive", EXIT_BAD_INPUT)
    problem = engine_problem(args)
    if problem:
        return print_error(problem, EXIT_BAD_INPUT)
    budget_given = any(getattr(args, n) is not None for n in
                       ("max_iterations", "max_tokens", "max_usd", "max_minutes"))
    budget = BudgetLimits(max_iterations=args.max_iterations, max_tokens=args.max_tokens,
                          max_usd=args.max_usd, max_minutes=args.max_minutes)
    from agents.progress import Progress

    progress = Progress(quiet=args.quiet)
    try:
        if args.resume:
            from agents.lifecycle import resume_run
            from agents.run_store import RunNotFound, resolve_run

            try:
                run_dir = resolve_run(args.resume, args.runs_dir)
            except RunNotFound as exc:
                return print_error(str(exc), EXIT_BAD_INPUT)
            kept = _kept_on_resume(argv)
            if kept:
                return print_error(
                    f"{', '.join(kept)}: a resumed run keeps the settings it started with "
                    f"({run_dir / 'run.json'}); with --resume only the budget (--max-iterations, "
                    "--max-tokens, --max-usd, --max-minutes), --request-timeout, --workers and "
                    "--ray-address may change. Start a new run for other settings.",
                    EXIT_BAD_INPUT)
            engine = {k: getattr(args, k) for k in ("workers", "ray_address")
                      if getattr(args, k) is not None}
            outcome = resume_run(run_dir, budget=budget if budget_given else None,
                                 progress=progress, engine=engine,
                                 request_timeout_s=args.request_timeout)
        else:
            config = _config(args, budget)
            if isinstance(config, int):
                return config
            from agents.lifecycle import start_run

            progress.header(config)
            outcome = start_run(config, args.runs_dir, progress=progress)
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted ({interruption()}): the run is resumable with --resume",
              file=sys.stderr)
        return interrupted_code()
    except _input_errors() as exc:
        return print_error(str(exc), EXIT_BAD_INPUT)
    code = run_exit_code(outcome.status)
    progress.summary(outcome, code)
    return code


def _config(args: argparse.Namespace, budget: Any) -> Any:
    from agents.run_config import RunConfig

    objective = None
    if args.objective:
        from agents.objective import load_objective

        objective = load_objective(args.objective).model_dump()
    from traces.suites import get_suite

    get_suite(args.suite)  # unknown suite: SuiteError, reported as bad input
    if budget.max_iterations is None and budget.max_usd is None and budget.max_tokens is None \
            and budget.max_minutes is None:
        budget = budget.model_copy(update={"max_iterations": 10})
    heuristic = (args.model or "").lower() == "heuristic"
    from agents.models import parse_role_model

    for spec in args.role_model:
        parse_role_model(spec)  # a bad ROLE=MODEL is an error even where it would not be used
    models = {}
    if not heuristic:
        if not args.model and not args.role_model and not args.models:
            print(NO_MODEL, file=sys.stderr)
            return EXIT_BAD_INPUT
        from agents.models import resolve_role_models

        models = resolve_role_models(args.model, args.role_model, args.base_url,
                                     api_key_env=args.api_key_env,
                                     temperature=args.temperature,
                                     reasoning_effort=args.reasoning_effort,
                                     request_timeout_s=args.request_timeout,
                                     max_tokens=args.max_output_tokens,
                                     models_file=args.models)
        _check_keys(models)
        if budget.max_usd is not None:
            _check_prices(models, args.prices)
    return RunConfig(goal=args.goal, objective=objective, suite=args.suite, seed=args.seed,
                     sandbox=args.sandbox, heuristic=heuristic, models=models, budget=budget,
                     timeout_s=args.timeout, prices_file=args.prices,
                     population=args.population, workers=args.workers,
                     ray_address=args.ray_address, strategy=args.strategy, until=args.until,
                     cascade=args.cascade)


def _check_keys(models: dict[str, Any]) -> None:
    """Fail before the run starts when a role's API key is missing (local servers need none)."""
    from agents.models import make_chat_model

    for cfg in models.values():
        make_chat_model(cfg)


def _check_prices(models: dict[str, Any], prices_file: str | None) -> None:
    """A dollar budget needs a price for every model (an unpriced call would look free)."""
    from agents.models import ModelConfigError
    from agents.pricing import PriceTable

    table = PriceTable.load(prices_file)
    unknown = sorted({cfg.model for cfg in models.values() if not table.known(cfg.model)})
    if unknown:
        raise ModelConfigError(
            f"--max-usd needs a price for {', '.join(unknown)}: add it to a prices file "
            '(--prices FILE with [models."NAME"] input_per_mtok = .. output_per_mtok = ..; '
            "0 for a free local model)")


def _input_errors() -> tuple[type[Exception], ...]:
    from agents.models import ModelConfigError
    from agents.objective import ObjectiveError
    from agents.pricing import PricingError
    from agents.run_lock import RunLocked
    from agents.run_store import BadRunFolder
    from sandbox.errors import SandboxError
    from traces.errors import SuiteError

    return (ModelConfigError, ObjectiveError, SuiteError, SandboxError, FileExistsError,
            PricingError, BadRunFolder, RunLocked)


# --- export -----------------------------------------------------------------------------------


def export_main(argv: list[str]) -> int:
    """``policyforge export RUN_ID [--candidate N] OUT.py``."""
    p = argparse.ArgumentParser(
        prog="policyforge export",
        description="Write a run's accepted (or best) policy as a standalone policy file.")
    p.add_argument("run", metavar="RUN_ID", help="run id or run folder")
    p.add_argument("out", metavar="OUT.py")
    p.add_argument("--candidate", type=int, metavar="N", help="a candidate other than the best")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    args = parse_args(p, argv)
    if isinstance(args, int):
        return args
    from agents.export import ExportError, export_policy
    from agents.run_store import BadRunFolder, RunNotFound, resolve_run

    try:
        run_dir = resolve_run(args.run, args.runs_dir)
        n = export_policy(run_dir, Path(args.out), args.candidate)
    except (RunNotFound, ExportError, BadRunFolder) as exc:
        return print_error(str(exc), EXIT_BAD_INPUT)
    except OSError as exc:
        return print_error(f"cannot write {args.out}: {exc.strerror or exc}", EXIT_FAILED)
    print(f"wrote candidate {n} of {run_dir.name} to {args.out}")
    return 0
