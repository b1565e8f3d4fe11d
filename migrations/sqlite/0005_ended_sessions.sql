-- Console sessions ended by logging out before their cookie expired. The cookie is signed and
-- carries its own expiry, so only the ended ones need a row, kept until they would expire.
CREATE TABLE ended_sessions (
    sid      TEXT PRIMARY KEY,
    until_ms BIGINT NOT NULL
);
