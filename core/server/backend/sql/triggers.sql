-- The triggers' functions. Every write takes the next sequence number, the writing
-- transaction's id and the time; a deleted row (or the old id of a row whose id changed)
-- leaves a tombstone, and a written id loses its tombstone. On an entity with fields registered
-- for row filters, an update or deletion also records a move (see catalogue.sql).
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

-- A move is a transaction's change of a record that was live before it: the registered
-- fields' values before the transaction and after it (null: deleted), at the position of the
-- record's last change in it (later changes in the transaction move it along). A record
-- created or brought back in a transaction was nobody's to see before it: no move.
CREATE OR REPLACE FUNCTION @schema@._bs_tombstone() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    old_id text;
    new_id text;
    cols text[]; -- the columns of the entity's registered row filter fields
    dead_xid xid8;
    move_seq bigint;
    move_at text;
    new_values jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
        old_id := old_row ->> TG_ARGV[1];
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
        new_id := new_row ->> TG_ARGV[1];
        IF TG_OP = 'INSERT' OR old_id IS DISTINCT FROM new_id THEN
            DELETE FROM @schema@._bs_tombstones WHERE entity = TG_ARGV[0] AND id = new_id
                RETURNING xid INTO dead_xid;
            -- Deleted earlier in this transaction: its move follows it here.
            IF dead_xid = pg_current_xact_id() THEN
                SELECT array_agg(r.column_name) INTO cols
                    FROM @schema@._bs_row_fields r WHERE r.entity = TG_ARGV[0];
                UPDATE @schema@._bs_moves SET seq = NEW._bs_seq, changed_at = NEW._bs_changed_at,
                    new = (SELECT jsonb_object_agg(c, new_row -> c) FROM unnest(cols) c)
                WHERE entity = TG_ARGV[0] AND id = new_id AND xid = dead_xid;
            END IF;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND old_id IS DISTINCT FROM new_id) THEN
        move_seq := nextval('@schema@._bs_seq');
        move_at := @schema@._bs_now();
        INSERT INTO @schema@._bs_tombstones(entity, id, seq, xid, changed_at)
        VALUES (TG_ARGV[0], old_id, move_seq, pg_current_xact_id(), move_at)
        ON CONFLICT (entity, id) DO UPDATE
            SET seq = excluded.seq, xid = excluded.xid, changed_at = excluded.changed_at;
    ELSIF TG_OP = 'UPDATE' THEN
        move_seq := NEW._bs_seq;
        move_at := NEW._bs_changed_at;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT array_agg(r.column_name) INTO cols
            FROM @schema@._bs_row_fields r WHERE r.entity = TG_ARGV[0];
    END IF;
    IF TG_OP <> 'INSERT' AND cols IS NOT NULL THEN
        IF TG_OP = 'UPDATE' AND old_id IS NOT DISTINCT FROM new_id THEN -- the values after it
            SELECT jsonb_object_agg(c, new_row -> c) INTO new_values FROM unnest(cols) c;
        END IF;
        IF OLD._bs_xid = pg_current_xact_id() THEN
            UPDATE @schema@._bs_moves SET seq = move_seq, changed_at = move_at, new = new_values
            WHERE entity = TG_ARGV[0] AND id = old_id AND xid = OLD._bs_xid;
        ELSE
            INSERT INTO @schema@._bs_moves(entity, id, seq, xid, changed_at, old, new)
            SELECT TG_ARGV[0], old_id, move_seq, pg_current_xact_id(), move_at,
                jsonb_object_agg(c, old_row -> c), new_values
            FROM unnest(cols) c;
        END IF;
    END IF;
    -- Live clients wait on this (GET /wait): the servers LISTEN. Sent at commit, once per
    -- entity and transaction (PostgreSQL folds repeats).
    PERFORM pg_notify('batchsync_changes', TG_ARGV[0]);
    RETURN NULL;
END $$;
