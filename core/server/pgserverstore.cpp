#include "pgserverstore.h"

#include "common/identifier.h"
#include "common/logging.h"
#include "common/timestamp.h"
#include "server/serverjson.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QUrl>
#include <QUrlQuery>

namespace BatchSync {

namespace {

constexpr auto Driver = "QPSQL";
// Marks the installed SQL; a newer one replaces the functions.
constexpr auto InstalledVersion = "batchsync 1";
// Serialises installs and catalogue changes between server processes.
constexpr qint64 CatalogueLock = 0x62617463687379; // "batchsy"
// Rows per INSERT statement, within PostgreSQL's 65535 parameters.
constexpr int RowsPerStatement = 500;

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

QString errorText(const QSqlError &error)
{
    const QString text = error.databaseText().trimmed();
    return text.isEmpty() ? error.text().trimmed() : text;
}

// A libpq connection string value: quoted when it needs to be.
QString conninfoValue(const QString &value)
{
    if (!value.isEmpty() && !value.contains(u' ') && !value.contains(u'\'')
        && !value.contains(u'\\'))
        return value;
    QString quoted = value;
    quoted.replace(u'\\', QLatin1String("\\\\"));
    quoted.replace(u'\'', QLatin1String("\\'"));
    return u'\'' + quoted + u'\'';
}

// The column types a field may live in, as format_type() names them.
bool isKnownSqlType(const QString &type)
{
    static const QSet<QString> known {
        QStringLiteral("text"),
        QStringLiteral("character varying"),
        QStringLiteral("character"),
        QStringLiteral("uuid"),
        QStringLiteral("bigint"),
        QStringLiteral("integer"),
        QStringLiteral("smallint"),
        QStringLiteral("double precision"),
        QStringLiteral("real"),
        QStringLiteral("numeric"),
        QStringLiteral("boolean"),
        QStringLiteral("timestamp with time zone"),
        QStringLiteral("timestamp without time zone"),
    };
    return known.contains(type);
}

// The column type of a field in a table this server creates, and the type a field is read as
// (the tombstones' typed nulls).
QString fieldSqlType(FieldType type)
{
    switch (type) {
    case FieldType::Int:
        return QStringLiteral("bigint");
    case FieldType::Real:
        return QStringLiteral("double precision");
    case FieldType::Bool:
        return QStringLiteral("boolean");
    case FieldType::String:
    case FieldType::DateTime:
        break;
    }
    return QStringLiteral("text");
}

// A column read as its field's JSON form; timestamps become protocol text in UTC.
QString selectExpression(const QString &column, const QString &sqlType)
{
    if (sqlType == QLatin1String("timestamp with time zone"))
        return QStringLiteral("to_char(%1 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
            .arg(column);
    if (sqlType == QLatin1String("timestamp without time zone"))
        return QStringLiteral("to_char(%1, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')").arg(column);
    if (sqlType == QLatin1String("numeric") || sqlType == QLatin1String("real"))
        return column + QLatin1String("::double precision");
    if (sqlType == QLatin1String("integer") || sqlType == QLatin1String("smallint"))
        return column + QLatin1String("::bigint");
    if (sqlType == QLatin1String("character varying") || sqlType == QLatin1String("character")
        || sqlType == QLatin1String("uuid"))
        return column + QLatin1String("::text");
    return column;
}

struct Cursor
{
    QString xid = QStringLiteral("0");
    qint64 seq = 0;
};

bool isDigits(QStringView text)
{
    if (text.isEmpty() || text.size() > 18)
        return false;
    for (QChar c : text) {
        if (c < u'0' || c > u'9')
            return false;
    }
    return true;
}

// "" and "0" are the start; otherwise "xid.seq" as changesJson hands it out.
std::optional<Cursor> parseCursor(const QString &text)
{
    if (text.isEmpty() || text == QLatin1String("0"))
        return Cursor();
    const qsizetype dot = text.indexOf(u'.');
    if (dot < 0)
        return std::nullopt;
    const QStringView xid = QStringView(text).left(dot);
    const QStringView seq = QStringView(text).mid(dot + 1);
    if (!isDigits(xid) || !isDigits(seq))
        return std::nullopt;
    return Cursor { xid.toString(), seq.toLongLong() };
}

/*
    The bookkeeping, installed into one schema (%1, quoted) and naming it everywhere, so that
    the triggers work whatever search_path the writing session has. Every write takes the
    next sequence number, the writing transaction's id and the time; a deleted row (or the old
    id of a row whose id changed) leaves a tombstone, and a written id loses its tombstone.
*/
QStringList installSql(const QString &schema)
{
    const QStringList statements = {
        QStringLiteral("CREATE SEQUENCE IF NOT EXISTS %1._bs_seq"),
        QStringLiteral("CREATE TABLE IF NOT EXISTS %1._bs_entities("
                       "position bigserial NOT NULL, name text COLLATE \"C\" PRIMARY KEY, "
                       "table_schema text NOT NULL, table_name text NOT NULL, "
                       "id_column text NOT NULL DEFAULT 'id', fields text NOT NULL)"),
        QStringLiteral("CREATE TABLE IF NOT EXISTS %1._bs_tombstones("
                       "entity text COLLATE \"C\" NOT NULL, id text COLLATE \"C\" NOT NULL, "
                       "seq bigint NOT NULL, xid xid8 NOT NULL, "
                       "changed_at text COLLATE \"C\" NOT NULL, PRIMARY KEY (entity, id))"),
        QStringLiteral("CREATE INDEX IF NOT EXISTS _bs_tombstones_cursor "
                       "ON %1._bs_tombstones(entity, xid, seq)"),
        QStringLiteral("CREATE INDEX IF NOT EXISTS _bs_tombstones_changed "
                       "ON %1._bs_tombstones(entity, changed_at, id)"),
        QStringLiteral(
            "CREATE OR REPLACE FUNCTION %1._bs_now() RETURNS text LANGUAGE sql VOLATILE AS "
            "$$ SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') $$"),
        QStringLiteral(R"(CREATE OR REPLACE FUNCTION %1._bs_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW._bs_seq := nextval('%1._bs_seq');
    NEW._bs_xid := pg_current_xact_id();
    NEW._bs_changed_at := %1._bs_now();
    RETURN NEW;
END $$)"),
        QStringLiteral(R"(CREATE OR REPLACE FUNCTION %1._bs_tombstone() RETURNS trigger
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
            DELETE FROM %1._bs_tombstones WHERE entity = TG_ARGV[0] AND id = new_id;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND old_id IS DISTINCT FROM new_id) THEN
        INSERT INTO %1._bs_tombstones(entity, id, seq, xid, changed_at)
        VALUES (TG_ARGV[0], old_id, nextval('%1._bs_seq'), pg_current_xact_id(), %1._bs_now())
        ON CONFLICT (entity, id) DO UPDATE
            SET seq = excluded.seq, xid = excluded.xid, changed_at = excluded.changed_at;
    END IF;
    RETURN NULL;
END $$)"),
        QStringLiteral(R"(CREATE OR REPLACE FUNCTION %1.batchsync_track(
    tbl regclass, entity text DEFAULT NULL, id_column text DEFAULT 'id')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    schema_name text;
    table_name text;
    fields jsonb := '[]'::jsonb;
    col record;
    field_type text;
BEGIN
    PERFORM pg_advisory_xact_lock(%2);
    SELECT n.nspname, c.relname INTO schema_name, table_name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    entity := coalesce(entity, table_name);
    IF entity !~ '^[A-Za-z][A-Za-z0-9_]{0,63}$' OR lower(entity) = 'id'
        OR lower(entity) LIKE 'sqlite\_%%' THEN
        RAISE EXCEPTION 'batchsync: "%%" is not a valid entity name', entity;
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
        RAISE EXCEPTION 'batchsync: table %% needs a primary key or unique index on column "%%"',
            tbl, id_column;
    END IF;
    EXECUTE format('ALTER TABLE %%s ADD COLUMN IF NOT EXISTS _bs_seq bigint, '
                   'ADD COLUMN IF NOT EXISTS _bs_xid xid8, '
                   'ADD COLUMN IF NOT EXISTS _bs_changed_at text COLLATE "C"', tbl);
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = '_bs_stamp') THEN
        EXECUTE format('DROP TRIGGER _bs_stamp ON %%s', tbl);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = '_bs_tombstone') THEN
        EXECUTE format('DROP TRIGGER _bs_tombstone ON %%s', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER _bs_stamp BEFORE INSERT OR UPDATE ON %%s '
                   'FOR EACH ROW EXECUTE FUNCTION %1._bs_stamp()', tbl);
    EXECUTE format('UPDATE %%s SET _bs_seq = NULL', tbl);
    EXECUTE format('ALTER TABLE %%s ALTER COLUMN _bs_seq SET NOT NULL, '
                   'ALTER COLUMN _bs_xid SET NOT NULL, '
                   'ALTER COLUMN _bs_changed_at SET NOT NULL', tbl);
    EXECUTE format('CREATE TRIGGER _bs_tombstone AFTER INSERT OR UPDATE OR DELETE ON %%s '
                   'FOR EACH ROW EXECUTE FUNCTION %1._bs_tombstone(%%L, %%L)',
                   tbl, entity, id_column);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %%I ON %%s(_bs_xid, _bs_seq)',
                   '_bs_cursor_' || table_name, tbl);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %%I ON %%s(_bs_changed_at, (%%I::text) COLLATE "C")',
                   '_bs_changed_' || table_name, tbl, id_column);
    FOR col IN
        SELECT a.attname::text AS name, format_type(a.atttypid, NULL) AS type
        FROM pg_attribute a
        WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attname <> id_column AND a.attname NOT LIKE '\_bs\_%%'
        ORDER BY a.attnum
    LOOP
        field_type := CASE
            WHEN col.type IN ('text', 'character varying', 'character', 'uuid') THEN 'string'
            WHEN col.type IN ('bigint', 'integer', 'smallint') THEN 'int'
            WHEN col.type IN ('double precision', 'real', 'numeric') THEN 'real'
            WHEN col.type = 'boolean' THEN 'bool'
            WHEN col.type IN ('timestamp with time zone', 'timestamp without time zone')
                THEN 'datetime'
            END;
        IF field_type IS NULL THEN
            RAISE NOTICE 'batchsync: column %% of type %% is not synced', col.name, col.type;
        ELSIF col.name !~ '^[A-Za-z][A-Za-z0-9_]{0,63}$' OR lower(col.name) = 'id' THEN
            RAISE NOTICE 'batchsync: column "%%" is not a valid field name and is not synced',
                col.name;
        ELSE
            fields := fields || jsonb_build_object('name', col.name, 'type', field_type,
                                                   'column', col.name, 'sqltype', col.type);
        END IF;
    END LOOP;
    INSERT INTO %1._bs_entities(name, table_schema, table_name, id_column, fields)
    VALUES (entity, schema_name, table_name, id_column, fields::text)
    ON CONFLICT (name) DO UPDATE SET table_schema = excluded.table_schema,
        table_name = excluded.table_name, id_column = excluded.id_column,
        fields = excluded.fields;
    RETURN entity;
