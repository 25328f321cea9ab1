// The PostgreSQL backend's pages, read through libpq, against the pages the QPSQL driver's
// reading of the same rows gave (a QVariant per cell, written by JsonWriter::value): byte for
// byte the same for a user's table of every column type the backend serves, with the values
// writers get wrong (escapes, unicode at the edges, nulls, extreme integers and doubles,
// decimals a client cannot take, timestamps), in both paging modes and at every page size. And
// a lost connection: the request fails cleanly, the next one is served on a new connection.
// Needs BATCHSYNC_TEST_POSTGRES (see .ci/postgres): skips without it, fails without it under CI.

#include "common/decimal.h"
#include "server/backend/pgentity.h"
#include "server/backend/pgserverstore.h"
#include "server/pagewriter.h"
#include "testutil/pgtest.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QtTest>
#include <memory>

using namespace BatchSync;

namespace {

const QString Database = QStringLiteral("bs_tst_pgpage");

// The rows of a page as the QPSQL driver reads them: the reader PgServerStore had before it
// read pages through libpq.
class QpsqlRows
{
public:
    QpsqlRows(QSqlQuery *query, const QList<FieldSpec> &fields, const QString &since)
        : m_query(query)
        , m_fields(fields)
        , m_lastCursor(since.isEmpty() ? QStringLiteral("0") : since)
    {
    }
    bool next() { return m_query->next(); }
    void keepPosition()
    {
        m_lastCursor = m_query->value(0).toString() + u'.' + m_query->value(1).toString();
    }
    void writeId(JsonWriter &json) { json.string(m_query->value(2).toString()); }
    void writeChangedAt(JsonWriter &json) { json.string(m_query->value(3).toString()); }
    bool isDeleted() { return m_query->value(4).toBool(); }
    void writeVersion(JsonWriter &json) { json.string(m_query->value(1).toString()); }
    void writeField(JsonWriter &json, int index)
    {
        const QVariant value = m_query->value(5 + index);
        if (m_fields.at(index).type == FieldType::Decimal && !value.isNull()
            && !Decimal::isValid(value.toString())) {
            json.literal("null");
            return;
        }
        json.value(m_fields.at(index).type, value);
    }
    void writeCursor(JsonWriter &json) { json.string(m_lastCursor); }

private:
    QSqlQuery *m_query;
    const QList<FieldSpec> &m_fields;
    QString m_lastCursor;
};

} // namespace

class TstPgPage final : public QObject
{
    Q_OBJECT

private:
    int m_tests = 0;
    QString m_schema;
    QString m_connection;

    bool run(const QString &sql)
    {
        QString error;
        if (Test::PgTest::exec(Database, m_schema, sql, &error))
            return true;
        qWarning("%s: %s", qPrintable(sql), qPrintable(error));
        return false;
    }

    // The SQL of a page as PgServerStore reads it, from the catalogue's column types.
    QString pageSql(const QString &entity, const QList<FieldSpec> &fields, PagingMode mode)
    {
        const QJsonArray columns
            = QJsonDocument::fromJson(Test::PgTest::value(Database, m_schema,
                                                          QStringLiteral("SELECT fields FROM "
                                                                         "_bs_entities WHERE "
                                                                         "name = '%1'")
                                                              .arg(entity))
                                          .toString()
                                          .toUtf8())
                  .array();
        QString live = QStringLiteral("SELECT t._bs_xid AS x, t._bs_seq AS s, (t.id::text) "
                                      "COLLATE \"C\" AS i, t._bs_changed_at AS a, false AS d");
        QString dead = QStringLiteral("SELECT b.xid, b.seq, b.id, b.changed_at, true");
        QString select = QStringLiteral("SELECT c.x::text, c.s, c.i, c.a, c.d");
        for (qsizetype i = 0; i < columns.size(); ++i) {
            const QJsonObject column = columns.at(i).toObject();
            live += QStringLiteral(", %1 AS f%2")
                        .arg(PgSql::selectExpression(QLatin1String("t.\"")
                                                         + column.value("column").toString() + u'"',
                                                     column.value("sqltype").toString()))
                        .arg(i);
            dead += QStringLiteral(", NULL::%1").arg(PgSql::fieldReadType(fields.at(i).type));
            select += QStringLiteral(", c.f%1").arg(i);
        }
        return select
            + QStringLiteral(" FROM (%1 FROM %2 t UNION ALL %3 FROM _bs_tombstones b WHERE "
                             "b.entity = '%2') c WHERE ")
                  .arg(live, entity, dead)
            + (mode == PagingMode::Cursor
                   ? QStringLiteral("(c.x, c.s) > (CAST(? AS xid8), CAST(? AS bigint)) "
                                    "ORDER BY c.x, c.s LIMIT ?")
                   : QStringLiteral("c.a > CAST(? AS text) ORDER BY c.a, c.i LIMIT ? OFFSET ?"));
    }

private Q_SLOTS:
    void initTestCase() { BATCHSYNC_PG_SUITE_START(); }

