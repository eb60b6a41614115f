-- One transfer as the service sends it (infrastructure/postgres/locking.py, writes.py),
-- at SERIALIZABLE: lock-and-load both accounts in ascending id order in one statement,
-- with the database's clock and what expired holds still reserve; one UPDATE of both
-- balances guarded by the versions just read, the transfer row, and both entries in one
-- INSERT, dated by that clock; new balances and versions are computed client-side, as
-- the domain does. Run with -D naccounts=N over the accounts seeded by bench/seed.py, whose
-- ids are 'b0b0b0b0' and the account number in 24 hex digits (bench/plan.py).
\set a random(1, :naccounts)
\set k random(1, :naccounts - 1)
\set b 1 + (:a - 1 + :k) % :naccounts
\set amount random(1, 100)
BEGIN ISOLATION LEVEL SERIALIZABLE;
WITH ids AS (
    SELECT ('b0b0b0b0' || lpad(to_hex(:a::integer), 24, '0'))::uuid AS src,
           ('b0b0b0b0' || lpad(to_hex(:b::integer), 24, '0'))::uuid AS dst
), clock AS (
    SELECT clock_timestamp() AS now
), locked AS (
    SELECT accounts.*, clock.now AS clock, (
        SELECT CAST(coalesce(sum(amount - captured_amount - released_amount), 0) AS bigint)
        FROM holds
        WHERE source_account_id = accounts.id AND status = 'active'
            AND expires_at <= clock.now
    ) AS lapsed_held
    FROM accounts, ids, clock
    WHERE accounts.id IN (ids.src, ids.dst)
    ORDER BY accounts.id
    FOR UPDATE OF accounts
)
SELECT ids.src, ids.dst,
       (extract(epoch FROM max(locked.clock)) * 1000000)::bigint AS clock_us,
       max(locked.balance) FILTER (WHERE locked.id = ids.src) AS src_balance,
       max(locked.version) FILTER (WHERE locked.id = ids.src) AS src_version,
       max(locked.balance) FILTER (WHERE locked.id = ids.dst) AS dst_balance,
       max(locked.version) FILTER (WHERE locked.id = ids.dst) AS dst_version
FROM ids, locked GROUP BY ids.src, ids.dst \gset
\set src_after :src_balance - :amount
\set dst_after :dst_balance + :amount
\set src_next :src_version + 1
\set dst_next :dst_version + 1
UPDATE accounts
SET balance = changes.balance, status = changes.status, version = changes.version,
    held = changes.held, overdraft_limit = changes.overdraft_limit,
    metadata = changes.metadata
FROM (VALUES
        (:src::uuid, :src_version::bigint, :src_after::bigint, 'active', :src_next::bigint,
         0::bigint, 0::bigint, '{}'::jsonb),
        (:dst::uuid, :dst_version::bigint, :dst_after::bigint, 'active', :dst_next::bigint,
         0::bigint, 0::bigint, '{}'::jsonb)
     ) AS changes (id, loaded_version, balance, status, version, held, overdraft_limit,
                   metadata)
WHERE accounts.id = changes.id AND accounts.version = changes.loaded_version;
INSERT INTO transfers (id, kind, source_account_id, destination_account_id, amount,
                       currency, description, status, created_at, hold_id, metadata,
                       batch_id)
VALUES (gen_random_uuid(), 'transfer', :src::uuid, :dst::uuid, :amount::bigint, 'USD',
        NULL, 'posted', timestamptz 'epoch' + :clock_us * interval '1 microsecond', NULL,
        '{}'::jsonb, NULL)
RETURNING id AS transfer_id \gset
INSERT INTO entries (id, transfer_id, account_id, amount, currency, balance_after,
                     account_version, created_at, available_after)
VALUES (gen_random_uuid(), :transfer_id::uuid, :src::uuid, -:amount::bigint, 'USD',
        :src_after::bigint, :src_next::bigint,
        timestamptz 'epoch' + :clock_us * interval '1 microsecond', :src_after::bigint),
       (gen_random_uuid(), :transfer_id::uuid, :dst::uuid, :amount::bigint, 'USD',
        :dst_after::bigint, :dst_next::bigint,
        timestamptz 'epoch' + :clock_us * interval '1 microsecond', :dst_after::bigint);
COMMIT;