END $$)"),
        QStringLiteral("COMMENT ON FUNCTION %1.batchsync_track(regclass, text, text) IS '%3'"),
    };
    QStringList result;
    for (const QString &statement : statements) {
        QString sql = statement;
        sql.replace(QLatin1String("%1"), schema);
        sql.replace(QLatin1String("%2"), QString::number(CatalogueLock));
        sql.replace(QLatin1String("%3"), QLatin1String(InstalledVersion));
        sql.replace(QLatin1String("%%"), QLatin1String("%"));
        result.append(sql);
    }
    return result;
}

} // namespace

bool PgConnection::parse(const QString &text, PgConnection *connection, QString *error)
{
    PgConnection result;
    QList<std::pair<QString, QString>> pairs;
    const QString trimmed = text.trimmed();
    if (trimmed.startsWith(QLatin1String("postgresql://"))
        || trimmed.startsWith(QLatin1String("postgres://"))) {
        const QUrl url(trimmed, QUrl::StrictMode);
        if (!url.isValid()) {
            setError(error,
                     QStringLiteral("not a valid PostgreSQL URI: %1").arg(url.errorString()));
            return false;
        }
        if (!url.host().isEmpty())
            pairs.append({ QStringLiteral("host"), url.host() });
        if (url.port() > 0)
            pairs.append({ QStringLiteral("port"), QString::number(url.port()) });
        const QString path = url.path().mid(1);
        if (!path.isEmpty())
            pairs.append({ QStringLiteral("dbname"), path });
        if (!url.userName().isEmpty())
            pairs.append({ QStringLiteral("user"), url.userName() });
        if (!url.password().isEmpty())
            pairs.append({ QStringLiteral("password"), url.password() });
        const QUrlQuery query(url);
        for (const auto &[key, value] : query.queryItems(QUrl::FullyDecoded))
            pairs.append({ key, value });
    } else {
        qsizetype i = 0;
        const qsizetype n = trimmed.size();
        while (i < n) {
            while (i < n && trimmed.at(i).isSpace())
                ++i;
            if (i == n)
                break;
            const qsizetype keyStart = i;
            while (i < n && trimmed.at(i) != u'=' && !trimmed.at(i).isSpace())
                ++i;
            const QString key = trimmed.mid(keyStart, i - keyStart);
            while (i < n && trimmed.at(i).isSpace())
                ++i;
            if (key.isEmpty() || i == n || trimmed.at(i) != u'=') {
                setError(error,
                         QStringLiteral("expected key=value in the connection string, at \"%1\"")
                             .arg(trimmed.mid(keyStart, 20)));
                return false;
            }
            ++i;
            while (i < n && trimmed.at(i).isSpace())
                ++i;
            QString value;
            if (i < n && trimmed.at(i) == u'\'') {
                ++i;
                bool closed = false;
                while (i < n) {
                    const QChar c = trimmed.at(i++);
                    if (c == u'\\' && i < n) {
                        value += trimmed.at(i++);
                    } else if (c == u'\'') {
                        closed = true;
                        break;
                    } else {
                        value += c;
                    }
                }
                if (!closed) {
                    setError(error,
                             QStringLiteral("unterminated quoted value for \"%1\" in the "
                                            "connection string")
                                 .arg(key));
                    return false;
                }
            } else {
                while (i < n && !trimmed.at(i).isSpace()) {
                    const QChar c = trimmed.at(i++);
                    if (c == u'\\' && i < n)
                        value += trimmed.at(i++);
                    else
                        value += c;
                }
            }
            pairs.append({ key, value });
        }
    }

    QStringList options;
    for (const auto &[key, value] : std::as_const(pairs)) {
        if (key == QLatin1String("host") || key == QLatin1String("hostaddr")) {
            result.host = value;
        } else if (key == QLatin1String("port")) {
            bool ok = false;
            result.port = value.toInt(&ok);
            if (!ok || result.port < 1 || result.port > 65535) {
                setError(
                    error,
                    QStringLiteral("the port \"%1\" is not a number from 1 to 65535").arg(value));
                return false;
            }
        } else if (key == QLatin1String("dbname")) {
            result.databaseName = value;
        } else if (key == QLatin1String("user")) {
            result.userName = value;
        } else if (key == QLatin1String("password")) {
            result.password = value;
        } else {
            // QPSQL joins its connect options with ';' turned into spaces.
            if (value.contains(u';')) {
                setError(error, QStringLiteral("the value of \"%1\" cannot contain ';'").arg(key));
                return false;
            }
            options.append(key + u'=' + conninfoValue(value));
        }
    }
    if (!options.join(u' ').contains(QLatin1String("connect_timeout=")))
        options.append(QStringLiteral("connect_timeout=10"));
    result.options = options.join(u' ');
    *connection = result;
    return true;
}