    void init()
    {
        m_schema = QStringLiteral("g%1").arg(++m_tests);
        m_connection = Test::PgTest::connection(Database, m_schema, true);
        QVERIFY(!m_connection.isEmpty());
    }

    void cleanup() { Test::PgTest::dropSchema(Database, m_schema); }

    void pagesAsTheQpsqlDriverReadThem_data()
    {
        QTest::addColumn<PagingMode>("mode");
        QTest::addColumn<int>("limit");
        for (const int limit : { 1, 3, 1000 }) {
            QTest::addRow("cursor, %d a page", limit) << PagingMode::Cursor << limit;
            QTest::addRow("offset, %d a page", limit) << PagingMode::Offset << limit;
        }
    }

    void pagesAsTheQpsqlDriverReadThem()
    {
        QFETCH(PagingMode, mode);
        QFETCH(int, limit);
        PgServerStore store(m_connection, QStringLiteral("tst_pgpage-store"));
        QString error;
        QVERIFY2(store.open(&error), qPrintable(error)); // installs batchsync_track()
        QVERIFY(run(QStringLiteral(
            "CREATE TABLE tricky(id text PRIMARY KEY, t text, v varchar(40), c char(4), "
            "u uuid, b bigint, i integer, s smallint, d double precision, r real, n numeric, "
            "n2 numeric(12,3), f boolean, tz timestamptz, ts timestamp)")));
        QVERIFY(run(QStringLiteral(
            "INSERT INTO tricky VALUES "
            "('plain', 'plain', 'v', 'ab', '123e4567-e89b-12d3-a456-426614174000', 1, 2, 3, "
            "0.1, 0.1, 0.1, 1.5, true, '2026-01-02 03:04:05.678+00', '2026-01-02 03:04:05.678'),"
            "('esc \"q\" \\ é', E'quote \" back \\\\ nl \\n tab \\t cr \\r bs \\b ff \\f "
            "ctl \\x01 \\x1f del \\x7f', 'été, Łódź, 中文, ☃', 'ü', NULL, "
            "9223372036854775807, 2147483647, 32767, 1e300, 3.4e38, '1e-20', 12.345, false, "
            "'1999-12-31 23:59:59.999+05', '1970-01-01 00:00:00'),"
            "(E'\\uFEFFbom id', E'\\uFEFFleading bom', E'inner \\uFEFF bom', NULL, NULL, "
            "-9223372036854775808, -2147483648, -32768, '-0', -1.5e-30, 'NaN', -0.001, NULL, "
            "'infinity', '0001-01-01 00:00:00'),"
            "('nonchars', E'end \\uFFFF and \\uFFFE', E'emoji 😀👍🏽 🇩🇪', NULL, NULL, "
            "0, 0, 0, 5e-324, 1e-30, "
            "'12345678901234567890123456789012345678901234567890', 0, true, NULL, NULL),"
            "('doubles', E'sep \\u2028 \\u2029', '</script> \\/', NULL, NULL, "
            "-1, -1, -1, 1234567890123456, 16777217, '-0.000000000000000000001', NULL, NULL, "
            "'2026-12-07 09:50:00.5-03', '2026-12-07 09:50:00.5'),"
            "('more doubles', '', ' ', '    ', NULL, 1, 1, 1, 0.0001, 'Infinity', "
            "'Infinity', NULL, NULL, NULL, NULL),"
            "('nan', 'x', 'y', 'z', NULL, 2, 2, 2, 'NaN', '-Infinity', '-Infinity', NULL, NULL, "
            "NULL, NULL),"
            "('nulls', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL),"
            "('gone', 'deleted', NULL, NULL, NULL, NULL, NULL, NULL, 1e-300, NULL, NULL, NULL, "
            "NULL, NULL, NULL)")));
        QCOMPARE(Test::PgTest::value(Database, m_schema,
                                     QStringLiteral("SELECT batchsync_track('tricky')"))
                     .toString(),
                 QStringLiteral("tricky"));
        QVERIFY(run(QStringLiteral("UPDATE tricky SET d = 2.5 WHERE id = 'plain'")));
        QVERIFY(run(QStringLiteral("DELETE FROM tricky WHERE id = 'gone'")));

        const std::optional<EntitySchema> schema = store.entity(QStringLiteral("tricky"));
        QVERIFY(schema);
        QCOMPARE(schema->fields.size(), 14);
        const QList<QByteArray> keys = PageWriter::fieldKeys(*schema);
        const QString readerName = QStringLiteral("tst_pgpage-qpsql");
        {
            QSqlDatabase db = Test::PgTest::addConnection(readerName, Database, m_schema);
            QVERIFY2(db.open(), qPrintable(db.lastError().text()));
            QSqlQuery query(db);
            QVERIFY(query.exec(QStringLiteral("SET extra_float_digits = 1")));
            QVERIFY(query.prepare(pageSql(QStringLiteral("tricky"), schema->fields, mode)));

            QString cursor;
            qint64 offset = 0;
            int served = 0;
            for (bool more = true; more;) {
                int records = 0;
                const std::optional<QByteArray> page = store.changesJson(
                    QStringLiteral("tricky"), mode, mode == PagingMode::Cursor ? cursor : QString(),
                    offset, limit, &records, &error);
                QVERIFY2(page, qPrintable(error));

                if (mode == PagingMode::Cursor) {
                    const std::optional<PgSql::Cursor> at = PgSql::parseCursor(cursor);
                    QVERIFY(at);
                    query.bindValue(0, at->xid);
                    query.bindValue(1, at->seq);
                    query.bindValue(2, limit + 1);
                } else {
                    query.bindValue(0, QStringLiteral(""));
                    query.bindValue(1, limit + 1);
                    query.bindValue(2, offset);
                }
                QVERIFY2(query.exec(), qPrintable(query.lastError().text()));
                QpsqlRows rows(&query, schema->fields,
                               mode == PagingMode::Cursor ? cursor : QString());
                const PageWriter::Page expected = PageWriter::write(rows, keys, mode, limit, 4096);
                query.finish();
                QCOMPARE(*page, expected.body);
                QCOMPARE(records, expected.records);

                const QJsonObject body = QJsonDocument::fromJson(*page).object();
                QVERIFY2(!body.isEmpty(), page->constData()); // valid JSON
                more = body.value(QLatin1String("hasMore")).toBool();
                cursor = body.value(QLatin1String("cursor")).toString();
                offset += records;
                served += records;
                QVERIFY(served <= 9);
            }
            QCOMPARE(served, 9); // 8 live records and a deletion
        }
        QSqlDatabase::removeDatabase(readerName);

        // What the comparison covers: the edges are in the pages as PostgreSQL's text reads.
        const QByteArray all = *store.changesJson(QStringLiteral("tricky"), PagingMode::Cursor,
                                                  QString(), 0, 1000, nullptr, &error);
        for (const char *expected : { "\"d\":1e+300",
                                      "\"d\":2.5",
                                      "\"r\":0.10000000149011612",
                                      "\"d\":5e-324",
                                      "\"d\":-0",
                                      "\"d\":1234567890123456",
                                      "\"d\":null",
                                      "\"r\":null",
                                      "\"b\":9223372036854775807",
                                      "\"b\":-9223372036854775808",
                                      "\"n\":\"0.1\"",
                                      "\"n\":null",
                                      "\"t\":\"leading bom\"",
                                      "\"id\":\"bom id\"",
                                      "\"v\":\"inner \xef\xbb\xbf bom\"",
                                      "\"t\":\"end \xef\xbf\xbf and \xef\xbf\xbe\"",
                                      "\"c\":\"ab\"",
                                      "\"deleted\":true",
                                      "\"tz\":\"1999-12-31T18:59:59.999Z\"",
                                      "\"f\":false",
                                      "\"t\":null" }) {
            QVERIFY2(all.contains(expected),
                     qPrintable(QLatin1String(expected) + u'\n' + QString::fromUtf8(all)));
        }
    }

