"""Which language a run speaks, and the catalogs it speaks from.

The language: `--lang`, else KPSTASK_LANG, else the profile's `lang`, else the POSIX locale
variables in their order (LC_ALL, LC_MESSAGES, LANG); `C`, `POSIX` and anything not ours is
English. A `--lang` that is not one of ours is a usage error (exit 2) naming the languages.
The catalogs: every message of the code is in each one, translated, with the same `{fields}`,
and the compiled .mo is the .po's (`python -m kpstask.i18n.catalog check`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kpstask.i18n import LANGUAGES, catalog, from_locale, given_flag, language
from kpstask.settings.language import choose
from tests.conftest import run

ZH_WORD = "用法"  # `Usage:` in Chinese


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh_CN", "zh"),
        ("zh-Hans", "zh"),
        ("cn", "zh"),
        ("CN", "zh"),
        (" zh ", "zh"),
        ("fr", None),
        ("zh-TW", None),
        ("", None),
    ],
)
def test_the_values_of_lang(given: str, expected: str | None) -> None:
    assert language(given) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_CN.utf8@pinyin"}, "zh"),
        ({"LANG": "zh_SG"}, "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "en"),  # Traditional Chinese: not ours, so English
        ({"LANG": "C"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "C"}, "en"),
        ({"LC_ALL": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8", "LANG": "C"}, "zh"),
        ({"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, "zh"),  # an empty variable is not set
    ],
)
def test_the_locale_variables_in_their_order(env: dict[str, str], expected: str) -> None:
    assert from_locale(env) == expected


def test_the_flag_beats_the_variable_which_beats_the_profile_which_beats_the_locale(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default]\nlang = "zh"\n[other]\nlang = "en"\n')
    env = {"KPSTASK_CONFIG": str(config), "LANG": "en_US.UTF-8"}
    assert choose([], env)[0] == "zh"
    assert choose(["--profile", "other"], env)[0] == "en"
    assert choose([], {**env, "KPSTASK_PROFILE": "other"})[0] == "en"
    assert choose([], {**env, "KPSTASK_LANG": "en"})[0] == "en"
    assert choose(["--lang=zh"], {**env, "KPSTASK_LANG": "en"}) == ("zh", "--lang")
    assert choose(["get", "--lang", "en", "t1"], {"LANG": "zh_CN.UTF-8"})[0] == "en"
    assert choose([], {"LANG": "zh_CN.UTF-8"})[0] == "zh"


def test_the_last_lang_on_the_line_wins_and_nothing_after_a_double_dash() -> None:
    assert given_flag(["--lang", "zh", "get", "--lang=en"]) == "en"
    assert given_flag(["get", "--", "--lang", "zh"]) is None


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--lang", "zh"], {}),
        (["--lang", "zh-CN"], {}),
        (["--lang", "cn"], {}),
        ([], {"KPSTASK_LANG": "zh_CN"}),
        ([], {"LANG": "zh_CN.UTF-8"}),
        ([], {"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}),
    ],
)
def test_help_speaks_the_language_chosen(args: list[str], env: dict[str, str]) -> None:
    result = run("get", "--help", *args, env=env)
    assert result.exit_code == 0
    assert result.stdout.startswith(ZH_WORD)


@pytest.mark.parametrize(
    ("args", "env"),
    [([], {}), (["--lang", "en"], {"LANG": "zh_CN.UTF-8"}), ([], {"LANG": "C"}), ([], {"KPSTASK_LANG": "EN"})],
)
def test_english_when_asked_for_or_unset(args: list[str], env: dict[str, str]) -> None:
    assert run("get", "--help", *args, env=env).stdout.startswith("Usage:")


@pytest.mark.parametrize("where", [["--lang", "fr"], ["--lang=klingon"]])
def test_an_unknown_lang_is_a_usage_error_naming_the_languages(where: list[str]) -> None:
    result = run("get", "t1", *where)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("kpstask: error: unknown language '")
    assert "(from --lang)" in result.stderr
    assert "en (English), zh (简体中文; also zh-CN, zh_CN, zh-Hans, cn)" in result.stderr


def test_an_unknown_language_in_the_environment_too_said_in_the_locales_language() -> None:
    result = run("running", env={"KPSTASK_LANG": "fr", "LANG": "zh_CN.UTF-8"})
    assert result.exit_code == 2
    said = "kpstask: 错误: 未知的语言 'fr'\uff08来自 环境变量 KPSTASK_LANG\uff09"  # full-width brackets
    assert result.stderr.startswith(said)


def test_one_process_speaks_both_languages_one_run_after_another() -> None:
    assert run("get", "bad/id", "--lang", "zh").stderr.startswith("kpstask: 错误: 无效的任务 ID")
    assert run("get", "bad/id").stderr.startswith("kpstask: error: invalid task id")


def test_config_show_says_the_language_and_where_it_came_from() -> None:
    shown = run("config", "show", env={"KPSTASK_LANG": "zh"}).stdout
    assert "语言" in shown and "环境变量 KPSTASK_LANG" in shown
    assert re.search(r"^language +en  \(default\)$", run("config", "show").stdout, re.M)


def test_the_lang_of_a_profile(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default]\nlang = "cn"\n')
    result = run("get", "bad/id", env={"KPSTASK_CONFIG": str(config)})
    assert result.stderr.startswith("kpstask: 错误: ")


# -- the catalogs ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", catalog.catalogs())
def test_every_message_is_translated_and_the_catalog_is_current(lang: str) -> None:
    # Fails on a message of the code missing from the .po or left untranslated, a translation
    # whose {fields} differ, a .po message the code no longer has, or a stale .mo. The fix:
    # python -m kpstask.i18n.catalog extract, translate, python -m kpstask.i18n.catalog compile
    assert catalog.problems(lang) == []


def test_the_template_is_current() -> None:
    template = catalog.read_po(catalog.TEMPLATE)
    assert set(template) - {""} == {message.msgid for message in catalog.extract()}


def test_a_missing_translation_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    po = tmp_path / "kpstask.po"
    messages = catalog.extract()
    entries = catalog.read_po(catalog.po_path("zh"))
    del entries[messages[0].msgid]
    entries[messages[1].msgid] = [""]
    catalog.write_po(po, messages, entries, "zh")
    monkeypatch.setattr(catalog, "po_path", lambda lang: po)
    found = catalog.problems("zh")
    assert any(messages[0].msgid in problem and "not translated" in problem for problem in found), found
    assert any("stale" in problem for problem in found)


def test_every_language_has_a_catalog() -> None:
    for lang, folder in LANGUAGES.items():
        assert folder is None or (catalog.LOCALES / folder / "LC_MESSAGES" / "kpstask.mo").is_file(), lang


def test_the_compiled_catalog_is_read_by_gettext() -> None:
    import gettext

    with catalog.po_path("zh").with_suffix(".mo").open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    assert translations.gettext("Reset failed") == "重置失败"
    assert translations.ngettext("{count} error", "{count} errors", 2) == "{count} 个错误"


def test_one_command_made_once_shows_help_in_either_language() -> None:
    # The tests' command is made once (conftest.command): help translated for one run must
    # not stay translated for the next.
    assert run("wait", "--help", "--lang", "zh").stdout.startswith(ZH_WORD)
    english = run("wait", "--help").stdout
    assert english.startswith("Usage:") and "Wait until key-pair tasks are finished" in english
    assert "Connection:" in english and "Show this message and exit." in english
    assert run("wait", "--help", "--lang", "zh").stdout.startswith(ZH_WORD)


def test_tab_completes_the_languages_and_describes_options_in_chinese() -> None:
    env = {"_KPSTASK_COMPLETE": "complete_bash", "COMP_WORDS": "kpstask get --lang ", "COMP_CWORD": "3"}
    assert run(env=env).stdout.split() == ["en", "zh"]
    env = {"_KPSTASK_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "kpstask get --re", "KPSTASK_LANG": "zh"}
    assert "区域 ID" in run(env=env).stdout