QString PgConnection::describe() const
{
    QStringList parts;
    parts.append(
        QStringLiteral("host=%1").arg(host.isEmpty() ? QStringLiteral("(local socket)") : host));
    if (port > 0)
        parts.append(QStringLiteral("port=%1").arg(port));
    if (!databaseName.isEmpty())
        parts.append(QStringLiteral("dbname=%1").arg(databaseName));
    if (!userName.isEmpty())
        parts.append(QStringLiteral("user=%1").arg(userName));
    return parts.join(u' ');
}

struct PgServerStore::Entity
{
    struct Field
    {
        QString column; // quoted
        QString sqlType;
    };

    EntitySchema schema;
    QString table; // "schema"."table"
    QString idColumn; // quoted
    QString idType;
    QList<Field> columns; // in schema order
    QList<QByteArray> jsonKeys; // "name": with a comma before all but the first
    QString definition; // what the catalogue said; a change rebuilds the entity

    // Prepared on first use and kept: a page must not pay for parsing SQL.
    std::unique_ptr<QSqlQuery> upsertQuery; // RowsPerStatement rows
    std::unique_ptr<QSqlQuery> removeQuery;
    std::unique_ptr<QSqlQuery> cursorPageQuery;
    std::unique_ptr<QSqlQuery> offsetPageQuery;
    std::unique_ptr<QSqlQuery> cursorCountQuery;
    std::unique_ptr<QSqlQuery> offsetCountQuery;

    void resetQueries()
    {
        upsertQuery.reset();
        removeQuery.reset();
        cursorPageQuery.reset();
        offsetPageQuery.reset();
        cursorCountQuery.reset();
        offsetCountQuery.reset();
    }

    // Live rows and tombstones as one relation c(x, s, i, a, d, f0, f1, ...).
    QString changes(const QString &schemaName) const
    {
        QString live = QStringLiteral("SELECT t._bs_xid AS x, t._bs_seq AS s, (t.%1::text) "
                                      "COLLATE \"C\" AS i, t._bs_changed_at AS a, false AS d")
                           .arg(idColumn);
        QString dead = QStringLiteral("SELECT b.xid, b.seq, b.id, b.changed_at, true");
        for (qsizetype i = 0; i < columns.size(); ++i) {
            live += QStringLiteral(", %1 AS f%2")
                        .arg(selectExpression(QLatin1String("t.") + columns.at(i).column,
                                              columns.at(i).sqlType))
                        .arg(i);
            dead += QStringLiteral(", NULL::%1").arg(fieldSqlType(schema.fields.at(i).type));
        }
        live += QLatin1String(" FROM ") + table + QLatin1String(" t");
        // Entity names are checked identifiers: nothing to escape in the literal.
        dead += QStringLiteral(" FROM %1._bs_tombstones b WHERE b.entity = '%2'")
                    .arg(schemaName, schema.name);
        return QStringLiteral("(%1 UNION ALL %2) c").arg(live, dead);
    }

    QString pageColumns() const
    {
        QString sql = QStringLiteral("SELECT c.x::text, c.s, c.i, c.a, c.d");
        for (qsizetype i = 0; i < columns.size(); ++i)
            sql += QStringLiteral(", c.f%1").arg(i);
        return sql;
    }

