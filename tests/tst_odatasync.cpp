// The OData v4 source driven by the real engine into a real local database, against a small
// in-process OData service (tests/testutil/fakeodata.h): keyset pages, the safety window,
// deletions found by a key scan, sets reloaded whole, capped pages, authentication, and the
// misbehaving services a client must refuse without changing what it stored.
#include "common/types.h"
#include "engine/syncengine.h"
#include "testutil/fakeodata.h"
#include "testutil/localdb.h"

#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

const EntitySchema booksSchema { QStringLiteral("Books"),
                                 { { QStringLiteral("modifiedAt"), FieldType::DateTime },
                                   { QStringLiteral("title"), FieldType::String },
                                   { QStringLiteral("big"), FieldType::Int } } };
const EntitySchema countriesSchema { QStringLiteral("Countries"),
                                     { { QStringLiteral("name"), FieldType::String } } };

QString at(int second, int millisecond = 0)
{
    return QDateTime(QDate(2026, 12, 1), QTime(8, 0), Qt::UTC)
        .addSecs(second)
        .addMSecs(millisecond)
        .toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzz'Z'"));
}

QHash<QString, QVariantList> expectedBooks(const FakeODataService &service)
{
    QHash<QString, QVariantList> records;
    for (const FakeODataService::Book &book : service.books)
        records.insert(QString::number(book.id), { book.modifiedAt, book.title, book.big });
    return records;
}

QHash<QString, QVariantList> expectedCountries(const FakeODataService &service)
{
    QHash<QString, QVariantList> records;
    for (const FakeODataService::Country &country : service.countries)
        records.insert(country.code, { country.name });
    return records;
}

QString describe(const QHash<QString, SyncError> &failures)
{
    QStringList lines;
    for (auto it = failures.cbegin(); it != failures.cend(); ++it)
        lines.append(it.key() + QStringLiteral(": ") + it->message);
    return lines.join(u'\n');
}

} // namespace

