"""Yahoo's news reaches the inbox through the real yfinance library, answered by an offline Yahoo at its HTTP
boundary with a recorded response; an empty or failed answer stores nothing and is not fresh."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from screener.curation.headlines import NEWS_PART, fetch_news
from screener.intake.refresh import refresh
from screener.providers.yahoo import RetryPolicy, YahooProvider
from screener.store import Store
from tests._yahoo_helpers import ANCHOR_NOW, FakeYahoo, _response, load_fixture, recorded_aapl, reset_yfinance

NEWS = load_fixture("news_latestNews_AAPL.json")
EMPTY = {"data": {"tickerStream": {"pagination": {}, "stream": []}}}


def _news_hook(body: dict | None, status: int = 200):
    """Answer yfinance's news request (a POST to /xhr/ncp) with ``body``; leave every other request to the fake."""

    def hook(url: str):
        if "/xhr/ncp" not in url:
            return None
        return _response(url, status, json.dumps(body) if body is not None else "Server Error")

    return hook


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch):
    reset_yfinance()

    def _make(body: dict | None, status: int = 200) -> tuple[FakeYahoo, YahooProvider]:
        fake = FakeYahoo([recorded_aapl()])
        fake.hooks.append(_news_hook(body, status))
        provider = YahooProvider(fake, retry=RetryPolicy(retries=1, base_delay=0.01), sleep=lambda _s: None, seed=1)
        monkeypatch.setattr("screener.intake.refresh.default_provider", lambda: provider)
        return fake, provider

    return _make


def _news_state(store: Store) -> dict:
    state = store.refresh_state()
    rows = state.filter(state["part"] == NEWS_PART)
    return rows.row(0, named=True) if rows.height else {}


def test_refresh_news_stores_the_recorded_stories_with_publisher_link_and_time(store: Store, make) -> None:
    fake, provider = make(NEWS)
    notes: list[str] = []
    refresh(store, provider, symbols=["AAPL"], news=True, now=ANCHOR_NOW, note=notes.append)
    assert fake.data_calls("/xhr/ncp"), "the news went through yfinance's own request"
    stored = store.stored_headlines()
    assert stored.height == 9  # ten items, one of them a video
    first = stored.filter(stored["headline"].str.starts_with("Skyworks CEO")).row(0, named=True)
    assert first["publisher"] == "Reuters"
    assert first["link"].startswith("https://finance.yahoo.com/news/skyworks-ceo")
    assert first["published_at"] == datetime(2025, 10, 29, 22, 22, 33)
    assert first["symbol"] == "AAPL" and first["provider"] == "yahoo" and first["source"] == "yahoo:news:AAPL"
    state = _news_state(store)
    assert state["status"] == "ok" and state["fetched_at"] == ANCHOR_NOW
    assert any("news: 9 new headline(s)" in n for n in notes)
    assert store.frame("events").height == 0, "storing headlines never stores an event"


def test_the_same_stories_again_store_nothing_new_and_keep_their_ids(store: Store, make) -> None:
    _, provider = make(NEWS)
    fetch_news(store, provider, ["AAPL"], now=ANCHOR_NOW, max_age=timedelta(0))
    ids = sorted(store.stored_headlines()["id"].to_list())
    report = fetch_news(store, provider, ["AAPL"], now=ANCHOR_NOW + timedelta(hours=2), max_age=timedelta(0))
    assert report.stored == 0
    assert sorted(store.stored_headlines()["id"].to_list()) == ids


@pytest.mark.parametrize("answer", ["empty", "failed"])
def test_an_empty_or_failed_answer_stores_nothing_and_is_not_fresh(store: Store, make, answer: str) -> None:
    _, provider = make(EMPTY) if answer == "empty" else make(None, status=500)
    report = fetch_news(store, provider, ["AAPL"], now=ANCHOR_NOW, max_age=timedelta(days=1))
    assert store.stored_headlines().height == 0
    state = _news_state(store)
    assert state["fetched_at"] is None, "an empty or failed answer never counts as fresh"
    assert state["status"] == ("no_stories" if answer == "empty" else "failed")
    assert (report.empty if answer == "empty" else report.failed) == ["AAPL"]
    # the next run asks again
    again = fetch_news(store, provider, ["AAPL"], now=ANCHOR_NOW + timedelta(minutes=5), max_age=timedelta(days=1))
    assert again.asked == 1 and again.skipped == 0


def test_fresh_news_is_not_asked_for_again(store: Store, make) -> None:
    fake, provider = make(NEWS)
    fetch_news(store, provider, ["AAPL"], now=ANCHOR_NOW, max_age=timedelta(days=1))
    before = len(fake.data_calls("/xhr/ncp"))
    report = fetch_news(store, provider, ["AAPL"], now=ANCHOR_NOW + timedelta(hours=1), max_age=timedelta(days=1))
    assert report.skipped == 1 and len(fake.data_calls("/xhr/ncp")) == before


def test_a_story_that_fails_validation_is_recorded_as_rejected_not_stored(store: Store, make) -> None:
    body = json.loads(json.dumps(NEWS))
    body["data"]["tickerStream"]["stream"][0]["content"]["title"] = "   "
    _, provider = make(body)
    report = fetch_news(store, provider, ["AAPL"], now=ANCHOR_NOW, max_age=timedelta(days=1))
    assert report.rejected == 1 and store.stored_headlines().height == 8
    rejected = store.query("SELECT kind, column_name FROM rejected_rows")
    assert rejected.rows() == [("headlines", "headline")]


def test_cli_refresh_news_stores_headlines_and_says_so(db_path, make, invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    make(NEWS)  # the CLI's provider is the offline Yahoo
    monkeypatch.setattr("screener.intake.refresh.utcnow", lambda: ANCHOR_NOW)
    result = invoke("refresh", "--symbols", "AAPL", "--news", "--format", "csv")
    assert "news: 9 new headline(s) stored from 1 symbol(s)" in result.stderr
    with Store(db_path) as store:
        assert store.stored_headlines().height == 9
        assert store.frame("events").height == 0
    listed = invoke("events", "inbox", "--format", "csv")
    assert listed.exit_code == 0 and len(listed.stdout.strip().splitlines()) == 10
