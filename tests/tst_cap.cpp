// The OData source against SAP CAP, a real OData v4 server nobody here wrote (the peer of
// tests/peers/cap/, see testutil/cappeer.h): after every sync the local database must equal
// the service's data exactly, read back through CAP's own paging and mapped here with
// QJsonDocument and QDateTime, not with the code under test.
#include "engine/syncengine.h"
#include "sources/odata/odatametadata.h"
#include "testutil/cappeer.h"
#include "testutil/localdb.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUuid>

using namespace BatchSync;
using namespace BatchSync::Test;

namespace {

QString describe(const QList<QList<QVariant>> &failures)
{
    QStringList lines;
    for (const QList<QVariant> &args : failures)
        lines.append(args.at(0).toString() + QStringLiteral(": ") + args.at(2).toString());
    return lines.join(u'\n');
}

/*! \a raw (a member's JSON text) as the local database must hold a field of \a type. */
QVariant expectedValue(const QJsonValue &value, const QByteArray &raw, FieldType type)
{
    if (value.isNull() || value.isUndefined())
        return QVariant();
    switch (type) {
    case FieldType::Int:
        // CAP sends Int64 as strings here, Int32 bare: both exactly from the text.
        return QVariant(value.isString() ? value.toString().toLongLong()
                                         : QString::fromLatin1(raw).toLongLong());
    case FieldType::Real:
        return QVariant(value.toDouble());
    case FieldType::Bool:
        return QVariant(value.toBool());
    case FieldType::DateTime: {
        QDateTime time = QDateTime::fromString(value.toString(), Qt::ISODateWithMs);
        return QVariant(time.toUTC().toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzz'Z'")));
    }
    case FieldType::Decimal:
        // CAP sends Decimal as a string (IEEE754Compatible): the very text, never a double.
        return QVariant(value.isString() ? value.toString() : QString::fromLatin1(raw));
    case FieldType::String:
        break;
    }
    return QVariant(value.toString());
}

} // namespace

class TestCap final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_databases = 0;
    CapPeer m_cap;
    OData::Metadata m_metadata;

    QString newDatabase()
    {
        return m_dir.filePath(QStringLiteral("cap%1.sqlite").arg(++m_databases));
    }

    SyncSettings settings(const QString &database) const
    {
        SyncSettings s;
        s.source = SourceKind::OData;
        s.endpoint = m_cap.serviceRoot();
        s.user = CapPeer::user();
        s.password = CapPeer::password();
        s.databasePath = database;
        s.batchSize = 2000; // above CAP's cap of 1000: its next links must be read right
        s.retryGiveUpMs = 5000;
        return s;
    }

    bool startCap(const CapPeer::Options &options = CapPeer::Options())
    {
        if (!m_cap.start(options))
            return false;
        const CapPeer::Response metadata = m_cap.request("GET", QStringLiteral("$metadata"));
        QString error;
        return metadata.isSuccess() && OData::parseMetadata(metadata.body, &m_metadata, &error);
    }

    const OData::EntitySet *set(const QString &name) const
    {
        for (const OData::EntitySet &each : m_metadata.sets) {
            if (each.name == name)
                return &each;
        }
        return nullptr;
    }

    /*! The service's records of \a setName as the local database must hold them. */
    QHash<QString, QVariantList> serviceRecords(const QString &setName)
    {
        const OData::EntitySet *entitySet = set(setName);
        if (!entitySet)
            return {};
        const EntitySchema schema = entitySet->schema();
        bool ok = false;
        const QList<QByteArray> records = m_cap.readAll(setName, QString(), &ok);
        if (!ok)
            qWarning("could not read %s", qPrintable(setName));
        QHash<QString, QVariantList> expected;
        for (const QByteArray &record : records) {
            const QJsonObject object = QJsonDocument::fromJson(record).object();
            QString id;
            if (entitySet->keys.size() == 1) {
                id = object.value(entitySet->keys.first().name).toVariant().toString();
                if (entitySet->keys.first().edmType == u"Edm.Guid")
                    id = id.toLower();
            } else {
                // [orderNo,"lineCode"], compact, as the mapping fixes composite ids.
                id = QStringLiteral("[%1,%2]")
                         .arg(object.value(QStringLiteral("orderNo")).toInteger())
                         .arg(QString::fromUtf8(
                             QJsonDocument(QJsonArray { object.value(QStringLiteral("lineCode")) })
                                 .toJson(QJsonDocument::Compact)
                                 .mid(1)
                                 .chopped(1)));
            }
            QVariantList values;
            for (const FieldSpec &field : schema.fields) {
                values.append(expectedValue(object.value(field.name),
                                            CapPeer::rawMember(record, field.name), field.type));
            }
            expected.insert(id, values);
        }
        return expected;
    }