    QString upsertSql(int rows) const
    {
        QString names = idColumn;
        QString row = QStringLiteral("(CAST(? AS %1)").arg(idType);
        QString updates;
        for (const Field &field : columns) {
            names += QLatin1String(", ") + field.column;
            row += QStringLiteral(", CAST(? AS %1)").arg(field.sqlType);
            if (!updates.isEmpty())
                updates += QLatin1String(", ");
            updates += field.column + QLatin1String(" = excluded.") + field.column;
        }
        row += u')';
        if (updates.isEmpty()) // still a write: the trigger stamps it as a change
            updates = idColumn + QLatin1String(" = excluded.") + idColumn;
        QStringList values;
        for (int i = 0; i < rows; ++i)
            values.append(row);
        return QStringLiteral("INSERT INTO %1(%2) VALUES %3 ON CONFLICT (%4) DO UPDATE SET %5")
            .arg(table, names, values.join(QLatin1String(", ")), idColumn, updates);
    }
};

PgServerStore::PgServerStore(const QString &connectionString, const QString &connectionName)
    : m_connectionString(connectionString)
    , m_connectionName(connectionName)
{
}

PgServerStore::~PgServerStore()
{
    if (!m_open)
        return;
    // Every QSqlQuery must be gone before the connection is removed.
    m_byName.clear();
    m_entities.clear();
    QSqlDatabase::database(m_connectionName, false).close();
    QSqlDatabase::removeDatabase(m_connectionName);
}

bool PgServerStore::isDriverAvailable()
{
    return QSqlDatabase::isDriverAvailable(QLatin1String(Driver));
}

bool PgServerStore::open(QString *error)
{
    if (m_open)
        return true;
    if (!isDriverAvailable()) {
        setError(error,
                 QStringLiteral("the Qt PostgreSQL driver (QPSQL) is not installed; on Debian "
                                "install libqt6sql6-psql"));
        return false;
    }
    if (QSqlDatabase::contains(m_connectionName)) {
        setError(error,
                 QStringLiteral("the database connection name \"%1\" is already in use")
                     .arg(m_connectionName));
        return false;
    }
    PgConnection connection;
    QString problem;
    if (!PgConnection::parse(m_connectionString, &connection, &problem)) {
        setError(error, QStringLiteral("bad PostgreSQL connection string: %1").arg(problem));
        return false;
    }

    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QLatin1String(Driver), m_connectionName);
        db.setHostName(connection.host);
        if (connection.port > 0)
            db.setPort(connection.port);
        db.setDatabaseName(connection.databaseName);
        db.setUserName(connection.userName);
        db.setPassword(connection.password);
        db.setConnectOptions(connection.options);
        if (!db.open())
            problem = QStringLiteral("cannot connect to PostgreSQL (%1): %2")
                          .arg(connection.describe(), errorText(db.lastError()));
    }
    m_open = problem.isEmpty();
    if (m_open && !install(&problem))
        m_open = false;
    if (m_open && !reloadCatalogue(&problem))
        m_open = false;
    if (!m_open) {
        m_byName.clear();
        m_entities.clear();
        QSqlDatabase::database(m_connectionName, false).close();
        QSqlDatabase::removeDatabase(m_connectionName);
        setError(error, problem);
        return false;
    }
    qCDebug(lcServer).noquote() << "opened PostgreSQL" << connection.describe() << "schema"
                                << m_schema << "with" << m_entities.size() << "entities";
    return true;
}

bool PgServerStore::exec(const QString &sql, QString *error) const
{
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    if (!query.exec(sql)) {
        setError(error, errorText(query.lastError()));
        return false;
    }
    return true;
}

bool PgServerStore::install(QString *error)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    QSqlQuery query(db);
    // Same session settings whatever the server's configuration: shortest exact doubles.
    if (!query.exec(QStringLiteral("SET extra_float_digits = 1"))
        || !query.exec(QStringLiteral("SET client_min_messages = warning"))
        || !query.exec(QStringLiteral("SELECT current_schema()")) || !query.next()) {
        setError(error,
                 QStringLiteral("cannot set up the PostgreSQL session: %1")
                     .arg(errorText(query.lastError())));
        return false;
    }
    const QString schema = query.value(0).toString();
    query.finish();
    if (schema.isEmpty() || !Identifier::matchesRule(schema)) {
        setError(error,
                 schema.isEmpty()
                     ? QStringLiteral("the PostgreSQL search_path names no schema to use")
                     : QStringLiteral("the schema \"%1\" is not a plain identifier")
                           .arg(Identifier::printable(schema)));
        return false;
    }
    m_schema = Identifier::quoted(schema);

    // Installed already (the usual case): nothing to write, so a server may run as a role
    // that cannot create functions.
    if (query.exec(QStringLiteral("SELECT obj_description(to_regprocedure('%1.batchsync_track("
                                  "regclass, text, text)'), 'pg_proc')")
                       .arg(m_schema))
        && query.next() && query.value(0).toString() == QLatin1String(InstalledVersion)) {
        return true;
    }
    query.finish();

    if (!beginTransaction(error))
        return false;
    QString problem;
    if (!query.exec(QStringLiteral("SELECT pg_advisory_xact_lock(%1)").arg(CatalogueLock)))
        problem = errorText(query.lastError());
    for (const QString &sql : installSql(m_schema)) {
        if (!problem.isEmpty())
            break;
        if (!query.exec(sql))
            problem = errorText(query.lastError());
    }
    query.finish();
    if (!problem.isEmpty()) {
        rollbackTransaction();
        setError(error,
                 QStringLiteral("cannot install the BatchSync tables and functions in schema %1: "
                                "%2")
                     .arg(m_schema, problem));
        return false;
    }
    return commitTransaction(error);
}

