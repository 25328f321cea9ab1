#pragma once

#include <QSqlDatabase>
#include <QString>
#include <QStringList>
#include <QVariant>

/*!
    \file pgtest.h
    PostgreSQL for tests: the server named by BATCHSYNC_TEST_POSTGRES (a libpq connection
    string, e.g. "host=127.0.0.1 port=54329 dbname=postgres user=postgres"; .ci/postgres
    starts one), a database per suite and a fresh schema per test. Main thread only.
*/

namespace BatchSync::Test::PgTest {

/*!
    Whether a suite that runs on both backends runs on PostgreSQL: BATCHSYNC_TEST_BACKEND is
    "postgres" (its ctest entry named *_postgres sets it).
*/
bool selected();

/*!
    Why PostgreSQL tests cannot run here, or an empty string when they can: the variable is
    unset, the QPSQL driver is missing or the server cannot be reached.
*/
QString unavailableReason();

/*!
    Whether a missing PostgreSQL fails the tests instead of skipping them: under CI (the
    environment variable CI set), where the cluster is part of the run.
*/
bool required();

/*!
    The connection string of database \a database on the test server (created when
    missing), with its search_path set to \a schema, which is dropped and created empty when
    \a fresh is set. Empty on failure, with a warning.
*/
QString connection(const QString &database, const QString &schema, bool fresh);

/*! Drops \a schema of \a database with everything in it. */
void dropSchema(const QString &database, const QString &schema);

/*! Runs \a sql (one or more statements) in \a database with \a schema as search_path. */
bool exec(const QString &database, const QString &schema, const QString &sql,
          QString *error = nullptr);

/*!
    Runs \a statements on the database of libpq \a connection and returns the first value of
    the last one's first row (null when it has none); an invalid QVariant and a warning when
    one fails.
*/
QVariant query(const QString &connection, const QStringList &statements);

/*!
    Counts each write stored in \a table of the database of \a connection, from now on: an
    AFTER trigger adds a row to _test_writes in the writing transaction, so that a write
    rolled back or an insert that did nothing is not counted. For tests that need the number
    of changes a server stored (PostgreSQL's change numbers have gaps). False on failure.
*/
bool countWrites(const QString &connection, const QString &table);

/*! The writes counted by countWrites() so far; -1 on failure. */
qint64 writes(const QString &connection);

/*!
    Adds (does not open) the QPSQL connection \a name to \a database with \a schema as
    search_path, for a test's own session; QSqlDatabase::removeDatabase(name) when done.
*/
QSqlDatabase addConnection(const QString &name, const QString &database, const QString &schema);

/*!
    Runs \a sql in \a database with \a schema as search_path: the first column of its first
    row (null when it has none), or an invalid QVariant with a warning when it fails.
*/
QVariant value(const QString &database, const QString &schema, const QString &sql);

} // namespace BatchSync::Test::PgTest

/*!
    In a PostgreSQL suite's initTestCase(): skips the suite when PostgreSQL cannot run here
    (PgTest::unavailableReason()), and fails it instead under CI (PgTest::required()).
*/
#define BATCHSYNC_PG_SUITE_START()                                                                 \
    do {                                                                                           \
        const QString pgReason = BatchSync::Test::PgTest::unavailableReason();                     \
        if (!pgReason.isEmpty() && BatchSync::Test::PgTest::required())                            \
            QFAIL(qPrintable(QStringLiteral("PostgreSQL is required under CI: ") + pgReason));     \
        if (!pgReason.isEmpty())                                                                   \
            QSKIP(qPrintable(QStringLiteral("PostgreSQL tests not run: ") + pgReason));            \
    } while (false)

/*!
    In a test function (initTestCase()): skips the suite, saying why, when PostgreSQL is
    selected (PgTest::selected()) but cannot be used; fails it instead under CI.
*/
#define BATCHSYNC_SKIP_UNLESS_POSTGRES_USABLE()                                                    \
    do {                                                                                           \
        const QString reason_ = BatchSync::Test::PgTest::selected()                                \
            ? BatchSync::Test::PgTest::unavailableReason()                                         \
            : QString();                                                                           \
        if (!reason_.isEmpty() && BatchSync::Test::PgTest::required())                             \
            QFAIL(qPrintable(QStringLiteral("PostgreSQL is required under CI: ") + reason_));      \
        if (!reason_.isEmpty())                                                                    \
            QSKIP(qPrintable(QStringLiteral("PostgreSQL tests not run: ") + reason_));             \
    } while (false)
