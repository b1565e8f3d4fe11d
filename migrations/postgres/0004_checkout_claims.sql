-- At most one checkout per customer is being opened at a time: the request opening one holds
-- its customer's row until it is done, or until `until_ms` has passed (a request that died).
CREATE TABLE checkout_claims (
    aura_customer_id BIGINT PRIMARY KEY,
    signup_id        TEXT NOT NULL,
    until_ms         BIGINT NOT NULL
);