bool PgServerStore::reloadCatalogue(QString *error) const
{
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.setForwardOnly(true);
    const QString sql
        = QStringLiteral("SELECT e.name, e.table_schema, e.table_name, e.id_column, e.fields, "
                         "(SELECT format_type(a.atttypid, NULL) FROM pg_attribute a "
                         "WHERE a.attrelid = to_regclass(quote_ident(e.table_schema) || '.' "
                         "|| quote_ident(e.table_name)) AND a.attname = e.id_column "
                         "AND NOT a.attisdropped) "
                         "FROM %1._bs_entities e ORDER BY e.position")
              .arg(m_schema);
    if (!query.exec(sql)) {
        setError(error,
                 QStringLiteral("cannot read the entity catalogue: %1")
                     .arg(errorText(query.lastError())));
        return false;
    }
    std::vector<std::unique_ptr<Entity>> entities;
    QHash<QString, Entity *> byName;
    while (query.next()) {
        const QString name = query.value(0).toString();
        const QString tableSchema = query.value(1).toString();
        const QString tableName = query.value(2).toString();
        const QString idColumn = query.value(3).toString();
        const QString fieldsText = query.value(4).toString();
        const QString idType = query.value(5).toString();
        const QString definition
            = QStringList { tableSchema, tableName, idColumn, idType, fieldsText }.join(u'\n');

        // Unchanged: keep it with its prepared queries.
        if (Entity *known = m_byName.value(name); known && known->definition == definition) {
            for (auto &slot : m_entities) {
                if (slot.get() == known) {
                    byName.insert(name, known);
                    entities.push_back(std::move(slot));
                    break;
                }
            }
            continue;
        }

        QString problem = Identifier::check(name, u"entity");
        if (problem.isEmpty()
            && (!Identifier::matchesRule(tableSchema) || !Identifier::matchesRule(tableName)
                || !Identifier::matchesRule(idColumn)))
            problem = QStringLiteral("the table of entity %1 is not named by plain identifiers")
                          .arg(name);
        if (problem.isEmpty() && idType.isEmpty())
            problem = QStringLiteral("the table %1.%2 of entity %3 or its column %4 is missing")
                          .arg(tableSchema, tableName, name, idColumn);
        auto entity = std::make_unique<Entity>();
        entity->schema.name = name;
        entity->table = Identifier::quoted(tableSchema) + u'.' + Identifier::quoted(tableName);
        entity->idColumn = Identifier::quoted(idColumn);
        entity->idType = isKnownSqlType(idType) ? idType : QStringLiteral("text");
        entity->definition = definition;
        const QJsonArray fields = QJsonDocument::fromJson(fieldsText.toUtf8()).array();
        for (const QJsonValue &value : fields) {
            if (!problem.isEmpty())
                break;
            const QJsonObject object = value.toObject();
            FieldSpec field;
            field.name = object.value(QLatin1String("name")).toString();
            const auto type = fieldTypeFromName(object.value(QLatin1String("type")).toString());
            const QString column = object.value(QLatin1String("column")).toString();
            const QString sqlType = object.value(QLatin1String("sqltype")).toString();
            problem = Identifier::check(field.name, u"field");
            if (problem.isEmpty() && !type)
                problem = QStringLiteral("field \"%1\" has no valid type").arg(field.name);
            if (problem.isEmpty() && !Identifier::matchesRule(column))
                problem = QStringLiteral("field \"%1\" has no valid column").arg(field.name);
            if (problem.isEmpty() && !isKnownSqlType(sqlType))
                problem = QStringLiteral("field \"%1\" has an unsupported column type \"%2\"")
                              .arg(field.name, Identifier::printable(sqlType));
            field.type = type.value_or(FieldType::String);
            entity->schema.fields.append(field);
            entity->columns.append({ Identifier::quoted(column), sqlType });
            QByteArray key = entity->jsonKeys.isEmpty() ? QByteArray("\"") : QByteArray(",\"");
            key += field.name.toLatin1(); // checked identifiers: plain ASCII
            key += "\":";
            entity->jsonKeys.append(key);
        }
        if (!problem.isEmpty()) {
            // One broken entry must not take the others down: it is left out, loudly.
            qCWarning(lcServer).noquote()
                << "entity catalogue: not serving" << name << ":" << problem;
            continue;
        }
        byName.insert(name, entity.get());
        entities.push_back(std::move(entity));
    }
    // Entities that are gone or changed: their queries go before the connection is reused.
    m_entities.clear();
    m_entities = std::move(entities);
    m_byName = std::move(byName);
    return true;
}

PgServerStore::Entity *PgServerStore::findEntity(const QString &name, QString *error) const
{
    if (!m_open) {
        setError(error, QStringLiteral("the server database is not open"));
        return nullptr;
    }
    Entity *entity = m_byName.value(name);
    if (!entity && Identifier::check(name, u"entity").isEmpty()) {
        // Another server process may have added it.
        QString problem;
        if (!reloadCatalogue(&problem))
            qCWarning(lcServer).noquote() << problem;
        entity = m_byName.value(name);
    }
    if (!entity)
        setError(error, QStringLiteral("no entity named \"%1\"").arg(Identifier::printable(name)));
    return entity;
}

QList<EntitySchema> PgServerStore::entities() const
{
    QList<EntitySchema> result;
    if (!m_open)
        return result;
    QString problem;
    if (!reloadCatalogue(&problem))
        qCWarning(lcServer).noquote() << problem;
    result.reserve(qsizetype(m_entities.size()));
    for (const auto &entity : m_entities)
        result.append(entity->schema);
    return result;
}

std::optional<EntitySchema> PgServerStore::entity(const QString &name) const
{
    if (const Entity *found = findEntity(name, nullptr))
        return found->schema;
    return std::nullopt;
}

bool PgServerStore::beginTransaction(QString *error)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.transaction()) {
        setError(error,
                 QStringLiteral("cannot begin a transaction: %1").arg(errorText(db.lastError())));
        return false;
    }
    return true;
}

bool PgServerStore::commitTransaction(QString *error)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.commit()) {
        setError(error, QStringLiteral("cannot commit: %1").arg(errorText(db.lastError())));
        db.rollback();
        return false;
    }
    return true;
}

void PgServerStore::rollbackTransaction()
{
    QSqlDatabase::database(m_connectionName, false).rollback();
}

