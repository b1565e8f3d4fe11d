-- Times are BIGINT milliseconds since the Unix epoch (UTC), the same on Postgres and SQLite.

CREATE TABLE customers (
    aura_customer_id    BIGINT PRIMARY KEY,
    gateway_customer_id TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_gateway_customer ON customers (gateway_customer_id);

-- One visit from the app.
CREATE TABLE signups (
    id                      TEXT PRIMARY KEY,
    aura_customer_id        BIGINT NOT NULL,
    redirect_url            TEXT NOT NULL,
    plan                    TEXT,
    checkout_session_id     TEXT,
    checkout_url            TEXT,
    gateway_subscription_id TEXT,
    -- started | checkout | paid | cancelled | failed | already_covered
    outcome                 TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX signups_customer ON signups (aura_customer_id, created_at);
CREATE UNIQUE INDEX signups_checkout_session ON signups (checkout_session_id);

-- One gateway subscription and the AURA subscription that mirrors it.
CREATE TABLE subscriptions (
    gateway_subscription_id TEXT PRIMARY KEY,
    aura_customer_id        BIGINT NOT NULL,
    gateway_customer_id     TEXT,
    plan                    TEXT NOT NULL,
    gateway_status          TEXT NOT NULL,
    paid_through            BIGINT,
    cancel_at_period_end    BOOLEAN NOT NULL DEFAULT FALSE,
    aura_subscription_id    BIGINT,
    aura_valid_to           BIGINT,
    -- none | active | cancelled
    aura_state              TEXT NOT NULL DEFAULT 'none',
    -- JSON arrays of AURA customer ids: the whole desired list, and the list AURA holds
    dependants              TEXT NOT NULL DEFAULT '[]',
    aura_dependants         TEXT NOT NULL DEFAULT '[]',
    last_error              TEXT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (aura_customer_id);
CREATE INDEX subscriptions_valid_to ON subscriptions (aura_valid_to);

CREATE TABLE gateway_events (
    id              TEXT PRIMARY KEY,
    gateway         TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    subscription_id TEXT,
    payload         TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    processed_at    BIGINT,
    -- applied | ignored | waiting
    outcome         TEXT
);
CREATE INDEX gateway_events_subscription ON gateway_events (subscription_id, received_at);

-- The durable queue. One row per (kind, key): enqueueing again while a job waits or runs bumps
-- its generation, so the work is redone once after the running attempt, never lost.
CREATE TABLE sync_jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT NOT NULL,
    job_key      TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    generation   BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    locked_until BIGINT,
    locked_by    TEXT,
    dead         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX sync_jobs_kind_key ON sync_jobs (kind, job_key);
CREATE INDEX sync_jobs_due ON sync_jobs (run_at) WHERE NOT dead;

-- Every call made to AURA. Ids only: no names, phone numbers or other personal data.
CREATE TABLE aura_calls (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                      BIGINT NOT NULL,
    method                  TEXT NOT NULL,
    path                    TEXT NOT NULL,
    status                  BIGINT,
    duration_ms             BIGINT NOT NULL,
    aura_customer_id        BIGINT,
    aura_subscription_id    BIGINT,
    error                   TEXT
);
CREATE INDEX aura_calls_customer ON aura_calls (aura_customer_id, at);

-- The built-in sandbox gateway keeps its state here, so it survives restarts and replicas.
CREATE TABLE sandbox_sessions (
    id                   TEXT PRIMARY KEY,
    signup_id            TEXT NOT NULL,
    customer_ref         TEXT NOT NULL,
    plan                 TEXT NOT NULL,
    price_id             TEXT NOT NULL,
    idempotency_key      TEXT NOT NULL,
    success_url          TEXT NOT NULL,
    cancel_url           TEXT NOT NULL,
    -- open | complete | expired
    status               TEXT NOT NULL,
    paid                 BOOLEAN NOT NULL DEFAULT FALSE,
    gateway_customer     TEXT,
    gateway_subscription TEXT,
    created_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX sandbox_sessions_idempotency ON sandbox_sessions (idempotency_key);

CREATE TABLE sandbox_subscriptions (
    id                   TEXT PRIMARY KEY,
    customer             TEXT NOT NULL,
    status               TEXT NOT NULL,
    current_period_end   BIGINT NOT NULL,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    cancellation_reason  TEXT,
    price_id             TEXT NOT NULL,
    aura_customer_id     BIGINT NOT NULL,
    signup_id            TEXT NOT NULL,
    fail_next_renewal    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
