"""Per-role model configuration and building `ChatOpenAI` from it."""

from __future__ import annotations

import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agents.models import (
    DEFAULT_REQUEST_TIMEOUT_S,
    NO_KEY_NEEDED,
    ROLES,
    ModelConfigError,
    RoleModelConfig,
    is_local_url,
    make_chat_model,
    parse_role_model,
    resolve_role_models,
)


def test_model_flag_sets_every_role_and_role_model_overrides_one() -> None:
    configs = resolve_role_models("gpt-4.1-mini", {"coder": "gpt-4.1"}, None)
    assert list(configs) == list(ROLES)
    assert {r: c.model for r, c in configs.items()} == {
        "planner": "gpt-4.1-mini", "coder": "gpt-4.1", "critic": "gpt-4.1-mini",
        "reviewer": "gpt-4.1-mini"}


def test_shared_settings_apply_to_every_role() -> None:
    configs = resolve_role_models("m", ["critic=o3"], "http://localhost:8000/v1",
                                  api_key_env="LOCAL_KEY", temperature=0.2,
                                  reasoning_effort="high", request_timeout_s=30,
                                  max_tokens=999)
    for cfg in configs.values():
        assert (cfg.base_url, cfg.api_key_env, cfg.temperature, cfg.reasoning_effort,
                cfg.request_timeout_s, cfg.max_tokens) == (
            "http://localhost:8000/v1", "LOCAL_KEY", 0.2, "high", 30, 999)
    assert configs["critic"].model == "o3"


def test_unknown_role_is_an_error_that_lists_the_roles() -> None:
    with pytest.raises(ModelConfigError, match="unknown role 'judge'.*planner, coder"):
        resolve_role_models("m", {"judge": "o3"}, None)


def test_a_role_without_any_model_is_an_error() -> None:
    with pytest.raises(ModelConfigError, match="no model for role 'planner'"):
        resolve_role_models(None, {"coder": "gpt-4.1"}, None)


@pytest.mark.parametrize("spec", ["coder", "coder=", "=gpt-4.1", ""])
def test_role_model_spec_must_be_role_equals_model(spec: str) -> None:
    with pytest.raises(ModelConfigError, match="ROLE=MODEL"):
        parse_role_model(spec)


def test_role_model_spec_is_parsed() -> None:
    assert parse_role_model(" coder = gpt-4.1 ") == ("coder", "gpt-4.1")


def test_chat_model_gets_the_config_and_never_retries_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test-0123456789")
    cfg = RoleModelConfig(model="gpt-4.1", base_url="https://example.invalid/v1",
                          api_key_env="TEST_OPENAI_KEY", temperature=0.3, reasoning_effort="low",
                          request_timeout_s=42, max_tokens=321)
    model = make_chat_model(cfg)
    assert isinstance(model, ChatOpenAI)
    assert (model.model_name, model.openai_api_base, model.temperature, model.reasoning_effort,
            model.request_timeout, model.max_tokens, model.max_retries, model.stream_usage) == (
        "gpt-4.1", "https://example.invalid/v1", 0.3, "low", 42, 321, 0, True)
    assert isinstance(model.openai_api_key, SecretStr)
    assert model.openai_api_key.get_secret_value() == "sk-test-0123456789"


def test_unset_options_are_left_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    model = make_chat_model(RoleModelConfig(model="o4-mini"))
    assert isinstance(model, ChatOpenAI)
    assert model.temperature is None and model.reasoning_effort is None


def test_missing_key_names_the_variable_and_the_offline_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_TEST_KEY", raising=False)
    with pytest.raises(ModelConfigError, match="MISSING_TEST_KEY.*--model heuristic"):
        make_chat_model(RoleModelConfig(model="gpt-4.1", api_key_env="MISSING_TEST_KEY"))


@pytest.mark.parametrize("url", ["http://localhost:8000/v1", "http://127.0.0.1:11434/v1",
                                 "http://[::1]:8080/v1", "http://192.168.1.20:8000/v1",
                                 "http://vllm.localhost/v1"])
def test_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.delenv("MISSING_TEST_KEY", raising=False)
    assert is_local_url(url)
    model = make_chat_model(RoleModelConfig(model="llama", base_url=url,
                                            api_key_env="MISSING_TEST_KEY"))
    assert isinstance(model, ChatOpenAI) and isinstance(model.openai_api_key, SecretStr)
    assert model.openai_api_key.get_secret_value() == NO_KEY_NEEDED


@pytest.mark.parametrize("url", [None, "https://api.openai.com/v1", "http://8.8.8.8/v1",
                                 "http://localhost.evil.com/v1"])
def test_remote_servers_are_not_local(url: str | None) -> None:
    assert not is_local_url(url)


def test_config_rejects_unknown_fields_and_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        RoleModelConfig(model="m", temprature=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        RoleModelConfig(model="m", max_tokens=0)


def test_the_default_request_timeout_is_at_least_ten_minutes() -> None:
    # Reasoning models think for minutes before their first token; 120 s failed 3 calls in 16.
    assert DEFAULT_REQUEST_TIMEOUT_S >= 600
    assert RoleModelConfig(model="m").request_timeout_s >= 600
    assert all(c.request_timeout_s >= 600 for c in resolve_role_models("m", {}, None).values())


def test_the_old_fixed_timeout_in_a_run_json_gives_way_to_the_default() -> None:
    old = RoleModelConfig.model_validate({"model": "m", "timeout_s": 120})
    assert old.request_timeout_s == DEFAULT_REQUEST_TIMEOUT_S
    assert "timeout_s" not in old.model_dump()
    with pytest.raises(ValueError):
        RoleModelConfig(model="m", request_timeout_s=0)


def test_a_models_file_sets_every_role_and_overrides_one(tmp_path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('base_url = "http://127.0.0.1:8000/v1"\nmodel = "qwen"\n'
                    "request_timeout_s = 900\n\n"
                    '[roles.critic]\nmodel = "llama"\nrequest_timeout_s = 300\n'
                    'reasoning_effort = "low"\n')
    configs = resolve_role_models("gpt-4.1", ["coder=o3"], None, max_tokens=777,
                                  models_file=path)
    assert {r: (c.model, c.request_timeout_s) for r, c in configs.items()} == {
        "planner": ("qwen", 900), "coder": ("qwen", 900), "critic": ("llama", 300),
        "reviewer": ("qwen", 900)}  # the file wins over the flags
    assert all(c.base_url == "http://127.0.0.1:8000/v1" and c.max_tokens == 777
               for c in configs.values())
    assert configs["critic"].reasoning_effort == "low" and configs["coder"].reasoning_effort is None


@pytest.mark.parametrize("text, message", [
    ('modle = "x"\n', r"models.toml: modle: unknown setting"),
    ('[roles.judge]\nmodel = "x"\n', r"models.toml: roles.judge: unknown role"),
    ('[roles.coder]\nrequest_timeout_s = -5\n', r"models.toml: roles.coder.request_timeout_s: "),
    ('[roles.coder]\nmax_tokens = "many"\n', r"models.toml: roles.coder.max_tokens: "),
    ("model = \n", r"models.toml: not valid TOML"),
])
def test_a_bad_models_file_names_the_file_and_the_field(tmp_path, text: str,
                                                        message: str) -> None:
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(ModelConfigError, match=message):
        resolve_role_models("m", {}, None, models_file=path)
    with pytest.raises(ModelConfigError, match="models file not found"):
        resolve_role_models("m", {}, None, models_file=tmp_path / "missing.toml")
