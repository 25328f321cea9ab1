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
#include <unistd.h>

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

// Every field of a BatchSync server's profile away from its default.
Profile sample()
{
    Profile p;
    p.endpoint = QUrl(QStringLiteral("https://sync.example.com/api/v1"));
    p.token = QStringLiteral("s3cret-token");
    p.paging = PagingMode::Offset;
    p.batchSize = 2500;
    p.adaptiveBatchSize = true;
    p.targetBatchMs = 600;
    p.concurrency = 5;
    p.direction = SyncDirection::Push;
    p.conflictPolicy = ConflictPolicy::ClientWins;
    p.conflictPolicies = { { QStringLiteral("orders"), ConflictPolicy::ServerWins },
                           { QStringLiteral("notes"), ConflictPolicy::ClientWins } };
    return p;
}

// Every field of an OData service's profile away from its default.
Profile odataSample()
{
    Profile p = sample();
    p.source = SourceKind::OData;
    p.endpoint = QUrl(QStringLiteral("https://erp.example.com/odata/v4/shop/"));
    p.token.clear();
    p.user = QStringLiteral("alice");
    p.password = QStringLiteral("pa:ss, wörd=1");
    p.changeTimeProperties = { { QString(), QStringLiteral("modifiedAt") },
                               { QStringLiteral("Orders"), QStringLiteral("changedOn") } };
    p.safetyWindowSeconds = 42;
    return p;
}

} // namespace

class TestProfile final : public QObject
{
    Q_OBJECT

private:
    QString settingsPath() const { return m_dir->filePath(QStringLiteral("batchsync.conf")); }
    QByteArray fileText() const
    {
        QFile file(settingsPath());
        return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    }
    void writeFile(const QByteArray &text) const
    {
        QFile file(settingsPath());
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        QCOMPARE(file.write(text), qint64(text.size()));
    }