bool PgServerStore::addEntity(const EntitySchema &schema, QString *error)
{
    if (!m_open) {
        setError(error, QStringLiteral("the server database is not open"));
        return false;
    }
    QString problem = ServerJson::schemaProblem(schema);
    if (!problem.isEmpty()) {
        setError(error, problem);
        return false;
    }
    if (!beginTransaction(error))
        return false;
    const auto fail = [&](const QString &message) {
        rollbackTransaction();
        setError(error, message);
        return false;
    };
    // The catalogue as it is now, with no other server changing it meanwhile.
    if (!exec(QStringLiteral("SELECT pg_advisory_xact_lock(%1)").arg(CatalogueLock), &problem)
        || !reloadCatalogue(&problem))
        return fail(problem);

    Entity *existing = m_byName.value(schema.name);
    if (!existing) {
        for (const auto &other : m_entities) {
            if (other->schema.name.compare(schema.name, Qt::CaseInsensitive) == 0)
                return fail(QStringLiteral("entity name \"%1\" clashes with entity \"%2\"")
                                .arg(schema.name, other->schema.name));
        }
    }
    EntitySchema merged = existing ? existing->schema : EntitySchema { schema.name, {} };
    QList<FieldSpec> added;
    for (const FieldSpec &field : schema.fields) {
        const int index = merged.fieldIndex(field.name);
        if (index >= 0) {
            if (merged.fields.at(index).type != field.type)
                return fail(
                    QStringLiteral("field %1 of entity %2 already has type %3")
                        .arg(field.name, schema.name, fieldTypeName(merged.fields.at(index).type)));
            continue;
        }
        for (const FieldSpec &other : std::as_const(merged.fields)) {
            if (other.name.compare(field.name, Qt::CaseInsensitive) == 0)
                return fail(QStringLiteral("field \"%1\" clashes with field \"%2\" of entity %3")
                                .arg(field.name, other.name, schema.name));
        }
        merged.fields.append(field);
        added.append(field);
    }
    if (existing && added.isEmpty()) {
        rollbackTransaction();
        return true;
    }

    // The catalogue's field list: existing fields keep their columns and types.
    QJsonArray fields;
    QString table = Identifier::quoted(schema.name);
    if (existing) {
        table = existing->table;
        for (qsizetype i = 0; i < existing->schema.fields.size(); ++i) {
            QString column = existing->columns.at(i).column;
            column = column.mid(1, column.size() - 2); // checked identifiers: no inner quotes
            fields.append(QJsonObject {
                { QStringLiteral("name"), existing->schema.fields.at(i).name },
                { QStringLiteral("type"), fieldTypeName(existing->schema.fields.at(i).type) },
                { QStringLiteral("column"), column },
                { QStringLiteral("sqltype"), existing->columns.at(i).sqlType } });
        }
    }
    for (const FieldSpec &field : std::as_const(added)) {
        fields.append(QJsonObject { { QStringLiteral("name"), field.name },
                                    { QStringLiteral("type"), fieldTypeName(field.type) },
                                    { QStringLiteral("column"), field.name },
                                    { QStringLiteral("sqltype"), fieldSqlType(field.type) } });
    }

    if (existing) {
        for (const FieldSpec &field : std::as_const(added)) {
            if (!exec(QStringLiteral("ALTER TABLE %1 ADD COLUMN %2 %3")
                          .arg(table, Identifier::quoted(field.name), fieldSqlType(field.type)),
                      &problem))
                return fail(QStringLiteral("cannot add field %1 to entity %2: %3")
                                .arg(field.name, schema.name, problem));
        }
    } else {
        QString sql = QStringLiteral("CREATE TABLE %1.%2(id text COLLATE \"C\" PRIMARY KEY")
                          .arg(m_schema, table);
        for (const FieldSpec &field : std::as_const(added))
            sql += QLatin1String(", ") + Identifier::quoted(field.name) + u' '
                + fieldSqlType(field.type);
        sql += u')';
        if (!exec(sql, &problem)
            || !exec(QStringLiteral("SELECT %1.batchsync_track('%1.%2'::regclass, '%3', 'id')")
                         .arg(m_schema, table, schema.name),
                     &problem))
            return fail(QStringLiteral("cannot create the table of entity %1: %2")
                            .arg(schema.name, problem));
    }
    QSqlQuery update(QSqlDatabase::database(m_connectionName, false));
    update.prepare(
        QStringLiteral("UPDATE %1._bs_entities SET fields = ? WHERE name = ?").arg(m_schema));
    update.addBindValue(QString::fromUtf8(QJsonDocument(fields).toJson(QJsonDocument::Compact)));
    update.addBindValue(schema.name);
    if (!update.exec() || update.numRowsAffected() != 1) {
        const QString message = QStringLiteral("cannot record entity %1: %2")
                                    .arg(schema.name, errorText(update.lastError()));
        update.finish();
        return fail(message);
    }
    update.finish();
    if (!commitTransaction(error))
        return false;
    if (!reloadCatalogue(error))
        return false;
    qCDebug(lcServer) << "entity" << schema.name << "now has" << merged.fields.size() << "fields";
    return true;
}

namespace {

QSqlQuery *prepared(std::unique_ptr<QSqlQuery> &slot, const QString &connection, const QString &sql,
                    QString *error)
{
    if (!slot) {
        auto query = std::make_unique<QSqlQuery>(QSqlDatabase::database(connection, false));
        query->setForwardOnly(true);
        if (!query->prepare(sql)) {
            setError(
                error,
                QStringLiteral("cannot prepare a query: %1").arg(errorText(query->lastError())));
            return nullptr;
        }
        slot = std::move(query);
    }
    return slot.get();
}

bool hasNul(const QVariant &value)
{
    return value.typeId() == QMetaType::QString && value.toString().contains(QChar(0));
}

} // namespace

