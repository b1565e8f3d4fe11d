-- The reason an operator gave for ending a subscription's coverage. The gateway subscription
-- is cancelled first; the sync that follows sends this reason with AURA's DELETE.
ALTER TABLE subscriptions ADD COLUMN end_reason TEXT;
