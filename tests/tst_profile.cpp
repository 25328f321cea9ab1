// The profile: the settings defined, loaded, saved and overridden in one place.

#include "shared/options.h"
#include "shared/profile.h"

#include <QCryptographicHash>
#include <QFile>
#include <QSettings>
#include <QTemporaryDir>
#include <QTest>
#include <functional>
#include <optional>

using namespace BatchSync;
using namespace BatchSync::App;

namespace {

QByteArray digestOf(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return QByteArray();
    return QCryptographicHash::hash(file.readAll(), QCryptographicHash::Sha256);
}

// Every field away from its default.
Profile sample()
{
    return { SourceKind::Protocol,
             QUrl(QStringLiteral("https://sync.example.com/api/v1")),
             QStringLiteral("s3cret-token"),
             PagingMode::Offset,
             2500,
             true,
             600,
             5 };
}

} // namespace

class TestProfile final : public QObject
{
    Q_OBJECT

private:
    QString settingsPath() const { return m_dir->filePath(QStringLiteral("batchsync.conf")); }
    void writeFile(const QByteArray &text) const
    {
        QFile file(settingsPath());
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        QCOMPARE(file.write(text), qint64(text.size()));
    }

    std::optional<QTemporaryDir> m_dir; // one per test function

private Q_SLOTS:
    void init() { QVERIFY(m_dir.emplace().isValid()); }
    void cleanup() { m_dir.reset(); }

    void roundTrip()
    {
        const Profile profile = sample();
        QVERIFY(profile.validate().isEmpty());
        {
            QSettings settings(settingsPath(), QSettings::IniFormat);
            profile.save(settings);
            QCOMPARE(settings.status(), QSettings::NoError);
        }
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        QString problem;
        const Profile loaded = Profile::load(settings, &problem);
        QVERIFY(problem.isEmpty());
        QVERIFY(loaded == profile); // every field: see comparisonSeesEveryField()
        // The source is saved by name, beside the keys of earlier versions.
        QCOMPARE(settings.value(QStringLiteral("connection/source")).toString(),
                 QStringLiteral("batchsync"));
        QCOMPARE(settings.value(QStringLiteral("connection/batchSize")).toInt(), 2500);
        QCOMPARE(settings.value(QStringLiteral("connection/paging")).toString(),
                 QStringLiteral("offset"));
    }

    void comparisonSeesEveryField()
    {
        const Profile base = sample();
        const std::function<void(Profile &)> changes[] = {
            [](Profile &p) { p.endpoint = QUrl(QStringLiteral("https://other.example/api/v1")); },
            [](Profile &p) { p.token.clear(); },
            [](Profile &p) { p.paging = PagingMode::Cursor; },
            [](Profile &p) { p.batchSize = 2400; },
            [](Profile &p) { p.adaptiveBatchSize = false; },
            [](Profile &p) { p.targetBatchMs = 601; },
            [](Profile &p) { p.concurrency = 4; },
        };
        for (const auto &change : changes) {
            Profile other = base;
            change(other);
            QVERIFY(other != base);
        }
        Profile same = base;
        same.endpoint = QUrl(QStringLiteral("HTTPS://SYNC.example.com/api/v1/"));
        QVERIFY(same == base); // the same endpoint, written otherwise
    }

