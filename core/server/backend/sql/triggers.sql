-- The triggers' functions. Every write takes the next sequence number, the writing
-- transaction's id and the time; a deleted row (or the old id of a row whose id changed)
-- leaves a tombstone, and a written id loses its tombstone.
--
-- Loaded by PgServerStore from the resource :/batchsync/server/sql/ and run in order, statement
-- by statement, in one transaction. Placeholders: @schema@ (the quoted schema the bookkeeping
-- lives in, named everywhere so that the triggers work whatever search_path the writing
-- session has), @catalogue_lock@ (the advisory lock that serialises catalogue changes between
-- server processes) and @version@ (marks the installed SQL; a newer one replaces it).

CREATE OR REPLACE FUNCTION @schema@._bs_now() RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

CREATE OR REPLACE FUNCTION @schema@._bs_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW._bs_seq := nextval('@schema@._bs_seq');
    NEW._bs_xid := pg_current_xact_id();
    NEW._bs_changed_at := @schema@._bs_now();
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION @schema@._bs_tombstone() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_id text;
    new_id text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_id := to_jsonb(OLD) ->> TG_ARGV[1];
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_id := to_jsonb(NEW) ->> TG_ARGV[1];
        IF TG_OP = 'INSERT' OR old_id IS DISTINCT FROM new_id THEN
            DELETE FROM @schema@._bs_tombstones WHERE entity = TG_ARGV[0] AND id = new_id;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND old_id IS DISTINCT FROM new_id) THEN
        INSERT INTO @schema@._bs_tombstones(entity, id, seq, xid, changed_at)
        VALUES (TG_ARGV[0], old_id, nextval('@schema@._bs_seq'), pg_current_xact_id(), @schema@._bs_now())
        ON CONFLICT (entity, id) DO UPDATE
            SET seq = excluded.seq, xid = excluded.xid, changed_at = excluded.changed_at;
    END IF;
    RETURN NULL;
END $$;
