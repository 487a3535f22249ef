"""``GLASSNET_ALLOWED_HOSTS`` / ``GLASSNET_ALLOWED_ORIGINS`` as the README writes them (QA3 inst #2):
a comma-separated list or a JSON list; a malformed one is one line naming the variable and the
format, never pydantic-settings' 'error parsing value for field ...'."""

from __future__ import annotations

import pytest

from glassnet.service.settings import Settings


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("glassnet.example.org", ["glassnet.example.org"]),
        ("glassnet.example.org, foo ,bar", ["glassnet.example.org", "foo", "bar"]),
        ('["glassnet.example.org", "foo"]', ["glassnet.example.org", "foo"]),
        ("", []),
        ("*", ["*"]),
    ],
)
def test_a_list_setting_is_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, written: str, read: list[str]
) -> None:
    monkeypatch.setenv("GLASSNET_ALLOWED_HOSTS", written)
    monkeypatch.setenv("GLASSNET_ALLOWED_ORIGINS", written.replace("glassnet.", "https://glassnet."))
    settings = Settings()
    assert settings.allowed_hosts == read
    assert settings.allowed_origins == [r.replace("glassnet.", "https://glassnet.") for r in read]


def test_the_readme_example_origin_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSNET_ALLOWED_ORIGINS", "https://glassnet.example.org")
    assert Settings().allowed_origins == ["https://glassnet.example.org"]
    assert Settings(allowed_origins=["https://a.example"]).allowed_origins == ["https://a.example"]


def test_a_malformed_list_names_the_variable_and_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    from glassnet.cli import _settings

    monkeypatch.setenv("GLASSNET_ALLOWED_HOSTS", '["glassnet.example.org"')
    with pytest.raises(ValueError) as caught:
        _settings()
    message = str(caught.value)
    assert message.startswith("GLASSNET_ALLOWED_HOSTS='[\"glassnet.example.org\"': ")
    assert "comma-separated" in message and "JSON list" in message
    assert "error parsing value" not in message