    void savedByAnEarlierVersion()
    {
        // The file as the window of earlier versions wrote it: no source, the layout beside.
        writeFile("[connection]\n"
                  "endpoint=http://127.0.0.1:8080/api/v1\n"
                  "token=abc.DEF-123\n"
                  "paging=offset\n"
                  "batchSize=400\n"
                  "adaptiveBatchSize=true\n"
                  "targetBatchMs=700\n"
                  "concurrency=3\n"
                  "\n"
                  "[layout]\n"
                  "splitter=@ByteArray(abc)\n");
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        QString problem;
        const Profile loaded = Profile::load(settings, &problem);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QCOMPARE(loaded.source, SourceKind::Protocol);
        QCOMPARE(loaded.endpoint, QUrl(QStringLiteral("http://127.0.0.1:8080/api/v1")));
        QCOMPARE(loaded.token, QStringLiteral("abc.DEF-123"));
        QCOMPARE(loaded.paging, PagingMode::Offset);
        QCOMPARE(loaded.batchSize, 400);
        QVERIFY(loaded.adaptiveBatchSize);
        QCOMPARE(loaded.targetBatchMs, 700);
        QCOMPARE(loaded.concurrency, 3);
        // The same local database as before: the file name is the earlier versions' rule.
        QCOMPARE(loaded.databaseFileName(), QStringLiteral("endpoint-e0ae682ccf980314.sqlite"));
        QCOMPARE(Profile().databaseFileName(), QStringLiteral("demo.sqlite"));
        QCOMPARE(loaded.databasePath(m_dir->path()),
                 m_dir->filePath(QStringLiteral("endpoint-e0ae682ccf980314.sqlite")));
        QVERIFY(
            Profile::demoServerPath(m_dir->path()).endsWith(QStringLiteral("/demo-server.sqlite")));

        // Nothing saved: the defaults, the embedded demo.
        writeFile(QByteArray());
        const QSettings empty(settingsPath(), QSettings::IniFormat);
        const Profile defaults = Profile::load(empty);
        QVERIFY(defaults.isEmbeddedDemo());
        QVERIFY(defaults == Profile());
        QCOMPARE(defaults.batchSize, SyncSettings::DefaultBatchSize);
        QCOMPARE(defaults.concurrency, SyncSettings().concurrency);

        // Values that cannot be read keep their defaults, as before.
        writeFile("[connection]\nbatchSize=lots\npaging=sideways\nadaptiveBatchSize=maybe\n");
        const QSettings unreadable(settingsPath(), QSettings::IniFormat);
        QVERIFY(Profile::load(unreadable) == Profile());
    }

    void overridesAreForOneRun()
    {
        Profile saved;
        saved.endpoint = QUrl(QStringLiteral("http://saved.example/api/v1"));
        saved.token = QStringLiteral("saved-token");
        saved.batchSize = 300;
        saved.concurrency = 1;
        {
            QSettings settings(settingsPath(), QSettings::IniFormat);
            saved.save(settings);
        }
        const QByteArray before = digestOf(settingsPath());
        QVERIFY(!before.isEmpty());

        ProfileOverrides flags;
        flags.endpoint = QUrl(QStringLiteral("http://other.example/api/v1"));
        flags.batchSize = 200;
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        const Profile run = flags.appliedTo(Profile::load(settings));
        QCOMPARE(run.endpoint, *flags.endpoint);
        QCOMPARE(run.batchSize, 200);
        // What no flag names comes from the saved profile.
        QCOMPARE(run.token, saved.token);
        QCOMPARE(run.concurrency, 1);
        QVERIFY(flags.problemWith(saved, settingsPath()).isEmpty());

        // Nothing was written: the file and what it loads are as saved.
        QCOMPARE(digestOf(settingsPath()), before);
        QVERIFY(Profile::load(settings) == saved);
        QVERIFY(ProfileOverrides().appliedTo(saved) == saved);
    }

    void engineSettingsComeFromTheProfile()
    {
        const Profile profile = sample();
        SyncSettings tuning;
        tuning.retryGiveUpMs = 1234;
        const QUrl url(QStringLiteral("http://127.0.0.1:5000/api/v1"));
        const SyncSettings engine
            = profile.syncSettings(url, QStringLiteral("/tmp/x.sqlite"), tuning);
        QCOMPARE(engine.endpoint, url);
        QCOMPARE(engine.databasePath, QStringLiteral("/tmp/x.sqlite"));
        QCOMPARE(engine.token, profile.token);
        QCOMPARE(engine.paging, PagingMode::Offset);
        QCOMPARE(engine.batchSize, 2500);
        QVERIFY(engine.adaptiveBatchSize);
        QCOMPARE(engine.targetBatchMs, 600);
        QCOMPARE(engine.concurrency, 5);
        QCOMPARE(engine.retryGiveUpMs, 1234); // the tuning is kept
        QVERIFY(engine.validate().isEmpty());
    }

