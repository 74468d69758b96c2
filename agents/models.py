"""Which chat model each role uses, and building it (`ChatOpenAI`, OpenAI or a compatible server).

``--model M`` sets every role's model, ``--role-model ROLE=M`` overrides one role, and a models
file (``--models FILE``, `read_models_file`) can set anything per role. The models
never retry on their own (``max_retries=0``): `agents.calls.ModelCaller` retries, so every
attempt is counted and priced. They stream, asking the server for the usage
(``stream_usage``); ``request_timeout_s`` (``--request-timeout``, default
`DEFAULT_REQUEST_TIMEOUT_S`) bounds each attempt, cut by the caller to what is left of the
wall-clock budget.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.errors import AgentError

ROLES = ("planner", "coder", "critic", "reviewer")
NO_KEY_NEEDED = "not-needed"  # what a local server gets when no key is set; most ignore it
# Reasoning models routinely think for minutes before their first token: 10 minutes per call.
DEFAULT_REQUEST_TIMEOUT_S = 600.0


class ModelConfigError(AgentError):
    """A role's model cannot be configured or built; the message says what to set."""


class RoleModelConfig(BaseModel):
    """One role's model and how to reach it."""

    model_config = ConfigDict(extra="forbid")

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = None
    reasoning_effort: str | None = None
    request_timeout_s: float = Field(default=DEFAULT_REQUEST_TIMEOUT_S, gt=0)  # per attempt
    max_tokens: int = Field(default=4096, gt=0)
    # The chat's context for this role: past this many characters, earlier messages are
    # replaced by a model-written summary (a call like any other, counted in the budget).
    context_chars: int = Field(default=60_000, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _drop_fixed_timeout(cls, data: Any) -> Any:
        """run.json of runs before ``--request-timeout`` holds ``timeout_s``: the fixed 120 s
        nobody chose. A resumed run gets the default instead."""
        if isinstance(data, dict) and "timeout_s" in data:
            data = {k: v for k, v in data.items() if k != "timeout_s"}
        return data


def is_local_url(base_url: str | None) -> bool:
    """Whether ``base_url`` points at this machine or a private network (no API key needed)."""
    if not base_url:
        return False
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified


def api_key_for(cfg: RoleModelConfig) -> str:
    """The role's API key from ``cfg.api_key_env``; a local server may go without one."""
    key = os.environ.get(cfg.api_key_env, "")
    if key:
        return key
    if is_local_url(cfg.base_url):
        return NO_KEY_NEEDED
    raise ModelConfigError(
        f"model {cfg.model!r} needs an API key: set the environment variable {cfg.api_key_env}"
        " (or point --base-url at a local OpenAI-compatible server); "
        "`--model heuristic` runs offline without any model")


def make_chat_model(cfg: RoleModelConfig) -> BaseChatModel:
    """A `ChatOpenAI` for ``cfg`` (chat completions API, no client-side retries)."""
    from langchain_openai import ChatOpenAI  # heavy: imported only when a model is built

    options: dict[str, object] = {
        "model": cfg.model,
        "api_key": api_key_for(cfg),
        "timeout": cfg.request_timeout_s,
        "max_tokens": cfg.max_tokens,
        "stream_usage": True,  # streamed answers carry their usage, priced like any other
        "max_retries": 0,  # ModelCaller retries, so every attempt is counted and priced
        # OpenAI-compatible servers speak chat completions; the Responses API is OpenAI's own.
        "use_responses_api": False,
    }
    if cfg.base_url:
        options["base_url"] = cfg.base_url
        # The SDK sends the limit as OpenAI's `max_completion_tokens`; older compatible servers
        # (llama.cpp, Ollama) read only `max_tokens`, so send that too (vLLM takes either).
        options["extra_body"] = {"max_tokens": cfg.max_tokens}
    if cfg.temperature is not None:
        options["temperature"] = cfg.temperature
    if cfg.reasoning_effort is not None:
        options["reasoning_effort"] = cfg.reasoning_effort
    return ChatOpenAI(**options)  # type: ignore[arg-type]


def parse_role_model(spec: str) -> tuple[str, str]:
    """``"coder=gpt-4.1"`` → ``("coder", "gpt-4.1")``; `ModelConfigError` on a bad spec or role."""
    role, sep, model = spec.partition("=")
    role, model = role.strip(), model.strip()
    if not sep or not role or not model:
        raise ModelConfigError(f"--role-model {spec!r}: expected ROLE=MODEL, e.g. coder=gpt-4.1")
    _check_role(role)
    return role, model


def resolve_role_models(
    model: str | None,
    role_models: Mapping[str, str] | Iterable[str],
    base_url: str | None = None,
    *,
    api_key_env: str = "OPENAI_API_KEY",
    temperature: float | None = None,
    reasoning_effort: str | None = None,
    request_timeout_s: float | None = None,
    max_tokens: int = 4096,
    models_file: str | Path | None = None,
) -> dict[str, RoleModelConfig]:
    """Every role's config: ``model`` for all roles, ``role_models`` overriding single roles.

    ``role_models`` is a mapping role → model or the raw ``ROLE=MODEL`` strings of
    ``--role-model``. Every other setting applies to every role; ``request_timeout_s`` None
    means `DEFAULT_REQUEST_TIMEOUT_S`. A ``models_file`` (`read_models_file`) overrides all of
    them: its top level for every role, its ``[roles.NAME]`` tables for one.
    """
    timeout = DEFAULT_REQUEST_TIMEOUT_S if request_timeout_s is None else request_timeout_s
    overrides = (dict(role_models) if isinstance(role_models, Mapping)
                 else dict(parse_role_model(spec) for spec in role_models))
    for role in overrides:
        _check_role(role)
    shared, per_role = read_models_file(Path(models_file)) if models_file else ({}, {})
    configs: dict[str, RoleModelConfig] = {}
    for role in ROLES:
        settings: dict[str, Any] = {
            "model": overrides.get(role, model), "base_url": base_url,
            "api_key_env": api_key_env, "temperature": temperature,
            "reasoning_effort": reasoning_effort, "request_timeout_s": timeout,
            "max_tokens": max_tokens, **shared, **per_role.get(role, {})}
        if not settings["model"]:
            raise ModelConfigError(f"no model for role {role!r}: pass --model MODEL for every "
                                   f"role or --role-model {role}=MODEL"
                                   + (f", or set model in {models_file}" if models_file else ""))
        configs[role] = RoleModelConfig(**settings)
    return configs


def read_models_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The settings of a models file (TOML): those for every role, and those per role.

    ::

        base_url = "http://127.0.0.1:8000/v1"    # every role
        model = "qwen2.5-coder-32b"
        request_timeout_s = 900

        [roles.critic]                           # one role: overrides the lines above
        model = "llama3.1-8b"
        request_timeout_s = 300

    Keys are `RoleModelConfig`'s fields; `ModelConfigError` names the file and the field.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelConfigError(f"{path}: models file not found") from None
    except OSError as exc:
        raise ModelConfigError(f"{path}: cannot read models file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelConfigError(f"{path}: not valid TOML: {exc}") from exc
    roles = data.pop("roles", {})
    if not isinstance(roles, dict):
        raise ModelConfigError(f"{path}: roles: expected [roles.NAME] tables, got {roles!r}")
    shared = _check_settings(path, "", data)
    per_role: dict[str, dict[str, Any]] = {}
    for role, table in roles.items():
        if role not in ROLES:
            raise ModelConfigError(f"{path}: roles.{role}: unknown role; roles are "
                                   + ", ".join(ROLES))
        if not isinstance(table, dict):
            raise ModelConfigError(f"{path}: roles.{role}: expected a table of settings")
        per_role[role] = _check_settings(path, f"roles.{role}.", table)
    return shared, per_role


def _check_settings(path: Path, prefix: str, table: dict[str, Any]) -> dict[str, Any]:
    fields = RoleModelConfig.model_fields
    for key, value in table.items():
        if key not in fields:
            raise ModelConfigError(f"{path}: {prefix}{key}: unknown setting (expected one of "
                                   f"{', '.join(fields)})")
        try:
            RoleModelConfig.model_validate({"model": "m", key: value})
        except ValueError as exc:
            first = str(exc).splitlines()[-1].strip() if str(exc) else "invalid"
            raise ModelConfigError(f"{path}: {prefix}{key}: {first}") from None
    return dict(table)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ModelConfigError(f"unknown role {role!r} in --role-model; roles are "
                               + ", ".join(ROLES))
