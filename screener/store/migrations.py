"""Ordered schema migrations. The store applies every migration above its recorded version, each in a transaction.

Never edit a released migration: add a new one at the end, so existing stores upgrade in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

#: What a migration runs: SQL text, or a function given the connection for a step SQL alone cannot do (decoding
#: stored Parquet). Either runs inside the migration's transaction.
Step = str | Callable[["duckdb.DuckDBPyConnection"], None]


def _score_sets_as_tables(con: duckdb.DuckDBPyConnection) -> None:
    """v12: each stored score set's rows move from a Parquet BLOB into a table of their own (``store.scores``)."""
    from screener.store.scores import ROWS_SCHEMA, split_score_sets

    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ROWS_SCHEMA}")
    # the table holding the set's rows ('score_rows."<as-of>"'); NULL: payload holds the whole set as Parquet
    con.execute("ALTER TABLE score_sets ADD COLUMN rows_in VARCHAR")
    split_score_sets(con)


MIGRATIONS: list[tuple[int, str, Step]] = [
    (
        1,
        "core tables: companies, role tags with history, fundamentals, prices, fx, events, ingest log",
        """
        CREATE SEQUENCE IF NOT EXISTS seq_tag_history START 1;
        CREATE SEQUENCE IF NOT EXISTS seq_ingest START 1;
        CREATE TABLE companies (
            symbol VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            country VARCHAR NOT NULL,
            currency VARCHAR NOT NULL,
            segment VARCHAR,
            stage VARCHAR NOT NULL,
            gov_backing VARCHAR,
            description VARCHAR,
            source VARCHAR,
            origin VARCHAR NOT NULL,          -- 'bundled' (shipped, refreshed by init) or 'user' (owned by the user)
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL
        );
        CREATE TABLE role_tags (
            symbol VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,
            source VARCHAR,
            tagged_at TIMESTAMP NOT NULL,
            PRIMARY KEY (symbol, role)
        );
        CREATE TABLE role_tag_history (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_tag_history'),
            symbol VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            action VARCHAR NOT NULL,          -- 'add' or 'remove'
            actor VARCHAR NOT NULL,           -- 'bundled', 'import', 'user'
            source VARCHAR,
            changed_at TIMESTAMP NOT NULL
        );
        CREATE TABLE fundamentals (
            symbol VARCHAR NOT NULL,
            period_end DATE NOT NULL,
            period VARCHAR NOT NULL,
            currency VARCHAR NOT NULL,
            revenue DOUBLE,
            operating_income DOUBLE,
            net_income DOUBLE,
            operating_cash_flow DOUBLE,
            capital_expenditure DOUBLE,
            free_cash_flow DOUBLE,
            cash DOUBLE,
            total_debt DOUBLE,
            total_equity DOUBLE,
            inventory DOUBLE,
            shares_outstanding DOUBLE,
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (symbol, period_end, period)
        );
        CREATE TABLE prices (
            symbol VARCHAR NOT NULL,
            date DATE NOT NULL,
            close DOUBLE NOT NULL,
            volume DOUBLE,
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (symbol, date)
        );
        CREATE TABLE fx (
            currency VARCHAR NOT NULL,
            date DATE NOT NULL,
            usd_per_unit DOUBLE NOT NULL,
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (currency, date)
        );
        CREATE TABLE events (
            symbol VARCHAR NOT NULL,
            date DATE NOT NULL,
            kind VARCHAR NOT NULL,
            description VARCHAR NOT NULL,
            stage VARCHAR,
            capacity_tpa DOUBLE,
            target_year BIGINT,
            amount_usd DOUBLE,
            source VARCHAR,
            origin VARCHAR NOT NULL,
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (symbol, date, kind, description)
        );
        CREATE TABLE ingest_log (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_ingest'),
            logged_at TIMESTAMP NOT NULL,
            provider VARCHAR NOT NULL,
            kind VARCHAR,
            source VARCHAR,
            symbol VARCHAR,
            rows_in BIGINT,
            rows_stored BIGINT,
            rows_rejected BIGINT,
            status VARCHAR NOT NULL,          -- 'ok', 'skipped', 'rejected', 'failed'
            message VARCHAR
        );
        """,
    ),
    (
        2,
        "validation: rejected rows kept out of the main tables, with the expectation that failed",
        """
        CREATE SEQUENCE IF NOT EXISTS seq_rejected START 1;
        CREATE TABLE rejected_rows (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_rejected'),
            rejected_at TIMESTAMP NOT NULL,
            provider VARCHAR NOT NULL,
            source VARCHAR,
            kind VARCHAR NOT NULL,
            key VARCHAR,
            expectation VARCHAR NOT NULL,
            column_name VARCHAR,
            value VARCHAR
        );
        """,
    ),
    (
        3,
        "factor scores per as-of date",
        """
        CREATE TABLE score_sets (
            as_of DATE PRIMARY KEY,
            computed_at TIMESTAMP NOT NULL,
            demo BOOLEAN NOT NULL,
            n_companies BIGINT NOT NULL,
            inputs_hash VARCHAR,
            payload BLOB NOT NULL             -- the score frame as Parquet, so dtypes round-trip exactly
        );
        """,
    ),
    (
        4,
        "weekly watchlist runs",
        """
        CREATE SEQUENCE IF NOT EXISTS seq_run START 1;
        CREATE TABLE watchlist_runs (
            run_id BIGINT PRIMARY KEY DEFAULT nextval('seq_run'),
            as_of DATE NOT NULL,
            iso_week VARCHAR NOT NULL,
            rules_name VARCHAR NOT NULL,
            rules_hash VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            data_freshness VARCHAR,
            demo BOOLEAN NOT NULL,
            payload BLOB NOT NULL,            -- ranked rows (members and candidates) as Parquet
            changes BLOB                      -- attributed changes against the previous run, as Parquet
        );
        CREATE TABLE watchlist_members (
            run_id BIGINT NOT NULL,
            rank BIGINT NOT NULL,
            symbol VARCHAR NOT NULL,
            score DOUBLE,
            PRIMARY KEY (run_id, symbol)
        );
        """,
    ),
    (
        5,
        "live data: company profiles from the provider, share-count history, refresh freshness per subject",
        """
        CREATE TABLE company_profiles (
            symbol VARCHAR PRIMARY KEY,
            name VARCHAR,
            quote_currency VARCHAR,           -- the provider's quote unit, e.g. 'GBp'
            price_unit VARCHAR,               -- the unit stored closes are in (the universe's listing currency)
            financial_currency VARCHAR,       -- currency of the statements
            country VARCHAR,                  -- as the provider names it (free text, not ISO)
            sector VARCHAR,
            industry VARCHAR,
            summary VARCHAR,
            shares_outstanding DOUBLE,        -- the provider's current count
            price DOUBLE,                     -- the provider's last price, main currency unit
            market_cap DOUBLE,                -- shares_outstanding x price, main currency unit
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL
        );
        CREATE TABLE share_history (
            symbol VARCHAR NOT NULL,
            date DATE NOT NULL,
            shares DOUBLE NOT NULL,
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (symbol, date)
        );
        CREATE TABLE refresh_state (
            subject VARCHAR NOT NULL,         -- a symbol, or a currency pair such as 'KRWUSD=X'
            part VARCHAR NOT NULL,            -- 'fundamentals', 'prices' or 'fx'
            fetched_at TIMESTAMP,             -- last complete fetch: freshness is measured from here
            attempted_at TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL,          -- 'ok', 'rejected', 'failed'
            message VARCHAR,
            PRIMARY KEY (subject, part)
        );
        """,
    ),
    (
        6,
        "trustworthy data: stock splits, resolution of rejected rows, first empty answer per refresh subject",
        """
        CREATE TABLE splits (
            symbol VARCHAR NOT NULL,
            date DATE NOT NULL,               -- first trading day at the new share count
            ratio DOUBLE NOT NULL,            -- new shares per old share (5 for 5:1, 0.1 for 1:10)
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (symbol, date)
        );
        ALTER TABLE rejected_rows ADD COLUMN resolved_at TIMESTAMP;   -- a later load stored the same key
        ALTER TABLE refresh_state ADD COLUMN empty_since TIMESTAMP;   -- first of a run of empty answers
        """,
    ),
    (
        7,
        "thesis engine v2: exposure and listing dates, project ledger columns on events, dated tag changes",
        """
        ALTER TABLE companies ADD COLUMN exposure DOUBLE;             -- 0-1 share of the business in the chain
        ALTER TABLE companies ADD COLUMN exposure_source VARCHAR;
        ALTER TABLE companies ADD COLUMN listed_from DATE;
        ALTER TABLE companies ADD COLUMN delisted_on DATE;
        ALTER TABLE events ADD COLUMN project VARCHAR;                -- one project across stages and partners
        ALTER TABLE events ADD COLUMN unit VARCHAR;                   -- what capacity_tpa measures
        ALTER TABLE events ADD COLUMN equity_share DOUBLE;            -- empty: the project's latest stated, else 1
        ALTER TABLE events ADD COLUMN status VARCHAR;                 -- empty: the project's latest stated, else active
        ALTER TABLE events ADD COLUMN counterparty VARCHAR;
        ALTER TABLE events ADD COLUMN counterparty_type VARCHAR;      -- 'government' or 'private'
        ALTER TABLE events ADD COLUMN direction VARCHAR;              -- 'receives' or 'pays'
        ALTER TABLE events ADD COLUMN binding BOOLEAN;
        ALTER TABLE events ADD COLUMN date_precision VARCHAR DEFAULT 'day';
        UPDATE events SET date_precision = 'day' WHERE date_precision IS NULL;
        ALTER TABLE role_tag_history ADD COLUMN effective_on DATE;    -- when the change took effect; NULL: always
        -- changes made before dates were kept took effect the day they were made; a symbol's first tags hold always
        UPDATE role_tag_history SET effective_on = CAST(changed_at AS DATE)
            WHERE changed_at > (
                SELECT min(h.changed_at) FROM role_tag_history h WHERE h.symbol = role_tag_history.symbol
            );
        CREATE SEQUENCE IF NOT EXISTS seq_company_history START 1;
        CREATE TABLE company_history (                                 -- dated changes of stage and exposure
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_company_history'),
            symbol VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            old_value VARCHAR,                -- the value before the change (text; cast back by field)
            new_value VARCHAR,
            effective_on DATE NOT NULL,       -- scores as of an earlier day read old_value
            changed_at TIMESTAMP NOT NULL,
            actor VARCHAR NOT NULL            -- the provider or 'bundled'
        );
        """,
    ),
    (
        8,
        "stored backtests: parameters, rule set and the whole result",
        """
        CREATE SEQUENCE IF NOT EXISTS seq_backtest START 1;
        CREATE TABLE backtests (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_backtest'),
            created_at TIMESTAMP NOT NULL,
            rules_name VARCHAR NOT NULL,
            rules_hash VARCHAR NOT NULL,
            params VARCHAR NOT NULL,          -- the resolved parameters as JSON text (BacktestParams.to_dict)
            demo BOOLEAN NOT NULL,
            n_dates BIGINT NOT NULL,
            payload BLOB NOT NULL             -- the whole result (BacktestResult.to_blob): a JSON head, then Parquet
        );
        """,
    ),
    (
        9,
        "a data version the store bumps on every write of score inputs: stored scores are current while it holds",
        """
        CREATE TABLE store_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),   -- one row
            data_version BIGINT NOT NULL              -- +1 per committed write of market data, tags or universe
        );
        INSERT INTO store_state VALUES (1, 1);
        -- score sets stored before the counter carry a content hash no data version can match: recomputed once
        UPDATE score_sets SET inputs_hash = NULL;
        """,
    ),
    (
        10,
        "universe suggest: the cached suggestion model, and the probability and model of an accepted suggestion",
        """
        CREATE TABLE suggestion_models (
            training_hash VARCHAR PRIMARY KEY,        -- hash of the labelled texts and the model spec it learnt from
            model_version VARCHAR NOT NULL,           -- the short name an accepted tag records
            trained_at TIMESTAMP NOT NULL,
            examples BIGINT NOT NULL,                 -- labelled texts it learnt from
            metrics VARCHAR NOT NULL,                 -- cross-validated figures per role, JSON
            payload BLOB NOT NULL                     -- learnt parameters as a numpy archive (no pickled objects)
        );
        ALTER TABLE role_tag_history ADD COLUMN probability DOUBLE;    -- an accepted suggestion's probability
        ALTER TABLE role_tag_history ADD COLUMN model_version VARCHAR; -- and the model that made it
        """,
    ),
    (
        11,
        "catalyst inbox: news headlines as stored, and the ones a user accepted as events",
        """
        CREATE TABLE headlines (
            id VARCHAR PRIMARY KEY,           -- stable: a hash of the provider and its own id (or link, text, time)
            symbol VARCHAR,                   -- the company the provider filed it under; NULL: matched by name
            headline VARCHAR NOT NULL,
            publisher VARCHAR,
            link VARCHAR,
            published_at TIMESTAMP NOT NULL,  -- UTC; an accepted event is dated by it, never by the day of accepting
            provider VARCHAR NOT NULL,        -- 'yahoo' (refresh's news) or 'file' (a user's headlines file)
            source VARCHAR,                   -- the batch it came in: 'yahoo:news:SYMBOL' or the file's path
            loaded_at TIMESTAMP NOT NULL
        );
        CREATE TABLE headline_decisions (       -- one row per accepted headline: the inbox itself never writes events
            headline_id VARCHAR PRIMARY KEY,
            symbol VARCHAR NOT NULL,          -- the stored event's key (symbol, date, kind, description)
            date DATE NOT NULL,
            kind VARCHAR NOT NULL,
            description VARCHAR NOT NULL,
            probability DOUBLE,               -- the model's probability of the suggested kind
            model_version VARCHAR NOT NULL,   -- a hash of the training data and the model's settings
            edited VARCHAR,                   -- the fields the user changed, as 'field=value; ...'
            decided_at TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        12,
        "score sets as tables: each set's rows in a table of its own, so a read touches only its columns and date",
        _score_sets_as_tables,
    ),
    (
        13,
        "prices and fundamentals keyed by the store's writes, not a key index: a first load is a bulk append",
        # DuckDB cannot drop a primary key in place: each table is rebuilt with the same columns, in key order (the
        # order a first load writes and readers scan fastest), its rows copied whole, and put in the old one's place.
        # Uniqueness stays guaranteed: every write of these tables is ``MarketData._write``, which refuses an
        # offer with a repeated key and merges on the key (``KEYS_KEPT_BY_WRITES``); ``screener check`` counts them.
        """
        CREATE TABLE prices_v13 (
            symbol VARCHAR NOT NULL,
            date DATE NOT NULL,
            close DOUBLE NOT NULL,
            volume DOUBLE,
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL
        );
        INSERT INTO prices_v13 SELECT symbol, date, close, volume, provider, loaded_at
            FROM prices ORDER BY symbol, date;
        DROP TABLE prices;
        ALTER TABLE prices_v13 RENAME TO prices;
        CREATE TABLE fundamentals_v13 (
            symbol VARCHAR NOT NULL,
            period_end DATE NOT NULL,
            period VARCHAR NOT NULL,
            currency VARCHAR NOT NULL,
            revenue DOUBLE,
            operating_income DOUBLE,
            net_income DOUBLE,
            operating_cash_flow DOUBLE,
            capital_expenditure DOUBLE,
            free_cash_flow DOUBLE,
            cash DOUBLE,
            total_debt DOUBLE,
            total_equity DOUBLE,
            inventory DOUBLE,
            shares_outstanding DOUBLE,
            provider VARCHAR NOT NULL,
            loaded_at TIMESTAMP NOT NULL
        );
        INSERT INTO fundamentals_v13 SELECT
            symbol, period_end, period, currency, revenue, operating_income, net_income, operating_cash_flow,
            capital_expenditure, free_cash_flow, cash, total_debt, total_equity, inventory, shares_outstanding,
            provider, loaded_at
        FROM fundamentals ORDER BY symbol, period_end, period;
        DROP TABLE fundamentals;
        ALTER TABLE fundamentals_v13 RENAME TO fundamentals;
        """,
    ),
]

#: Tables without a key index (migration 13), with the key their writes keep unique: a 13-million-row index
#: cost a first load more than the rows themselves, and its only use was refusing a repeated key, which
#: ``MarketData._write`` does on the offered frame, in key order, before anything is written.
KEYS_KEPT_BY_WRITES: dict[str, tuple[str, ...]] = {
    "prices": ("symbol", "date"),
    "fundamentals": ("symbol", "period_end", "period"),
}

#: The highest version, wherever it sits in the list (versions are applied in order of their number).
LATEST_VERSION = max(version for version, _, _ in MIGRATIONS)