bool PgServerStore::upsert(const QString &entityName,
                           const QList<std::pair<QString, QVariantMap>> &records, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return false;
    const EntitySchema &schema = entity->schema;
    const qsizetype fieldCount = schema.fields.size();

    // Every value checked before anything is written.
    QList<QVariantList> rows;
    rows.reserve(records.size());
    for (const auto &[id, data] : records) {
        if (id.contains(QChar(0))) {
            setError(error,
                     QStringLiteral("record \"%1\" of entity %2: PostgreSQL text cannot hold "
                                    "U+0000")
                         .arg(Identifier::printable(id), schema.name));
            return false;
        }
        QVariantList values(fieldCount);
        if (!ServerJson::recordValues(schema, id, data, &values, error))
            return false;
        for (qsizetype i = 0; i < fieldCount; ++i) {
            QVariant &value = values[i];
            if (hasNul(value)) {
                setError(
                    error,
                    QStringLiteral("record \"%1\" of entity %2: field %3: PostgreSQL text "
                                   "cannot hold U+0000")
                        .arg(Identifier::printable(id), schema.name, schema.fields.at(i).name));
                return false;
            }
            if (schema.fields.at(i).type == FieldType::Bool && !value.isNull())
                value = QVariant(value.toLongLong() != 0);
        }
        rows.append(std::move(values));
    }

    const int rowsPerStatement = qMax(1, qMin(RowsPerStatement, 30000 / int(1 + fieldCount)));
    if (!beginTransaction(error))
        return false;
    qsizetype next = 0;
    QSet<QString> idsInStatement;
    while (next < records.size()) {
        // A statement may not write one row twice: a repeated id starts the next one.
        qsizetype end = next;
        idsInStatement.clear();
        while (end < records.size() && end - next < rowsPerStatement
               && !idsInStatement.contains(records.at(end).first)) {
            idsInStatement.insert(records.at(end).first);
            ++end;
        }
        const int count = int(end - next);
        std::unique_ptr<QSqlQuery> oneOff;
        QSqlQuery *query = nullptr;
        QString problem;
        if (count == rowsPerStatement) {
            query = prepared(entity->upsertQuery, m_connectionName,
                             entity->upsertSql(rowsPerStatement), &problem);
        } else {
            query = prepared(oneOff, m_connectionName, entity->upsertSql(count), &problem);
        }
        if (!query) {
            rollbackTransaction();
            setError(error, problem);
            return false;
        }
        int position = 0;
        for (qsizetype r = next; r < end; ++r) {
            query->bindValue(position++, records.at(r).first);
            for (const QVariant &value : std::as_const(rows.at(r)))
                query->bindValue(position++, value);
        }
        if (!query->exec()) {
            const QString message = QStringLiteral("cannot write records of entity %1: %2")
                                        .arg(schema.name, errorText(query->lastError()));
            query->finish();
            rollbackTransaction();
            setError(error, message);
            return false;
        }
        query->finish();
        next = end;
    }
    return commitTransaction(error);
}

bool PgServerStore::upsert(const QString &entity, const QString &id, const QVariantMap &data,
                           QString *error)
{
    return upsert(entity, { { id, data } }, error);
}

bool PgServerStore::remove(const QString &entityName, const QStringList &ids, QString *error)
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return false;
    QSqlQuery *query = prepared(entity->removeQuery, m_connectionName,
                                QStringLiteral("DELETE FROM %1 WHERE %2 = CAST(? AS %3)")
                                    .arg(entity->table, entity->idColumn, entity->idType),
                                error);
    if (!query)
        return false;
    if (!beginTransaction(error))
        return false;
    for (const QString &id : ids) {
        if (id.isEmpty() || id.contains(QChar(0)) || !ServerJson::isStorableText(id))
            continue; // never stored, so nothing to delete
        query->bindValue(0, id);
        if (!query->exec()) {
            const QString message = QStringLiteral("cannot delete record \"%1\" of entity %2: %3")
                                        .arg(Identifier::printable(id), entity->schema.name,
                                             errorText(query->lastError()));
            query->finish();
            rollbackTransaction();
            setError(error, message);
            return false;
        }
        query->finish();
    }
    return commitTransaction(error);
}

std::optional<qint64> PgServerStore::count(const QString &entityName, PagingMode mode,
                                           const QString &since, QString *error) const
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    std::optional<qint64> result = countChanges(entity, mode, since, error);
    if (!result && error && *error != QLatin1String("invalid cursor")
        && !error->startsWith(QLatin1String("changedSince"))) {
        // The table may have changed under us (another server): read the catalogue again.
        if (reloadCatalogue(nullptr) && (entity = findEntity(entityName, error)))
            result = countChanges(entity, mode, since, error);
    }
    return result;
}

std::optional<qint64> PgServerStore::countChanges(Entity *entity, PagingMode mode,
                                                  const QString &since, QString *error) const
{
    QSqlQuery *query = nullptr;
    if (mode == PagingMode::Cursor) {
        const std::optional<Cursor> cursor = parseCursor(since);
        if (!cursor) {
            setError(error, QStringLiteral("invalid cursor"));
            return std::nullopt;
        }
        query = prepared(entity->cursorCountQuery, m_connectionName,
                         QStringLiteral("SELECT count(*) FROM %1 WHERE c.x < "
                                        "pg_snapshot_xmin(pg_current_snapshot()) AND (c.x, c.s) > "
                                        "(CAST(? AS xid8), CAST(? AS bigint))")
                             .arg(entity->changes(m_schema)),
                         error);
        if (query) {
            query->bindValue(0, cursor->xid);
            query->bindValue(1, cursor->seq);
        }
    } else {
        if (!since.isEmpty() && !Timestamp::isValid(since)) {
            setError(error,
                     QStringLiteral("changedSince must be a timestamp like "
                                    "2026-11-26T06:20:16.123Z"));
            return std::nullopt;
        }
        query = prepared(entity->offsetCountQuery, m_connectionName,
                         QStringLiteral("SELECT count(*) FROM %1 WHERE c.x < "
                                        "pg_snapshot_xmin(pg_current_snapshot()) AND c.a > "
                                        "CAST(? AS text)")
                             .arg(entity->changes(m_schema)),
                         error);
        if (query)
            query->bindValue(0, since.isEmpty() ? QStringLiteral("") : since);
    }
    if (!query)
        return std::nullopt;
    if (!query->exec() || !query->next()) {
        setError(error,
                 QStringLiteral("cannot count the changes of entity %1: %2")
                     .arg(entity->schema.name, errorText(query->lastError())));
        query->finish();
        entity->resetQueries();
        return std::nullopt;
    }
    const qint64 result = query->value(0).toLongLong();
    query->finish();
    return result;
}

std::optional<QByteArray> PgServerStore::changesJson(const QString &entityName, PagingMode mode,
                                                     const QString &since, qint64 offset, int limit,
                                                     int *records, QString *error) const
{
    Entity *entity = findEntity(entityName, error);
    if (!entity)
        return std::nullopt;
    if (limit < 1 || offset < 0) {
        setError(error,
                 limit < 1 ? QStringLiteral("limit must be at least 1")
                           : QStringLiteral("offset must not be negative"));
        return std::nullopt;
    }
    QString problem;
    std::optional<QByteArray> result = page(entity, mode, since, offset, limit, records, &problem);
    if (!result && problem != QLatin1String("invalid cursor")
        && !problem.startsWith(QLatin1String("changedSince"))) {
        // The table may have changed under us (another server): read the catalogue again.
        if (reloadCatalogue(nullptr) && (entity = findEntity(entityName, error)))
            result = page(entity, mode, since, offset, limit, records, &problem);
    }
    if (!result)
        setError(error, problem);
    return result;
}