    void invalidSavedValues_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QVariant>("value");
        QTest::addColumn<QString>("expected");
        QTest::newRow("batch size") << "connection/batchSize" << QVariant(5) << "batch size";
        QTest::newRow("concurrency")
            << "connection/concurrency" << QVariant(40) << "entities syncing at once";
        QTest::newRow("target") << "connection/targetBatchMs" << QVariant(1)
                                << "target batch duration";
        QTest::newRow("endpoint") << "connection/endpoint" << QVariant("ftp://example.com/api/v1")
                                  << "http";
    }

    void invalidSavedValues()
    {
        QFETCH(QString, key);
        QFETCH(QVariant, value);
        QFETCH(QString, expected);
        {
            QSettings settings(settingsPath(), QSettings::IniFormat);
            settings.setValue(key, value);
        }
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        const Profile saved = Profile::load(settings);

        // The saved value is named as the culprit, with the file.
        const QString problem = ProfileOverrides().problemWith(saved, settingsPath());
        QVERIFY2(problem.contains(expected), qPrintable(problem));
        QVERIFY2(problem.contains(settingsPath()), qPrintable(problem));

        // A flag of its own that is wrong is said without the file.
        ProfileOverrides badFlag;
        badFlag.concurrency = 0;
        const QString flagProblem = badFlag.problemWith(saved, settingsPath());
        QVERIFY2(!flagProblem.isEmpty(), qPrintable(flagProblem));
        QVERIFY2(!flagProblem.contains(settingsPath()), qPrintable(flagProblem));

        // A valid flag over the bad value makes the run possible.
        ProfileOverrides fix;
        if (key.endsWith(QLatin1String("batchSize")))
            fix.batchSize = 100;
        else if (key.endsWith(QLatin1String("concurrency")))
            fix.concurrency = 2;
        else if (key.endsWith(QLatin1String("targetBatchMs")))
            fix.targetBatchMs = 250;
        else
            fix.endpoint = QUrl(QStringLiteral("http://127.0.0.1:9/api/v1"));
        QCOMPARE(fix.problemWith(saved, settingsPath()), QString());
    }

    void unknownSource()
    {
        writeFile("[connection]\nsource=odata\n");
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        QString problem;
        const Profile loaded = Profile::load(settings, &problem);
        QVERIFY2(problem.contains(QStringLiteral("odata")), qPrintable(problem));
        QCOMPARE(loaded.source, SourceKind::Protocol);
        QCOMPARE(sourceKindFromName(u"batchsync"), std::optional<SourceKind>(SourceKind::Protocol));
        QCOMPARE(sourceKindName(SourceKind::Protocol), QStringLiteral("batchsync"));
    }

    void integerOptions_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<int>("minimum");
        QTest::addColumn<int>("maximum");
        QTest::addColumn<int>("expected"); // -1: refused
        QTest::newRow("plain") << "42" << 0 << 100 << 42;
        QTest::newRow("spaces") << " 7 " << 0 << 100 << 7;
        QTest::newRow("lowest") << "0" << 0 << 65535 << 0;
        QTest::newRow("highest") << "65535" << 0 << 65535 << 65535;
        QTest::newRow("too high") << "65536" << 0 << 65535 << -1;
        QTest::newRow("negative") << "-1" << 0 << 100 << -1;
        QTest::newRow("word") << "lots" << 0 << 100 << -1;
        QTest::newRow("fraction") << "1.5" << 0 << 100 << -1;
        QTest::newRow("empty") << "" << 0 << 100 << -1;
        QTest::newRow("hex") << "0x10" << 0 << 100 << -1;
    }

    void integerOptions()
    {
        QFETCH(QString, text);
        QFETCH(int, minimum);
        QFETCH(int, maximum);
        QFETCH(int, expected);
        const std::optional<int> value = parseInteger(text, minimum, maximum);
        QCOMPARE(value.has_value(), expected >= 0);
        if (value)
            QCOMPARE(*value, expected);
    }
};

QTEST_GUILESS_MAIN(TestProfile)
#include "tst_profile.moc"
