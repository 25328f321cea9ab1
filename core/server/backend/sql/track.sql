-- batchsync_track('table'): serves an existing table, adding the bookkeeping columns,
-- triggers and indexes, and its fields to the catalogue.
--
-- Loaded by PgServerStore from the resource :/batchsync/server/sql/ and run in order, statement
-- by statement, in one transaction. Placeholders: @schema@ (the quoted schema the bookkeeping
-- lives in, named everywhere so that the triggers work whatever search_path the writing
-- session has), @catalogue_lock@ (the advisory lock that serialises catalogue changes between
-- server processes) and @version@ (marks the installed SQL; a newer one replaces it).

CREATE OR REPLACE FUNCTION @schema@.batchsync_track(
    tbl regclass, entity text DEFAULT NULL, id_column text DEFAULT 'id')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    schema_name text;
    table_name text;
    fields jsonb := '[]'::jsonb;
    col record;
    field_type text;
BEGIN
    PERFORM pg_advisory_xact_lock(@catalogue_lock@);
    SELECT n.nspname, c.relname INTO schema_name, table_name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    entity := coalesce(entity, table_name);
    IF entity !~ '^[A-Za-z][A-Za-z0-9_]{0,63}$' OR lower(entity) = 'id'
        OR lower(entity) LIKE 'sqlite\_%' THEN
        RAISE EXCEPTION 'batchsync: "%" is not a valid entity name', entity;
    END IF;
    IF schema_name !~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$'
        OR table_name !~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$'
        OR id_column !~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$' THEN
        RAISE EXCEPTION 'batchsync: table and id column names must be plain identifiers';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_attribute a
            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = tbl AND i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL
            AND a.attname = id_column) THEN
        RAISE EXCEPTION 'batchsync: table % needs a primary key or unique index on column "%"',
            tbl, id_column;
    END IF;
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS _bs_seq bigint, '
                   'ADD COLUMN IF NOT EXISTS _bs_xid xid8, '
                   'ADD COLUMN IF NOT EXISTS _bs_changed_at text COLLATE "C"', tbl);
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = '_bs_stamp') THEN
        EXECUTE format('DROP TRIGGER _bs_stamp ON %s', tbl);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = '_bs_tombstone') THEN
        EXECUTE format('DROP TRIGGER _bs_tombstone ON %s', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER _bs_stamp BEFORE INSERT OR UPDATE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION @schema@._bs_stamp()', tbl);
    EXECUTE format('UPDATE %s SET _bs_seq = NULL', tbl);
    EXECUTE format('ALTER TABLE %s ALTER COLUMN _bs_seq SET NOT NULL, '
                   'ALTER COLUMN _bs_xid SET NOT NULL, '
                   'ALTER COLUMN _bs_changed_at SET NOT NULL', tbl);
    EXECUTE format('CREATE TRIGGER _bs_tombstone AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION @schema@._bs_tombstone(%L, %L)',
                   tbl, entity, id_column);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s(_bs_xid, _bs_seq)',
                   '_bs_cursor_' || table_name, tbl);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s(_bs_changed_at, (%I::text) COLLATE "C")',
                   '_bs_changed_' || table_name, tbl, id_column);
    FOR col IN
        SELECT a.attname::text AS name, format_type(a.atttypid, NULL) AS type
        FROM pg_attribute a
        WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attname <> id_column AND a.attname NOT LIKE '\_bs\_%'
        ORDER BY a.attnum
    LOOP
        field_type := CASE
            WHEN col.type IN ('text', 'character varying', 'character', 'uuid') THEN 'string'
            WHEN col.type IN ('bigint', 'integer', 'smallint') THEN 'int'
            WHEN col.type IN ('double precision', 'real') THEN 'real'
            WHEN col.type = 'numeric' THEN 'decimal'
            WHEN col.type = 'boolean' THEN 'bool'
            WHEN col.type IN ('timestamp with time zone', 'timestamp without time zone')
                THEN 'datetime'
            END;
        IF field_type IS NULL THEN
            RAISE NOTICE 'batchsync: column % of type % is not synced', col.name, col.type;
        ELSIF col.name !~ '^[A-Za-z][A-Za-z0-9_]{0,63}$' OR lower(col.name) = 'id' THEN
            RAISE NOTICE 'batchsync: column "%" is not a valid field name and is not synced',
                col.name;
        ELSE
            fields := fields || jsonb_build_object('name', col.name, 'type', field_type,
                                                   'column', col.name, 'sqltype', col.type);
        END IF;
    END LOOP;
    INSERT INTO @schema@._bs_entities(name, table_schema, table_name, id_column, fields)
    VALUES (entity, schema_name, table_name, id_column, fields::text)
    ON CONFLICT (name) DO UPDATE SET table_schema = excluded.table_schema,
        table_name = excluded.table_name, id_column = excluded.id_column,
        fields = excluded.fields;
    RETURN entity;
END $$;

COMMENT ON FUNCTION @schema@.batchsync_track(regclass, text, text) IS '@version@';
