-- The operator console: who did what to which subscription, and failed logins (kept here so
-- every replica counts the same attempts).

CREATE TABLE operator_actions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at               BIGINT NOT NULL,
    -- operator:NAME, api:TOKEN_NAME or customer:ID
    actor            TEXT NOT NULL,
    action           TEXT NOT NULL,
    aura_customer_id BIGINT,
    -- the gateway subscription id the action was taken on
    target           TEXT NOT NULL,
    detail           TEXT
);
CREATE INDEX operator_actions_customer ON operator_actions (aura_customer_id, at);

-- One row per failed login, for the name tried and the address it came from; pruned after
-- the rate-limit window.
CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX login_failures_scope ON login_failures (scope, at);