    /*! Saves \a profile in the settings file and loads it back into \a loaded. */
    void reload(const Profile &profile, Profile *loaded) const
    {
        {
            QSettings settings(settingsPath(), QSettings::IniFormat);
            profile.save(settings);
            QCOMPARE(settings.status(), QSettings::NoError);
        }
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        QString problem;
        *loaded = Profile::load(settings, &problem);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    std::optional<QTemporaryDir> m_dir; // one per test function

private Q_SLOTS:
    void init() { QVERIFY(m_dir.emplace().isValid()); }
    void cleanup() { m_dir.reset(); }

    void roundTrip()
    {
        const Profile profile = sample();
        QVERIFY(profile.validate().isEmpty());
        Profile loaded;
        reload(profile, &loaded);
        if (QTest::currentTestFailed())
            return;
        // Every field (see comparisonSeesEveryField()) but the token, which the OS keychain
        // keeps (SecretStore): the file never holds it.
        Profile withoutSecrets = profile;
        withoutSecrets.token.clear();
        QVERIFY(loaded == withoutSecrets);
        QVERIFY(!fileText().contains("s3cret-token"));
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        QVERIFY(!settings.contains(QStringLiteral("connection/token")));
        // The source is saved by name, beside the keys of earlier versions.
        QCOMPARE(settings.value(QStringLiteral("connection/source")).toString(),
                 QStringLiteral("batchsync"));
        QCOMPARE(settings.value(QStringLiteral("connection/batchSize")).toInt(), 2500);
        QCOMPARE(settings.value(QStringLiteral("connection/paging")).toString(),
                 QStringLiteral("offset"));
        // Two-way sync: by name, the exceptions in the form of the --conflicts flag.
        QCOMPARE(settings.value(QStringLiteral("connection/direction")).toString(),
                 QStringLiteral("push"));
        QCOMPARE(settings.value(QStringLiteral("connection/conflictPolicy")).toString(),
                 QStringLiteral("client-wins"));
        QCOMPARE(settings.value(QStringLiteral("connection/conflictPolicies")).toString(),
                 QStringLiteral("notes=client-wins,orders=server-wins"));
        QCOMPARE(loaded.direction, SyncDirection::Push);
        QCOMPARE(loaded.conflictPolicy, ConflictPolicy::ClientWins);
        QCOMPARE(loaded.conflictPolicies, profile.conflictPolicies);

        // Each direction comes back as saved.
        for (const SyncDirection direction :
             { SyncDirection::Both, SyncDirection::Pull, SyncDirection::Push }) {
            Profile other = profile;
            other.direction = direction;
            other.conflictPolicies.clear();
            reload(other, &loaded);
            QCOMPARE(loaded.direction, direction);
            QVERIFY(loaded.conflictPolicies.isEmpty());
            other.token.clear();
            QVERIFY(loaded == other);
        }
    }

    void roundTripOData()
    {
        const Profile profile = odataSample();
        QVERIFY2(profile.validate().isEmpty(), qPrintable(profile.validate()));
        Profile loaded;
        reload(profile, &loaded);
        if (QTest::currentTestFailed())
            return;
        Profile withoutSecrets = profile;
        withoutSecrets.password.clear();
        QVERIFY(loaded == withoutSecrets);
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        // The keychain keeps the password: not a trace of it in the file.
        QVERIFY(loaded.password.isEmpty());
        QVERIFY(!settings.contains(QStringLiteral("connection/password")));
        QVERIFY(!fileText().contains(profile.password.toUtf8()));
        QCOMPARE(loaded.changeTimeProperties, profile.changeTimeProperties);
        QCOMPARE(settings.value(QStringLiteral("connection/source")).toString(),
                 QStringLiteral("odata"));
        QCOMPARE(settings.value(QStringLiteral("connection/user")).toString(),
                 QStringLiteral("alice"));
        QCOMPARE(settings.value(QStringLiteral("connection/changeTimeProperties")).toString(),
                 QStringLiteral("modifiedAt,Orders=changedOn"));
        QCOMPARE(settings.value(QStringLiteral("connection/safetyWindowSeconds")).toInt(), 42);

        // Written by hand, without quotes, the list still reads.
        writeFile("[connection]\nsource=odata\nendpoint=http://127.0.0.1:4004/odata/v4/shop/\n"
                  "changeTimeProperties=modifiedAt, Books = changedOn\n");
        const QSettings byHand(settingsPath(), QSettings::IniFormat);
        const Profile edited = Profile::load(byHand);
        QCOMPARE(edited.source, SourceKind::OData);
        const QMap<QString, QString> expected { { QString(), QStringLiteral("modifiedAt") },
                                                { QStringLiteral("Books"),
                                                  QStringLiteral("changedOn") } };
        QCOMPARE(edited.changeTimeProperties, expected);
        QCOMPARE(edited.safetyWindowSeconds, SyncSettings::DefaultSafetyWindowSeconds);
    }

    void comparisonSeesEveryField()
    {
        const std::function<void(Profile &)> changes[] = {
            [](Profile &p) {
                p.source = p.source == SourceKind::OData ? SourceKind::Protocol : SourceKind::OData;
            },
            [](Profile &p) { p.user += QStringLiteral("bob"); },
            [](Profile &p) { p.password += QStringLiteral("other"); },
            [](Profile &p) { p.changeTimeProperties[QStringLiteral("Books")] = u"at"_qs; },
            [](Profile &p) { p.safetyWindowSeconds = 0; },
            [](Profile &p) { p.endpoint = QUrl(QStringLiteral("https://other.example/api/v1")); },
            [](Profile &p) { p.token += QStringLiteral("t"); },
            [](Profile &p) { p.paging = PagingMode::Cursor; },
            [](Profile &p) { p.batchSize = 2400; },
            [](Profile &p) { p.adaptiveBatchSize = false; },
            [](Profile &p) { p.targetBatchMs = 601; },
            [](Profile &p) { p.concurrency = 4; },
            [](Profile &p) { p.direction = SyncDirection::Pull; },
            [](Profile &p) { p.conflictPolicy = ConflictPolicy::ServerWins; },
            [](Profile &p) {
                p.conflictPolicies[QStringLiteral("orders")] = ConflictPolicy::ClientWins;
            },
            [](Profile &p) { p.conflictPolicies.remove(QStringLiteral("notes")); },
        };
        for (const Profile &base : { sample(), odataSample() }) {
            for (const auto &change : changes) {
                Profile other = base;
                change(other);
                QVERIFY(other != base);
            }
        }
        Profile odata = odataSample();
        odata.changeTimeProperties[QStringLiteral("Orders")] = u"changedAt"_qs;
        QVERIFY(odata != odataSample()); // a property, not only the set
        Profile same = sample();
        same.endpoint = QUrl(QStringLiteral("HTTPS://SYNC.example.com/api/v1/"));
        QVERIFY(same == sample()); // the same endpoint, written otherwise
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
        // Two-way sync came later: pull and push, the server's record wins a conflict.
        QCOMPARE(loaded.direction, SyncDirection::Both);
        QCOMPARE(loaded.conflictPolicy, ConflictPolicy::ServerWins);
        QVERIFY(loaded.conflictPolicies.isEmpty());
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
        writeFile("[connection]\nbatchSize=lots\npaging=sideways\nadaptiveBatchSize=maybe\n"
                  "direction=sideways\nconflictPolicy=nobody-wins\n"
                  "conflictPolicies=orders=maybe\n");
        const QSettings unreadable(settingsPath(), QSettings::IniFormat);
        QVERIFY(Profile::load(unreadable) == Profile());
    }

    void transportSettings()
    {
        // Saved and loaded like every other field, and handed to the engine.
        Profile profile = sample();
        profile.caCertificateFile = m_dir->filePath(QStringLiteral("absent-ca.pem"));
        profile.allowInsecureHttp = true;
        Profile loaded;
        reload(profile, &loaded);
        QCOMPARE(loaded.caCertificateFile, profile.caCertificateFile);
        QVERIFY(loaded.allowInsecureHttp);
        Profile withoutSecrets = profile; // the keychain keeps those
        withoutSecrets.token.clear();
        withoutSecrets.password.clear();
        QVERIFY(loaded == withoutSecrets);
        const SyncSettings engine = loaded.syncSettings(loaded.endpoint, u"/tmp/t.sqlite"_qs);
        QCOMPARE(engine.caCertificateFile, profile.caCertificateFile);
        QVERIFY(engine.allowInsecureHttp);
        // A CA file that cannot be read is said, naming it.
        QVERIFY2(profile.validate().contains(QStringLiteral("absent-ca.pem")),
                 qPrintable(profile.validate()));

        // A token for plain http to another host: refused unless allowed, by either side.
        Profile plain = sample();
        plain.endpoint = QUrl(QStringLiteral("http://sync.example.com/api/v1"));
        QVERIFY2(plain.validate().contains(QStringLiteral("--allow-insecure-http")),
                 qPrintable(plain.validate()));
        const QString saved = ProfileOverrides().problemWith(plain, settingsPath());
        QVERIFY2(saved.contains(QStringLiteral("--allow-insecure-http"))
                     && saved.contains(settingsPath()),
                 qPrintable(saved));
        ProfileOverrides allow;
        allow.allowInsecureHttp = true;
        QCOMPARE(allow.problemWith(plain, settingsPath()), QString());
        QVERIFY(allow.appliedTo(plain).allowInsecureHttp);
        plain.allowInsecureHttp = true;
        QCOMPARE(plain.validate(), QString());
        // Loopback and https need no permission.
        plain.allowInsecureHttp = false;
        plain.endpoint = QUrl(QStringLiteral("http://localhost:8080/api/v1"));
        QCOMPARE(plain.validate(), QString());
        ProfileOverrides ca;
        ca.caCertificateFile = QStringLiteral("/etc/batchsync/ca.pem");
        QCOMPARE(ca.appliedTo(plain).caCertificateFile, *ca.caCertificateFile);
    }

    void overridesAreForOneRun()
    {
        Profile saved;
        saved.endpoint = QUrl(QStringLiteral("https://saved.example/api/v1"));
        saved.token = QStringLiteral("saved-token");
        saved.batchSize = 300;
        saved.concurrency = 1;
        {
            QSettings settings(settingsPath(), QSettings::IniFormat);
            saved.save(settings);
            // In plain text, as an earlier version saved it (now the keychain keeps it).
            settings.setValue(Profile::tokenSettingsKey(), saved.token);
        }
        const QByteArray before = digestOf(settingsPath());
        QVERIFY(!before.isEmpty());

        ProfileOverrides flags;
        flags.endpoint = QUrl(QStringLiteral("https://other.example/api/v1"));
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
        QCOMPARE(engine.direction, SyncDirection::Push);
        QCOMPARE(engine.conflictPolicyFor(QStringLiteral("orders")), ConflictPolicy::ServerWins);
        QCOMPARE(engine.conflictPolicyFor(QStringLiteral("notes")), ConflictPolicy::ClientWins);
        QCOMPARE(engine.conflictPolicyFor(QStringLiteral("customers")), ConflictPolicy::ClientWins);
        QCOMPARE(engine.retryGiveUpMs, 1234); // the tuning is kept
        QVERIFY(engine.validate().isEmpty());
        QCOMPARE(engine.source, SourceKind::Protocol);
        QVERIFY(engine.user.isEmpty() && engine.password.isEmpty());

        const Profile odata = odataSample();
        const SyncSettings service = odata.syncSettings(odata.endpoint, u"/tmp/o.sqlite"_qs);
        QCOMPARE(service.source, SourceKind::OData);
        QCOMPARE(service.endpoint, odata.endpoint);
        QCOMPARE(service.user, QStringLiteral("alice"));
        QCOMPARE(service.password, odata.password);
        QVERIFY(service.token.isEmpty());
        QCOMPARE(service.changeTimeProperties, odata.changeTimeProperties);
        QCOMPARE(service.safetyWindowSeconds, 42);
        QVERIFY2(service.validate().isEmpty(), qPrintable(service.validate()));

        // A user kept from an earlier OData choice never reaches a BatchSync server, nor
        // does a password without its user.
        Profile server = odata;
        server.source = SourceKind::Protocol;
        server.token = QStringLiteral("t0ken");
        const SyncSettings protocol = server.syncSettings(server.endpoint, u"/tmp/p.sqlite"_qs);
        QVERIFY(protocol.user.isEmpty() && protocol.password.isEmpty());
        QCOMPARE(protocol.token, QStringLiteral("t0ken"));
        QVERIFY(protocol.validate().isEmpty());
        QVERIFY(server.validate().isEmpty());
        Profile noUser = odata;
        noUser.user.clear();
        QVERIFY(noUser.syncSettings(noUser.endpoint, u"/tmp/o.sqlite"_qs).password.isEmpty());
    }

    void passwordFollowsItsUser()
    {
        Profile saved = odataSample();
        ProfileOverrides flags;
        flags.user = QStringLiteral("bob");
        QCOMPARE(flags.appliedTo(saved).user, QStringLiteral("bob"));
        QVERIFY(flags.appliedTo(saved).password.isEmpty()); // alice's is not bob's
        flags.password = QStringLiteral("bobs");
        QCOMPARE(flags.appliedTo(saved).password, QStringLiteral("bobs"));
        flags = ProfileOverrides();
        flags.user = QStringLiteral("alice");
        QCOMPARE(flags.appliedTo(saved).password, saved.password);
        flags = ProfileOverrides();
        flags.password = QStringLiteral("new");
        const Profile run = flags.appliedTo(saved);
        QCOMPARE(run.user, QStringLiteral("alice"));
        QCOMPARE(run.password, QStringLiteral("new"));

        // Every OData field has its override.
        flags = ProfileOverrides();
        flags.source = SourceKind::Protocol;
        flags.changeTimeProperties = QMap<QString, QString> { { u"Books"_qs, u"at"_qs } };
        flags.safetyWindowSeconds = 7;
        const Profile other = flags.appliedTo(saved);
        QCOMPARE(other.source, SourceKind::Protocol);
        QCOMPARE(other.changeTimeProperties, *flags.changeTimeProperties);
        QCOMPARE(other.safetyWindowSeconds, 7);
        QCOMPARE(other.user, saved.user);
    }

    void odataValidation_data()
    {
        QTest::addColumn<QString>("endpoint");
        QTest::addColumn<QString>("user");
        QTest::addColumn<QString>("token");
        QTest::addColumn<int>("safetyWindow");
        QTest::addColumn<QString>("changeTime");
        QTest::addColumn<QString>("expected"); // empty: valid

        const QString root = QStringLiteral("http://127.0.0.1:4004/odata/v4/shop/");
        const auto row = [](const char *name, const QString &endpoint, const char *user,
                            const char *token, int safetyWindow, const char *changeTime,
                            const char *expected) {
            QTest::newRow(name) << endpoint << QString::fromUtf8(user) << QString::fromUtf8(token)
                                << safetyWindow << QString::fromUtf8(changeTime)
                                << QString::fromUtf8(expected);
        };
        row("basic", root, "alice", "", 10, "modifiedAt", "");
        row("bearer", root, "", "tok", 10, "", "");
        row("none", root, "", "", 0, "", "");
        row("longest window", root, "", "", 86400, "", "");
        row("no endpoint", QString(), "alice", "", 10, "", "service root URL");
        row("user and token", root, "alice", "tok", 10, "", "not both");
        row("colon in user", root, "a:b", "", 10, "", "':'");
        row("negative window", root, "", "", -1, "", "safety window");
        row("window too long", root, "", "", 86401, "", "safety window");
        row("bad property", root, "", "", 10, "Orders=a-b", "change-time property name");
        row("bad set", root, "", "", 10, "a b=x", "entity set name");
    }

    void odataValidation()
    {
        QFETCH(QString, endpoint);
        QFETCH(QString, user);
        QFETCH(QString, token);
        QFETCH(int, safetyWindow);
        QFETCH(QString, changeTime);
        QFETCH(QString, expected);
        Profile profile;
        profile.source = SourceKind::OData;
        profile.endpoint = QUrl(endpoint);
        profile.user = user;
        profile.token = token;
        profile.safetyWindowSeconds = safetyWindow;
        profile.changeTimeProperties = Profile::parseChangeTimeProperties(changeTime);

        // The dialog's sentence and the command line's clause say the same.
        const QString sentence = profile.validate();
        QVERIFY2(sentence.contains(expected, Qt::CaseInsensitive), qPrintable(sentence));
        QCOMPARE(sentence.isEmpty(), expected.isEmpty());
        {
            QSettings settings(settingsPath(), QSettings::IniFormat);
            profile.save(settings);
            // A token in the file, as an earlier version kept it, is read and checked too.
            if (!token.isEmpty())
                settings.setValue(Profile::tokenSettingsKey(), token);
        }
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        const QString clause
            = ProfileOverrides().problemWith(Profile::load(settings), settingsPath());
        QVERIFY2(clause.contains(expected, Qt::CaseInsensitive), qPrintable(clause));
        QCOMPARE(clause.isEmpty(), expected.isEmpty());
        if (!expected.isEmpty())
            QVERIFY2(clause.contains(settingsPath()), qPrintable(clause));

        // The same settings for a BatchSync server need none of the OData fields.
        if (!endpoint.isEmpty()) {
            profile.source = SourceKind::Protocol;
            profile.safetyWindowSeconds = SyncSettings::DefaultSafetyWindowSeconds;
            profile.changeTimeProperties.clear();
            QVERIFY2(profile.validate().isEmpty(), qPrintable(profile.validate()));
        }
    }

    void changeTimeProperties_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected"); // the canonical text
        QTest::addColumn<QString>("problem"); // empty: none

        const auto row = [](const char *name, const QString &text, const QString &expected,
                            const char *problem) {
            QTest::newRow(name) << text << expected << QString::fromUtf8(problem);
        };
        row("every set", u"modifiedAt"_qs, u"modifiedAt"_qs, "");
        row("one set", u"Orders=changedOn"_qs, u"Orders=changedOn"_qs, "");
        row("mixed", u"modifiedAt,Orders=changedOn"_qs, u"modifiedAt,Orders=changedOn"_qs, "");
        row("mixed, default last", u" Orders = changedOn , Books=at, modifiedAt "_qs,
            u"modifiedAt,Books=at,Orders=changedOn"_qs, "");
        row("empty items", u"a,,b=c,"_qs, u"a,b=c"_qs, "");
        row("nothing", QString(), QString(), "");
        row("underscore inside", u"Sales_Orders=changed_on"_qs, u"Sales_Orders=changed_on"_qs, "");
        row("no set before =", u"=changedOn"_qs, u"changedOn"_qs, "names no entity set");
        row("no property after =", u"Orders="_qs, u"Orders="_qs,
            "change-time property name is empty");
        row("dash", u"modified-at"_qs, u"modified-at"_qs, "not a valid identifier");
        row("injection in set", u"Orders;DROP=x"_qs, u"Orders;DROP=x"_qs, "entity set name");
        row("two =", u"Orders=a=b"_qs, u"Orders=a=b"_qs, "not a valid identifier");
        row("digit first", u"1at"_qs, u"1at"_qs, "not a valid identifier");
        row("reserved", u"_at"_qs, u"_at"_qs, "reserved");
        row("too long", QString(65, u'a'), QString(65, u'a'), "not a valid identifier");
        row("two defaults", u"modifiedAt,changedDate"_qs, u"changedDate"_qs,
            "more than one change-time property for every set");
        row("a set twice", u"Orders=a,Orders=b"_qs, u"Orders=b"_qs,
            "more than one change-time property for");
        row("space inside", u"Orders=changed On"_qs, u"Orders=changed On"_qs,
            "not a valid identifier");
    }

