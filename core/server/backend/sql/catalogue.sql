-- The bookkeeping tables: the sequence of changes, the entity catalogue, the tombstones and
-- the moves of row filters.
--
-- Loaded by PgServerStore from the resource :/batchsync/server/sql/ and run in order, statement
-- by statement, in one transaction. Placeholders: @schema@ (the quoted schema the bookkeeping
-- lives in, named everywhere so that the triggers work whatever search_path the writing
-- session has), @catalogue_lock@ (the advisory lock that serialises catalogue changes between
-- server processes) and @version@ (marks the installed SQL; a newer one replaces it).

CREATE SEQUENCE IF NOT EXISTS @schema@._bs_seq;

CREATE TABLE IF NOT EXISTS @schema@._bs_entities(
    position bigserial NOT NULL,
    name text COLLATE "C" PRIMARY KEY,
    table_schema text NOT NULL,
    table_name text NOT NULL,
    id_column text NOT NULL DEFAULT 'id',
    fields text NOT NULL);

CREATE TABLE IF NOT EXISTS @schema@._bs_tombstones(
    entity text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    xid xid8 NOT NULL,
    changed_at text COLLATE "C" NOT NULL,
    PRIMARY KEY (entity, id));

CREATE INDEX IF NOT EXISTS _bs_tombstones_cursor ON @schema@._bs_tombstones(entity, xid, seq);

CREATE INDEX IF NOT EXISTS _bs_tombstones_changed
    ON @schema@._bs_tombstones(entity, changed_at, id);

-- The remembered result of each pushed change, by its client and changeId (POST .../changes).
CREATE TABLE IF NOT EXISTS @schema@._bs_pushes(
    client text COLLATE "C" NOT NULL,
    change_id text COLLATE "C" NOT NULL,
    result text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (client, change_id));

CREATE INDEX IF NOT EXISTS _bs_pushes_at ON @schema@._bs_pushes(at);

-- The fields row filters use, per entity, with their columns. Only ever added to.
CREATE TABLE IF NOT EXISTS @schema@._bs_row_fields(
    entity text COLLATE "C" NOT NULL,
    field text COLLATE "C" NOT NULL,
    column_name text NOT NULL,
    PRIMARY KEY (entity, field));

-- A move: a transaction's change of a record that was live before it (see triggers.sql), at
-- the position of the record's last change in the transaction, with the values of the
-- entity's registered fields before the transaction (old) and after it (new; null when it
-- deleted the record), jsonb by column name. A move whose old values match a row filter and
-- whose new ones do not is served to that filter's callers as a deletion.
CREATE TABLE IF NOT EXISTS @schema@._bs_moves(
    entity text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    xid xid8 NOT NULL,
    changed_at text COLLATE "C" NOT NULL,
    old jsonb NOT NULL,
    new jsonb);

CREATE INDEX IF NOT EXISTS _bs_moves_id ON @schema@._bs_moves(entity, id, xid, seq);