    QString differencesFrom(const QString &database, const QString &setName)
    {
        const OData::EntitySet *entitySet = set(setName);
        if (!entitySet)
            return QStringLiteral("no set %1").arg(setName);
        return differences(database, entitySet->schema(), serviceRecords(setName));
    }

    static bool sync(const SyncSettings &s, QString *failures = nullptr)
    {
        SyncEngine engine(s);
        QSignalSpy finished(&engine, &SyncEngine::finished);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        engine.startAll();
        const bool done = finished.wait(120000);
        if (failures)
            *failures = describe(failed);
        return done && failed.isEmpty();
    }

    void verifyEqual(const QString &database)
    {
        for (const char *name : { "Products", "OrderLines", "Currencies" })
            QCOMPARE(differencesFrom(database, QString::fromLatin1(name)), QString());
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        const QString reason = CapPeer::unavailableReason();
        if (!reason.isEmpty()) {
            if (CapPeer::required())
                QFAIL(qPrintable(reason));
            QSKIP(qPrintable(QStringLiteral("CAP tests not run: %1").arg(reason)));
        }
    }

    void aFirstSyncEqualsTheService()
    {
        QVERIFY(startCap());
        const QString db = newDatabase();
        QString failures;
        QVERIFY2(sync(settings(db), &failures), qPrintable(failures));
        verifyEqual(db);
        // 9007199254740993 and friends stay exact (seeded by the peer).
        const QHash<QString, QVariantList> local
            = localRecords(db, set(QStringLiteral("Products"))->schema());
        QCOMPARE(local.size(), 5000);
    }

    void changesDuringAndBetweenSyncsArriveExactly()
    {
        QVERIFY(startCap());
        const QString db = newDatabase();
        QVERIFY(sync(settings(db)));

        // Between syncs: creates, changes, deletes through CAP's own API, several in one
        // millisecond (one transaction).
        const QByteArray created
            = m_cap.create(QStringLiteral("Products"),
                           "{\"name\":\"new · 漢字 😀\",\"stock\":\"9007199254740993\","
                           "\"price\":\"12.500\"}");
        QVERIFY(!created.isEmpty());
        const QString createdId
            = QJsonDocument::fromJson(created).object().value(QStringLiteral("ID")).toString();
        QCOMPARE(m_cap.insertProducts(25, QStringLiteral("batch")).size(), 25);
        const QList<QByteArray> products
            = m_cap.readAll(QStringLiteral("Products"), QStringLiteral("$orderby=ID&$top=40"));
        QVERIFY(products.size() >= 40);
        QStringList ids;
        for (int i = 0; i < 8; ++i) {
            ids.append(QJsonDocument::fromJson(products.at(i))
                           .object()
                           .value(QStringLiteral("ID"))
                           .toString());
        }
        QCOMPARE(m_cap.updateProducts(ids.mid(0, 4), QStringLiteral("renamed")).size(), 4);
        for (const QString &id : ids.mid(4))
            QVERIFY(m_cap.remove(QStringLiteral("Products"), CapPeer::keyPredicate({ QUuid(id) })));
        QVERIFY(m_cap.remove(
            QStringLiteral("OrderLines"),
            CapPeer::keyPredicate({ 1000, QStringLiteral("O'K") },
                                  { QStringLiteral("orderNo"), QStringLiteral("lineCode") })));
        QVERIFY(m_cap.remove(QStringLiteral("Currencies"),
                             CapPeer::keyPredicate({ QStringLiteral("AAB") })));
        QString failures;
        QVERIFY2(sync(settings(db), &failures), qPrintable(failures));
        verifyEqual(db);
        // Decimal(15,3) arrives as its exact text, trailing zero included: a decimal field.
        const EntitySchema productSchema = set(QStringLiteral("Products"))->schema();
        const int price = productSchema.fieldIndex(u"price");
        QVERIFY(price >= 0);
        QCOMPARE(productSchema.fields.at(price).type, FieldType::Decimal);
        QCOMPARE(localRecords(db, productSchema).value(createdId.toLower()).value(price),
                 QVariant(QStringLiteral("12.500")));

        // During a sync: writes land while its pages flow; the next sync ends exact.
        SyncEngine engine(settings(db));
        QSignalSpy finished(&engine, &SyncEngine::finished);
        QList<QNetworkReply *> writes;
        connect(&engine, &SyncEngine::progressChanged, this, [&](const QString &entity) {
            if (entity != u"Products" || !writes.isEmpty())
                return;
            writes.append(m_cap.startRequest("POST", QStringLiteral("insertProducts"),
                                             "{\"count\":30,\"namePrefix\":\"during\"}"));
            writes.append(m_cap.startRequest("DELETE",
                                             QStringLiteral("Products")
                                                 + CapPeer::keyPredicate({ QUuid(ids.at(0)) })));
        });
        QCOMPARE(m_cap.insertProducts(3000, QStringLiteral("bulk")).size(), 3000);
        engine.startAll();
        QVERIFY(finished.wait(120000));
        for (QNetworkReply *reply : std::as_const(writes))
            QVERIFY(CapPeer::finish(reply).isSuccess());
        QVERIFY(!writes.isEmpty());
        QVERIFY2(sync(settings(db), &failures), qPrintable(failures));
        verifyEqual(db);
    }