    void lostConnectionFailsCleanlyThenReconnects()
    {
        PgServerStore store(m_connection, QStringLiteral("tst_pgpage-lost"));
        QString error;
        QVERIFY2(store.open(&error), qPrintable(error));
        const EntitySchema items { QStringLiteral("items"),
                                   { { QStringLiteral("label"), FieldType::String } } };
        QVERIFY2(store.addEntity(items, &error), qPrintable(error));
        QVERIFY2(store.upsert(QStringLiteral("items"), QStringLiteral("a"),
                              { { QStringLiteral("label"), QStringLiteral("A") } }, &error),
                 qPrintable(error));
        const std::optional<QByteArray> before = store.changesJson(
            QStringLiteral("items"), PagingMode::Cursor, QString(), 0, 100, nullptr, &error);
        QVERIFY2(before, qPrintable(error));
        QVERIFY(before->contains("\"label\":\"A\""));

        // Every other session of the database ends, as when the server restarts.
        QCOMPARE(Test::PgTest::value(Database, m_schema,
                                     QStringLiteral("SELECT count(pg_terminate_backend(pid)) > 0 "
                                                    "FROM pg_stat_activity WHERE datname = "
                                                    "current_database() AND pid <> "
                                                    "pg_backend_pid()"))
                     .toBool(),
                 true);
        const std::optional<QByteArray> lost = store.changesJson(
            QStringLiteral("items"), PagingMode::Cursor, QString(), 0, 100, nullptr, &error);
        QVERIFY(!lost);
        QCOMPARE(store.lastError().type, ServerError::Type::Internal);
        QVERIFY2(error.contains(QLatin1String("items")), qPrintable(error));

        const std::optional<QByteArray> again = store.changesJson(
            QStringLiteral("items"), PagingMode::Cursor, QString(), 0, 100, nullptr, &error);
        QVERIFY2(again, qPrintable(error));
        QCOMPARE(*again, *before);
        QCOMPARE(store.count(QStringLiteral("items"), PagingMode::Cursor, QString(), &error),
                 std::optional<qint64>(1));
    }
};

QTEST_GUILESS_MAIN(TstPgPage)
#include "tst_pgpage.moc"