    void changeTimeProperties()
    {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        QFETCH(QString, problem);
        QString found;
        const QMap<QString, QString> properties = Profile::parseChangeTimeProperties(text, &found);
        QVERIFY2(found.contains(problem), qPrintable(found));
        QCOMPARE(found.isEmpty(), problem.isEmpty());
        QCOMPARE(Profile::changeTimePropertiesText(properties), expected);
        if (problem.isEmpty()) // the text form reads back the same
            QCOMPARE(Profile::parseChangeTimeProperties(expected), properties);
    }

    void passwordFile_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("expected"); // empty: refused

        QTest::newRow("with newline") << QByteArray("Tr0ub4dor&3\n") << "Tr0ub4dor&3";
        QTest::newRow("without newline") << QByteArray("Tr0ub4dor&3") << "Tr0ub4dor&3";
        QTest::newRow("crlf") << QByteArray("Tr0ub4dor&3\r\n") << "Tr0ub4dor&3";
        QTest::newRow("spaces kept") << QByteArray(" pass word \n") << " pass word ";
        QTest::newRow("first line only") << QByteArray("first\nsecond\n") << "first";
        QTest::newRow("utf-8") << QByteArray("p\xc3\xa4ss:w\xc3\xb6rd\n") << "päss:wörd";
        QTest::newRow("empty") << QByteArray() << "";
        QTest::newRow("only a newline") << QByteArray("\n") << "";
        QTest::newRow("empty first line") << QByteArray("\nTr0ub4dor&3\n") << "";
    }

    void passwordFile()
    {
        QFETCH(QByteArray, content);
        QFETCH(QString, expected);
        writeFile(content);
        QString problem;
        const std::optional<QString> password = passwordFromFile(settingsPath(), &problem);
        QCOMPARE(password.has_value(), !expected.isEmpty());
        if (password) {
            QCOMPARE(*password, expected);
            QVERIFY(problem.isEmpty());
        } else {
            QVERIFY2(problem.contains(QStringLiteral("is empty")), qPrintable(problem));
            QVERIFY2(problem.contains(settingsPath()), qPrintable(problem));
            QVERIFY2(!problem.contains(QStringLiteral("Tr0ub4dor")), qPrintable(problem));
        }
    }

    void passwordFileUnreadable()
    {
        QString problem;
        QVERIFY(!passwordFromFile(m_dir->filePath(QStringLiteral("absent")), &problem));
        QVERIFY2(problem.contains(QStringLiteral("cannot read the password file")),
                 qPrintable(problem));
        problem.clear();
        QVERIFY(!passwordFromFile(m_dir->path(), &problem));
        QVERIFY2(problem.contains(QStringLiteral("is a folder")), qPrintable(problem));
        writeFile("Tr0ub4dor&3\n");
        QVERIFY(QFile::setPermissions(settingsPath(), QFileDevice::WriteOwner));
        problem.clear();
        const std::optional<QString> unreadable = passwordFromFile(settingsPath(), &problem);
        if (::geteuid() == 0) // root reads it anyway
            QVERIFY(unreadable);
        else
            QVERIFY2(problem.contains(QStringLiteral("cannot read")), qPrintable(problem));
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
        writeFile("[connection]\nsource=graphql\n");
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        QString problem;
        const Profile loaded = Profile::load(settings, &problem);
        QVERIFY2(problem.contains(QStringLiteral("graphql")), qPrintable(problem));
        QVERIFY2(problem.contains(QStringLiteral("\"odata\"")), qPrintable(problem));
        QCOMPARE(loaded.source, SourceKind::Protocol);
        writeFile("[connection]\nsource=odata\n");
        const QSettings known(settingsPath(), QSettings::IniFormat);
        problem.clear();
        QCOMPARE(Profile::load(known, &problem).source, SourceKind::OData);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QCOMPARE(sourceKindFromName(u"odata"), std::optional<SourceKind>(SourceKind::OData));
        QCOMPARE(sourceKindFromName(u"batchsync"), std::optional<SourceKind>(SourceKind::Protocol));
        QCOMPARE(sourceKindName(SourceKind::Protocol), QStringLiteral("batchsync"));
    }

    void conflictOverrides()
    {
        const Profile saved = sample(); // client-wins, orders and notes named
        ProfileOverrides flags;
        flags.direction = SyncDirection::Pull;
        flags.conflictPolicies = { { QStringLiteral("notes"), ConflictPolicy::ServerWins } };
        Profile run = flags.appliedTo(saved);
        QCOMPARE(run.direction, SyncDirection::Pull);
        // Per entity: on top of the saved ones.
        QCOMPARE(run.conflictPolicy, ConflictPolicy::ClientWins);
        QCOMPARE(run.conflictPolicies.value(QStringLiteral("notes")), ConflictPolicy::ServerWins);
        QCOMPARE(run.conflictPolicies.value(QStringLiteral("orders")), ConflictPolicy::ServerWins);
        QCOMPARE(run.conflictPolicies.size(), 2);

        // For every entity: the saved exceptions are dropped, the flag's own kept.
        flags.conflictPolicy = ConflictPolicy::ServerWins;
        flags.conflictPolicies = { { QStringLiteral("notes"), ConflictPolicy::ClientWins } };
        run = flags.appliedTo(saved);
        QCOMPARE(run.conflictPolicy, ConflictPolicy::ServerWins);
        QCOMPARE(run.conflictPolicies,
                 (QMap<QString, ConflictPolicy> {
                     { QStringLiteral("notes"), ConflictPolicy::ClientWins } }));
        const SyncSettings engine = run.syncSettings(saved.endpoint, u"/tmp/c.sqlite"_qs);
        QCOMPARE(engine.conflictPolicyFor(QStringLiteral("orders")), ConflictPolicy::ServerWins);
        QCOMPARE(engine.conflictPolicyFor(QStringLiteral("notes")), ConflictPolicy::ClientWins);
        QCOMPARE(engine.direction, SyncDirection::Pull);

        // None given: as saved.
        QVERIFY(ProfileOverrides().appliedTo(saved) == saved);

        // A hand-edited name that is no identifier is refused when the profile is checked.
        Profile edited = saved;
        edited.conflictPolicies.insert(QStringLiteral("a;b"), ConflictPolicy::ClientWins);
        QVERIFY2(edited.validate().contains(QStringLiteral("Conflict policies")),
                 qPrintable(edited.validate()));
        QVERIFY(!ProfileOverrides().problemWith(edited, settingsPath()).isEmpty());
    }

    void conflictPoliciesWrittenByHand()
    {
        // Without quotes, "a,b" reads as a list: the same policies.
        writeFile("[connection]\ndirection=Pull\nconflictPolicy=client-wins\n"
                  "conflictPolicies=orders=server-wins, notes = client-wins\n");
        const QSettings settings(settingsPath(), QSettings::IniFormat);
        const Profile loaded = Profile::load(settings);
        QCOMPARE(loaded.direction, SyncDirection::Pull);
        QCOMPARE(loaded.conflictPolicy, ConflictPolicy::ClientWins);
        QCOMPARE(loaded.conflictPolicies,
                 (QMap<QString, ConflictPolicy> {
                     { QStringLiteral("orders"), ConflictPolicy::ServerWins },
                     { QStringLiteral("notes"), ConflictPolicy::ClientWins } }));
        QVERIFY(loaded.validate().isEmpty());
    }

    void conflictPolicies_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>(
            "expected"); // as conflictPoliciesText() writes it; "" when refused
        QTest::addColumn<QString>("problem"); // in the fault

        QTest::newRow("every entity") << "client-wins"
                                      << "client-wins"
                                      << "";
        QTest::newRow("server wins") << "server-wins"
                                     << "server-wins"
                                     << "";
        QTest::newRow("any case, spaces") << " Client-Wins "
                                          << "client-wins"
                                          << "";
        QTest::newRow("one entity") << "orders=client-wins"
                                    << "orders=client-wins"
                                    << "";
        QTest::newRow("mixed") << "server-wins, orders = client-wins,,notes=server-wins"
                               << "server-wins,notes=server-wins,orders=client-wins"
                               << "";
        QTest::newRow("unknown policy") << "nobody-wins"
                                        << ""
                                        << "\"nobody-wins\"";
        QTest::newRow("entity's unknown policy") << "orders=mine"
                                                 << ""
                                                 << "\"mine\"";
        QTest::newRow("no policy") << "orders="
                                   << ""
                                   << "must be \"server-wins\" or";
        QTest::newRow("no entity") << "=client-wins"
                                   << ""
                                   << "names no entity";
        QTest::newRow("bad entity name") << "a;b=client-wins"
                                         << ""
                                         << "entity";
        QTest::newRow("twice for one entity") << "orders=client-wins,orders=server-wins"
                                              << ""
                                              << "more than one";
        QTest::newRow("two defaults") << "client-wins,server-wins"
                                      << ""
                                      << "every entity";
    }

    void conflictPolicies()
    {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        QFETCH(QString, problem);
        QString fault;
        QMap<QString, ConflictPolicy> policies = Profile::parseConflictPolicies(text, &fault);
        if (problem.isEmpty()) {
            QVERIFY2(fault.isEmpty(), qPrintable(fault));
            std::optional<ConflictPolicy> everyOther;
            if (policies.contains(QString()))
                everyOther = policies.take(QString());
            QCOMPARE(Profile::conflictPoliciesText(policies, everyOther), expected);
        } else {
            QVERIFY2(fault.contains(problem), qPrintable(fault));
        }
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