std::optional<QByteArray> PgServerStore::page(Entity *entity, PagingMode mode, const QString &since,
                                              qint64 offset, int limit, int *records,
                                              QString *error) const
{
    QSqlQuery *query = nullptr;
    QString lastCursor = QStringLiteral("0");
    if (mode == PagingMode::Cursor) {
        const std::optional<Cursor> cursor = parseCursor(since);
        if (!cursor) {
            setError(error, QStringLiteral("invalid cursor"));
            return std::nullopt;
        }
        if (!since.isEmpty())
            lastCursor = since;
        query = prepared(entity->cursorPageQuery, m_connectionName,
                         QStringLiteral("%1 FROM %2 WHERE c.x < "
                                        "pg_snapshot_xmin(pg_current_snapshot()) AND (c.x, c.s) > "
                                        "(CAST(? AS xid8), CAST(? AS bigint)) ORDER BY c.x, c.s "
                                        "LIMIT CAST(? AS bigint)")
                             .arg(entity->pageColumns(), entity->changes(m_schema)),
                         error);
        if (query) {
            query->bindValue(0, cursor->xid);
            query->bindValue(1, cursor->seq);
            query->bindValue(2, qint64(limit) + 1); // one more tells whether there are more
        }
    } else {
        if (!since.isEmpty() && !Timestamp::isValid(since)) {
            setError(error,
                     QStringLiteral("changedSince must be a timestamp like "
                                    "2026-11-26T06:20:16.123Z"));
            return std::nullopt;
        }
        query = prepared(entity->offsetPageQuery, m_connectionName,
                         QStringLiteral("%1 FROM %2 WHERE c.x < "
                                        "pg_snapshot_xmin(pg_current_snapshot()) AND c.a > "
                                        "CAST(? AS text) ORDER BY c.a, c.i LIMIT CAST(? AS bigint) "
                                        "OFFSET CAST(? AS bigint)")
                             .arg(entity->pageColumns(), entity->changes(m_schema)),
                         error);
        if (query) {
            query->bindValue(0, since.isEmpty() ? QStringLiteral("") : since);
            query->bindValue(1, qint64(limit) + 1);
            query->bindValue(2, offset);
        }
    }
    if (!query)
        return std::nullopt;
    if (!query->exec()) {
        setError(error,
                 QStringLiteral("cannot read the changes of entity %1: %2")
                     .arg(entity->schema.name, errorText(query->lastError())));
        entity->resetQueries();
        return std::nullopt;
    }

    const QList<FieldSpec> &fields = entity->schema.fields;
    const int fieldCount = int(fields.size());
    ServerJson::JsonWriter json(qMin(limit, 1000) * (112 + 32 * fieldCount));
    json.literal("{\"changes\":[");
    int count = 0;
    bool hasMore = false;
    while (query->next()) {
        if (count == limit) {
            hasMore = true;
            break;
        }
        if (count > 0)
            json.raw(',');
        ++count;
        lastCursor = query->value(0).toString() + u'.' + query->value(1).toString();
        json.literal("{\"id\":");
        json.string(query->value(2).toString());
        json.literal(",\"changedAt\":");
        json.string(query->value(3).toString());
        if (query->value(4).toBool()) {
            json.literal(",\"deleted\":true}");
            continue;
        }
        json.literal(",\"deleted\":false,\"data\":{");
        for (int i = 0; i < fieldCount; ++i) {
            json.raw(entity->jsonKeys.at(i));
            const QVariant value = query->value(5 + i);
            if (value.isNull()) {
                json.literal("null");
                continue;
            }
            switch (fields.at(i).type) {
            case FieldType::String:
            case FieldType::DateTime:
                json.string(value.toString());
                break;
            case FieldType::Int:
                json.integer(value.toLongLong());
                break;
            case FieldType::Real:
                json.real(value.toDouble());
                break;
            case FieldType::Bool:
                json.boolean(value.toBool());
                break;
            }
        }
        json.literal("}}");
    }
    query->finish();

    json.literal("],");
    if (mode == PagingMode::Cursor) {
        json.literal("\"cursor\":");
        json.string(lastCursor);
        json.raw(',');
    }
    if (hasMore)
        json.literal("\"hasMore\":true}");
    else
        json.literal("\"hasMore\":false}");
    if (records)
        *records = count;
    return json.take();
}

QHash<QString, QVariantList> PgServerStore::liveRecords(const QString &entityName) const
{
    QHash<QString, QVariantList> result;
    QString error;
    const Entity *entity = findEntity(entityName, &error);
    if (!entity) {
        qCWarning(lcServer).noquote() << error;
        return result;
    }
    QString sql = QStringLiteral("SELECT %1::text").arg(entity->idColumn);
    for (const Entity::Field &field : entity->columns)
        sql += QLatin1String(", ") + selectExpression(field.column, field.sqlType);
    sql += QLatin1String(" FROM ") + entity->table;
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    query.setForwardOnly(true);
    if (!query.exec(sql)) {
        qCWarning(lcServer).noquote()
            << "cannot read entity" << entityName << errorText(query.lastError());
        return result;
    }
    const QList<FieldSpec> &fields = entity->schema.fields;
    while (query.next()) {
        QVariantList values;
        values.reserve(fields.size());
        for (qsizetype i = 0; i < fields.size(); ++i) {
            const QVariant column = query.value(int(1 + i));
            values.append(fields.at(i).type == FieldType::Bool && !column.isNull()
                              ? QVariant(column.toBool())
                              : ServerJson::typedValue(fields.at(i).type, column));
        }
        result.insert(query.value(0).toString(), values);
    }
    return result;
}

qint64 PgServerStore::liveCount(const QString &entityName) const
{
    QString error;
    const Entity *entity = findEntity(entityName, &error);
    if (!entity) {
        qCWarning(lcServer).noquote() << error;
        return 0;
    }
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
    if (!query.exec(QStringLiteral("SELECT count(*) FROM %1").arg(entity->table))
        || !query.next()) {
        qCWarning(lcServer).noquote()
            << "cannot count entity" << entityName << errorText(query.lastError());
        return 0;
    }
    return query.value(0).toLongLong();
}

} // namespace BatchSync