class TestODataSync final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_databases = 0;

    SyncSettings settings(const FakeODataService &service, const QString &database)
    {
        SyncSettings s;
        s.source = SourceKind::OData;
        s.endpoint = service.root();
        s.databasePath = database;
        s.batchSize = 500;
        s.retryGiveUpMs = 0; // a failure is reported at once
        s.safetyWindowSeconds = 10;
        return s;
    }

    QString newDatabase()
    {
        return m_dir.filePath(QStringLiteral("db%1.sqlite").arg(++m_databases));
    }

    // Runs every entity once; the engine's failures by entity.
    static QHash<QString, SyncError> syncAll(const SyncSettings &s,
                                             QList<SyncPhase> *phases = nullptr)
    {
        SyncEngine engine(s);
        QSignalSpy finished(&engine, &SyncEngine::finished);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        QSignalSpy phaseSpy(&engine, &SyncEngine::phaseChanged);
        // @odata.count is a snapshot: progress must still never pass its total.
        QString beyond;
        QObject::connect(&engine, &SyncEngine::progressChanged, &engine,
                         [&beyond](const QString &entity, qint64 done, qint64 total) {
                             if (done > total && beyond.isEmpty())
                                 beyond = QStringLiteral("%1 of %2").arg(done).arg(total);
                             Q_UNUSED(entity);
                         });
        engine.startAll();
        if (!finished.wait(30000))
            qWarning("the sync did not finish");
        QHash<QString, SyncError> failures;
        for (const QList<QVariant> &args : std::as_const(failed)) {
            SyncError error;
            error.category = args.at(1).value<ErrorCategory>();
            error.message = args.at(2).toString();
            failures.insert(args.at(0).toString(), error);
        }
        if (!beyond.isEmpty())
            failures.insert(
                QStringLiteral("progress"),
                { ErrorCategory::None, QStringLiteral("progress at ") + beyond, 0, -1 });
        if (phases) {
            for (const QList<QVariant> &args : std::as_const(phaseSpy))
                phases->append(args.at(1).value<SyncPhase>());
        }
        return failures;
    }

    static void fill(FakeODataService &service, int books)
    {
        for (int i = 1; i <= books; ++i) {
            // Groups of up to seven records share a millisecond, across page boundaries.
            service.putBook(i, at(i / 7, 0), QStringLiteral("Book %1 · ü 漢 😀").arg(i),
                            i % 3 == 0 ? 9007199254740993LL + i : -i);
        }
        for (int i = 0; i < 260; ++i) {
            service.countries.append(
                { QStringLiteral("C%1'%2").arg(i, 3, 10, QLatin1Char('0')).arg(i % 2),
                  QStringLiteral("Country %1").arg(i) });
        }
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void aFirstSyncCopiesEverySetExactly()
    {
        FakeODataService service;
        fill(service, 2345);
        QVERIFY(service.start());
        const QString db = newDatabase();
        const QHash<QString, SyncError> failures = syncAll(settings(service, db));
        QVERIFY2(failures.isEmpty(), qPrintable(describe(failures)));
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
        QCOMPARE(differences(db, countriesSchema, expectedCountries(service)), QString());
        QCOMPARE(localRecords(db, booksSchema).value(QStringLiteral("3")).at(2),
                 QVariant(qint64(9007199254740996LL)));
    }

    void changesDeletionsAndSlowTransactionsArriveIncrementally()
    {
        FakeODataService service;
        fill(service, 1500);
        QVERIFY(service.start());
        const QString db = newDatabase();
        QVERIFY(syncAll(settings(service, db)).isEmpty());

        const QString newest = at(1500 / 7);
        service.putBook(10, at(400), QStringLiteral("changed"), 1); // after the position
        service.putBook(5000, at(400, 1), QStringLiteral("new"), 2);
        service.putBook(5001, at(400, 1), QStringLiteral("new, same millisecond"), 3);
        // Committed only now, stamped 3 s before the position the last sync reached.
        service.putBook(5002, at(1500 / 7 - 3), QStringLiteral("a slow transaction"), 4);
        for (int id : { 1, 2, 700, 1499 })
            service.removeBook(id);
        service.urls.clear();
        QList<SyncPhase> phases;
        const QHash<QString, SyncError> failures = syncAll(settings(service, db), &phases);
        QVERIFY2(failures.isEmpty(), qPrintable(describe(failures)));
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
        QVERIFY(phases.contains(SyncPhase::Deletions));
        // Incremental: it asked from a safety window before the position, not from the start.
        bool windowed = false;
        for (const QUrl &url : std::as_const(service.urls))
            windowed = windowed
                || url.query(QUrl::FullyDecoded).contains(QStringLiteral("modifiedAt ge "));
        QVERIFY(windowed);
        Q_UNUSED(newest);
    }

    void aDeletionCheckThatDoesNotCompleteDeletesNothing()
    {
        FakeODataService service;
        fill(service, 800);
        QVERIFY(service.start());
        const QString db = newDatabase();
        QVERIFY(syncAll(settings(service, db)).isEmpty());
        const QHash<QString, QVariantList> before = localRecords(db, booksSchema);
        for (int id = 1; id <= 100; ++id)
            service.removeBook(id);
        service.failKeyScanPages = true; // the scan's first page comes, the next fails
        const QHash<QString, SyncError> failures = syncAll(settings(service, db));
        QVERIFY(failures.contains(QStringLiteral("Books")));
        QCOMPARE(localRecords(db, booksSchema), before);
        // The next sync finishes the check from where it stopped, and deletes then.
        service.failKeyScanPages = false;
        QVERIFY2(syncAll(settings(service, db)).isEmpty(), "the check did not complete");
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
    }

    void pagesTheServiceCapsGoOnByKeyset()
    {
        FakeODataService service;
        fill(service, 1200);
        service.pageCap = 130;
        QVERIFY(service.start());
        const QString db = newDatabase();
        QVERIFY(syncAll(settings(service, db)).isEmpty());
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
        for (const QUrl &url : std::as_const(service.urls))
            QVERIFY2(!url.query().contains(QStringLiteral("skiptoken")),
                     qPrintable(url.toString()));
    }

    void setsWithoutAChangeTimeAreReloadedWhole()
    {
        FakeODataService service;
        fill(service, 10);
        QVERIFY(service.start());
        const QString db = newDatabase();
        QVERIFY(syncAll(settings(service, db)).isEmpty());
        QCOMPARE(differences(db, countriesSchema, expectedCountries(service)), QString());
        service.countries.removeFirst();
        service.countries[5].name = QStringLiteral("renamed");
        service.countries.append({ QStringLiteral("ZZ"), QStringLiteral("new") });
        QList<SyncPhase> phases;
        QVERIFY(syncAll(settings(service, db), &phases).isEmpty());
        QCOMPARE(differences(db, countriesSchema, expectedCountries(service)), QString());
        QVERIFY(phases.contains(SyncPhase::Reload));
        {
            QSqlDatabase check = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"),
                                                           QStringLiteral("staging-check"));
            check.setDatabaseName(db);
            QVERIFY(check.open());
            QSqlQuery query(check);
            QVERIFY(query.exec(QStringLiteral(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE '\\_sync\\_reload%' "
                "ESCAPE '\\'")));
            QVERIFY(query.next());
            QCOMPARE(query.value(0).toInt(), 0);
        }
        QSqlDatabase::removeDatabase(QStringLiteral("staging-check"));
    }

    void deltaLinksBringChangesAndDeletions_data()
    {
        QTest::addColumn<bool>("deletedEntityForm");
        QTest::newRow("@removed (4.01)") << false;
        QTest::newRow("$deletedEntity (4.0)") << true;
    }

    void deltaLinksBringChangesAndDeletions()
    {
        QFETCH(bool, deletedEntityForm);
        FakeODataService service;
        fill(service, 1200);
        service.trackChanges = true;
        service.deletedEntityForm = deletedEntityForm;
        QVERIFY(service.start());
        const QString db = newDatabase();
        QHash<QString, SyncError> failures = syncAll(settings(service, db));
        QVERIFY2(failures.isEmpty(), qPrintable(describe(failures)));
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
        const auto booksAskedBy = [&](const QString &text) {
            for (const QUrl &url : std::as_const(service.urls)) {
                if (url.path().endsWith(u"/Books") && url.query(QUrl::FullyDecoded).contains(text))
                    return true;
            }
            return false;
        };
        QVERIFY(!booksAskedBy(QStringLiteral("$filter"))); // no keyset pages for a tracked set

        service.urls.clear();
        service.putBook(7, at(1), QStringLiteral("changed, an old change time"), 5);
        service.putBook(9000, at(9000), QStringLiteral("new"), 9007199254740993LL);
        for (int id : { 1, 2, 600, 1200 })
            service.removeBook(id);
        QList<SyncPhase> phases;
        failures = syncAll(settings(service, db), &phases);
        QVERIFY2(failures.isEmpty(), qPrintable(describe(failures)));
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
        QVERIFY(booksAskedBy(QStringLiteral("$deltatoken")));
        QVERIFY(!booksAskedBy(QStringLiteral("$filter")));
        QVERIFY(!phases.contains(SyncPhase::Deletions)); // the deltas carry them
    }

    void anExpiredDeltaLinkReloadsTheWholeSet()
    {
        FakeODataService service;
        fill(service, 900);
        service.trackChanges = true;
        QVERIFY(service.start());
        const QString db = newDatabase();
        QVERIFY(syncAll(settings(service, db)).isEmpty());
        for (int id = 100; id < 150; ++id)
            service.removeBook(id);
        service.putBook(5, at(3), QStringLiteral("changed"));
        service.expiredBefore = service.version + 1; // the stored delta link is now too old
        QList<SyncPhase> phases;
        const QHash<QString, SyncError> failures = syncAll(settings(service, db), &phases);
        QVERIFY2(failures.isEmpty(), qPrintable(describe(failures)));
        QVERIFY(phases.contains(SyncPhase::Reload));
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
        // And the new delta link works.
        service.removeBook(3);
        QVERIFY(syncAll(settings(service, db)).isEmpty());
        QCOMPARE(differences(db, booksSchema, expectedBooks(service)), QString());
    }

    void basicAuthentication_data()
    {
        QTest::addColumn<QString>("password");
        QTest::addColumn<bool>("accepted");
        QTest::newRow("right") << "wonderland: ü" << true;
        QTest::newRow("wrong") << "guess" << false;
    }

    void basicAuthentication()
    {
        QFETCH(QString, password);
        QFETCH(bool, accepted);
        FakeODataService service;
        fill(service, 50);
        service.user = QStringLiteral("alice");
        service.password = QStringLiteral("wonderland: ü");
        QVERIFY(service.start());
        SyncSettings s = settings(service, newDatabase());
        s.user = QStringLiteral("alice");
        s.password = password;
        QSignalSpy failedAtAll(this, &QObject::destroyed);
        SyncEngine engine(s);
        QSignalSpy finished(&engine, &SyncEngine::finished);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        engine.startAll();
        if (accepted) {
            QVERIFY(finished.wait(20000));
            QCOMPARE(failed.count(), 0);
            QCOMPARE(differences(s.databasePath, booksSchema, expectedBooks(service)), QString());
        } else {
            QTRY_VERIFY(failed.count() > 0);
            const QString message = failed.first().at(2).toString();
            QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Auth);
            QVERIFY2(message.contains(QStringLiteral("\"alice\"")) && message.contains(u"401"),
                     qPrintable(message));
            QVERIFY2(!message.contains(password), qPrintable(message));
        }
    }

    void bearerTokensAndRefusals_data()
    {
        QTest::addColumn<QString>("token");
        QTest::addColumn<bool>("forbidden");
        QTest::addColumn<QString>("expected"); // empty: the sync completes
        QTest::newRow("the right token") << "s3cr3t-token" << false << "";
        QTest::newRow("a wrong token")
            << "guessed" << false << "the service refused the token (401): Bad token (401)";
        QTest::newRow("no access to the data")
            << "s3cr3t-token" << true << "the service denies access (403): Not your data (403)";
    }

    void bearerTokensAndRefusals()
    {
        QFETCH(QString, token);
        QFETCH(bool, forbidden);
        QFETCH(QString, expected);
        FakeODataService service;
        fill(service, 40);
        service.token = QStringLiteral("s3cr3t-token");
        service.forbidden = forbidden;
        QVERIFY(service.start());
        SyncSettings s = settings(service, newDatabase());
        s.token = token;
        const QHash<QString, SyncError> failures = syncAll(s);
        if (expected.isEmpty()) {
            QVERIFY2(failures.isEmpty(), qPrintable(describe(failures)));
            QCOMPARE(differences(s.databasePath, booksSchema, expectedBooks(service)), QString());
            return;
        }
        QVERIFY(!failures.isEmpty());
        for (const SyncError &error : failures) {
            QCOMPARE(error.category, ErrorCategory::Auth);
            QCOMPARE(error.message, expected);
        }
    }

    void misbehavingServicesAreRefusedAndChangeNothing_data()
    {
        QTest::addColumn<QString>("misbehaviour");
        QTest::addColumn<QString>("expected");
        QTest::newRow("ignores $filter") << "filter"
                                         << "does not apply $filter";
        QTest::newRow("ignores $orderby") << "orderby"
                                          << "does not apply $orderby";
        QTest::newRow("a next link to another host") << "nextlink"
                                                     << "another host";
        // Its last record is sound: the page announced its end, and its next page was asked for,
        // before the whole page was read.
        QTest::newRow("a record without its change time, mid-page") << "record"
                                                                    << "lacks its change time";
    }

    void misbehavingServicesAreRefusedAndChangeNothing()
    {
        QFETCH(QString, misbehaviour);
        QFETCH(QString, expected);
        FakeODataService service;
        fill(service, 900);
        QVERIFY(service.start());
        const QString db = newDatabase();
        QVERIFY(syncAll(settings(service, db)).isEmpty());
        const QHash<QString, QVariantList> before = localRecords(db, booksSchema);

        for (int id = 1; id <= 30; ++id)
            service.putBook(id, at(2000 - id), QStringLiteral("changed %1").arg(id));
        if (misbehaviour == u"filter")
            service.ignoreFilter = true;
        else if (misbehaviour == u"orderby")
            service.ignoreOrderBy = true;
        else if (misbehaviour == u"record")
            service.withoutChangeTime = 12;
        else
            service.nextLinkHost = QStringLiteral("evil.example:80");
        const QHash<QString, SyncError> failures = syncAll(settings(service, db));
        QVERIFY(failures.contains(QStringLiteral("Books")));
        QCOMPARE(failures.value(QStringLiteral("Books")).category, ErrorCategory::Protocol);
        QVERIFY2(failures.value(QStringLiteral("Books")).message.contains(expected),
                 qPrintable(failures.value(QStringLiteral("Books")).message));
        QCOMPARE(localRecords(db, booksSchema), before);
    }

    void aDocumentThatIsNotCsdlStopsTheSyncInWords()
    {
        FakeODataService service;
        service.metadataBody = "<html><body>Sign in</body></html>";
        QVERIFY(service.start());
        SyncEngine engine(settings(service, newDatabase()));
        QSignalSpy failed(&engine, &SyncEngine::failed);
        engine.startAll();
        QTRY_VERIFY(failed.count() > 0);
        QVERIFY2(failed.first().at(2).toString().contains(QStringLiteral("not CSDL")),
                 qPrintable(failed.first().at(2).toString()));
    }
};

QTEST_GUILESS_MAIN(TestODataSync)
#include "tst_odatasync.moc"