    void aSlowTransactionBehindThePositionIsNotMissed()
    {
        QVERIFY(startCap());
        const QString db = newDatabase();
        QVERIFY(sync(settings(db)));
        // Stamped now, committed 3 s later: a sync in between passes its change time.
        const QString id = QUuid::createUuid().toString(QUuid::WithoutBraces);
        QNetworkReply *slow = m_cap.startSlowUpsertProduct(id, QStringLiteral("slow"), 3000);
        QTest::qWait(200);
        QVERIFY(
            m_cap.create(QStringLiteral("Products"), "{\"name\":\"after the slow one\"}").size());
        QVERIFY(sync(settings(db)));
        QVERIFY(CapPeer::finish(slow).isSuccess());
        QVERIFY(sync(settings(db)));
        verifyEqual(db);
        QVERIFY(localRecords(db, set(QStringLiteral("Products"))->schema()).contains(id));
    }

    void aKilledSyncResumesExactly()
    {
        QVERIFY(startCap());
        const QString db = newDatabase();
        const QStringList arguments { QStringLiteral("--headless"),
                                      QStringLiteral("--source"),
                                      QStringLiteral("odata"),
                                      QStringLiteral("--endpoint"),
                                      m_cap.serviceRoot().toString(),
                                      QStringLiteral("--db"),
                                      db,
                                      QStringLiteral("--user"),
                                      CapPeer::user(),
                                      QStringLiteral("--batch-size"),
                                      QStringLiteral("100"),
                                      QStringLiteral("--progress"),
                                      QStringLiteral("json") };
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(QStringLiteral("BATCHSYNC_PASSWORD"), CapPeer::password());
        environment.insert(QStringLiteral("HOME"), m_dir.path());
        QProcess first;
        first.setProcessEnvironment(environment);
        first.start(QStringLiteral(BATCHSYNC_BIN), arguments);
        QVERIFY(first.waitForStarted());
        QByteArray output;
        // Killed once some of Products is committed, far from its end.
        static const QRegularExpression progressed(
            QStringLiteral("\"entity\":\"Products\"[^\\n]*\"done\":[1-9][0-9]{2}[,}]"));
        QTRY_VERIFY_WITH_TIMEOUT(
            progressed.match(QString::fromUtf8(output += first.readAllStandardOutput())).hasMatch(),
            60000);
        first.kill();
        QVERIFY(first.waitForFinished());
        QProcess second;
        second.setProcessEnvironment(environment);
        second.start(QStringLiteral(BATCHSYNC_BIN), arguments);
        QVERIFY(second.waitForFinished(120000));
        QVERIFY2(second.exitCode() == 0, second.readAllStandardError().constData());
        verifyEqual(db);
    }

    void basicAuthenticationRightAndWrong()
    {
        QVERIFY(startCap());
        SyncSettings wrong = settings(newDatabase());
        wrong.password = QStringLiteral("not-the-password");
        SyncEngine engine(wrong);
        QSignalSpy failed(&engine, &SyncEngine::failed);
        engine.startAll();
        QTRY_VERIFY_WITH_TIMEOUT(!failed.isEmpty(), 20000);
        QCOMPARE(failed.first().at(1).value<ErrorCategory>(), ErrorCategory::Auth);
        const QString message = failed.first().at(2).toString();
        QVERIFY2(message.contains(u"401") && !message.contains(wrong.password),
                 qPrintable(message));
    }
};

QTEST_GUILESS_MAIN(TestCap)
#include "tst_cap.moc"
