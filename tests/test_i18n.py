"""Every message exists in English and Chinese with the same placeholders."""

from __future__ import annotations

import pytest

from handshaker.explain.i18n import CATALOG, CATALOGUES, LANGS, placeholders, t


def test_every_key_in_every_language() -> None:
    for key, entry in CATALOG.items():
        for lang in LANGS:
            assert entry.get(lang), f"{key} has no {lang} text"


def test_placeholders_agree() -> None:
    for key, entry in CATALOG.items():
        en = placeholders(entry["en"])
        zh = placeholders(entry["zh"]) - {"i_zh"}
        assert zh <= en | {"i"}, f"{key}: zh uses {zh - en}"
        assert en - {"i"} <= zh | {"i"}, f"{key}: zh misses {en - zh}"


def test_chinese_uses_the_notes_terms() -> None:
    assert t("hs_syn", "zh").startswith("第一次握手")
    assert t("hs_synack", "zh").startswith("第二次握手")
    assert t("hs_ack", "zh").startswith("第三次握手")
    assert "第一次挥手" in t("close4", "zh", i=1, what="FIN")
    assert "ISN" in t("n_syn", "zh", isn=1)


def test_state_words_in_both_languages() -> None:
    from handshaker.explain.i18n import WORDS

    for name, entry in WORDS.items():
        assert entry.get("en") and entry.get("zh"), name


@pytest.mark.parametrize("name", sorted(CATALOGUES))
def test_catalogue_in_both_languages(name: str) -> None:
    """The report's page, the tls view, the certificate check, forward secrecy and the
    decryption reasons: every key in both languages, with the same placeholders."""
    for key, entry in CATALOGUES[name].items():
        assert set(entry) == {"en", "zh"} and all(entry.values()), key
        assert placeholders(entry["en"]) == placeholders(entry["zh"]), key
