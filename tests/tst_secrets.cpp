// The token and password in the OS keychain: SecretStore and the window, against a real
// Secret Service. CTest runs this suite twice (tests/CMakeLists.txt): inside a private D-Bus
// session with an unlocked gnome-keyring (BATCHSYNC_TEST_KEYCHAIN=available), and without any
// D-Bus (BATCHSYNC_TEST_KEYCHAIN=none), where the app must say so and keep nothing.

#include "engine/syncengine.h"
#include "logview.h"
#include "mainwindow.h"
#include "progresspage.h"
#include "settingsdialog.h"
#include "shared/profile.h"
#include "shared/secretstore.h"
#include "testutil/testserver.h"

#include <QAction>
#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QLineEdit>
#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <memory>
#include <qt6keychain/keychain.h>

using namespace BatchSync;
using namespace BatchSync::App;
using namespace BatchSync::Ui;

namespace {

constexpr int KeychainTimeoutMs = 20000;

// Distinctive, so that a search of the settings file cannot miss them.
const QString OldToken = QStringLiteral("old-plain-t0ken-4c1d");
const QString NewToken = QStringLiteral("new-kept-t0ken-77e2");
const QString Password = QStringLiteral("pa55-w0rd-9a3f");

// The longest time the event loop went without running a 5 ms timer, from construction:
// the keychain must never hold up the GUI thread.
class StallMeter final
{
public:
    StallMeter()
    {
        m_clock.start();
        QObject::connect(&m_timer, &QTimer::timeout,
                         [this] { m_longest = std::max(m_longest, m_clock.restart()); });
        m_timer.start(5);
    }
    qint64 longestMs() const { return std::max(m_longest, m_clock.elapsed()); }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_longest = 0;
};

constexpr qint64 MaxStallMs = 250;

bool logContains(const MainWindow &window, const QString &text)
{
    const QStringList lines = window.logView()->messages();
    return std::any_of(lines.cbegin(), lines.cend(),
                       [&text](const QString &line) { return line.contains(text); });
}

} // namespace

class TestSecrets final : public QObject
{
    Q_OBJECT

private:
    QString settingsFile() const { return m_dir->filePath(QStringLiteral("batchsync.conf")); }
    QByteArray fileText(const QString &path) const
    {
        QFile file(path);
        return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    }
    void writeFile(const QString &path, const QByteArray &text) const
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        QCOMPARE(file.write(text), qint64(text.size()));
    }

    // A service name of this test function's own: nothing of another test is found.
    QString service() const
    {
        return QStringLiteral("tst_secrets-%1-%2")
            .arg(QCoreApplication::applicationPid())
            .arg(QString::fromLatin1(QTest::currentTestFunction()));
    }

    // What the keychain itself holds under \a key, read without SecretStore: empty when it
    // holds nothing or cannot be read.
    QString keychainValue(const QString &key) const
    {
        auto *job = new QKeychain::ReadPasswordJob(service());
        job->setKey(key);
        QString value;
        connect(job, &QKeychain::Job::finished, this, [&value](QKeychain::Job *finished) {
            value = static_cast<QKeychain::ReadPasswordJob *>(finished)->textData();
        });
        QSignalSpy done(job, &QKeychain::Job::finished);
        job->start();
        if (!done.wait(KeychainTimeoutMs))
            qWarning() << "the keychain did not answer";
        return value;
    }

    // load() on a store of this test's service; the secrets found.
    std::pair<QString, QString> load(SecretStore &store, bool migrate = true)
    {
        QSignalSpy loaded(&store, &SecretStore::loaded);
        const StallMeter stalls;
        store.load(migrate);
        if (!loaded.wait(KeychainTimeoutMs))
            return {};
        if (stalls.longestMs() > MaxStallMs)
            qWarning("the event loop stalled for %lld ms", stalls.longestMs());
        m_longestStallMs = std::max(m_longestStallMs, stalls.longestMs());
        return { loaded.first().at(0).toString(), loaded.first().at(1).toString() };
    }

    bool m_available = false;
    qint64 m_longestStallMs = 0; // in any load() of the suite

    std::unique_ptr<QTemporaryDir> m_dir;

private Q_SLOTS:
    void initTestCase()
    {
        const QByteArray expected = qgetenv("BATCHSYNC_TEST_KEYCHAIN");
        QVERIFY2(expected == "available" || expected == "none",
                 "set BATCHSYNC_TEST_KEYCHAIN to \"available\" (inside dbus-run-session with "
                 "gnome-keyring-daemon --unlock) or \"none\" (no D-Bus): see tests/CMakeLists.txt");
        m_available = expected == "available";
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("BatchSyncTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_secrets"));
        QSettings::setDefaultFormat(QSettings::IniFormat);
    }

    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope,
                           m_dir->filePath(QStringLiteral("settings")));
    }

    void cleanup() { m_dir.reset(); }

    void cleanupTestCase()
    {
        // Every read of the suite, migrations included, left the event loop running.
        qInfo("longest event-loop stall while the keychain worked: %lld ms", m_longestStallMs);
        QVERIFY(m_longestStallMs < MaxStallMs);
    }

    void savedInTheKeychainNotTheFile()
    {
        Profile profile;
        profile.source = SourceKind::OData;
        profile.endpoint = QUrl(QStringLiteral("https://erp.example/odata/v4/shop/"));
        profile.user = QStringLiteral("alice");
        profile.password = Password;
        SecretStore store(settingsFile(), service());
        QSignalSpy saved(&store, &SecretStore::saved);
        const StallMeter stalls;
        store.save(profile);
        QVERIFY(saved.wait(KeychainTimeoutMs));
        QVERIFY2(stalls.longestMs() < MaxStallMs, qPrintable(QString::number(stalls.longestMs())));

        // Whatever the keychain: the file has the rest, and never the password.
        QVERIFY(fileText(settingsFile()).contains("alice"));
        QVERIFY(!fileText(settingsFile()).contains(Password.toUtf8()));
        if (m_available) {
            QVERIFY2(store.problem().isEmpty(), qPrintable(store.problem()));
            QCOMPARE(store.availability(), SecretStore::Availability::Available);
            QCOMPARE(keychainValue(Profile::passwordSettingsKey()), Password);
        } else {
            QCOMPARE(store.availability(), SecretStore::Availability::Unavailable);
            QVERIFY2(store.problem().contains(QStringLiteral("OS keychain cannot be used"))
                         && store.problem().contains(QStringLiteral("this session only")),
                     qPrintable(store.problem()));
            QVERIFY(!store.problem().contains(Password));
        }

        // A new start finds it there (and only there); so does a headless run, which asks
        // the keychain because the file says it keeps one.
        SecretStore next(settingsFile(), service());
        const auto [token, password] = load(next);
        QVERIFY(token.isEmpty());
        QCOMPARE(password, m_available ? Password : QString());
        QCOMPARE(next.keepsSecrets(), m_available);
        QCOMPARE(load(next, false), std::pair(QString(), m_available ? Password : QString()));

        // An empty secret deletes the kept one.
        profile.password.clear();
        store.save(profile);
        QVERIFY(saved.wait(KeychainTimeoutMs));
        QVERIFY(keychainValue(Profile::passwordSettingsKey()).isEmpty());
        QCOMPARE(load(next), std::pair(QString(), QString()));
        QVERIFY(!next.keepsSecrets());
    }

    void plainTextSecretsMoveToTheKeychain()
    {
        // As an earlier version saved them.
        writeFile(settingsFile(),
                  "[connection]\nendpoint=http://127.0.0.1:8080/api/v1\ntoken=" + OldToken.toUtf8()
                      + "\nuser=\npassword=\nbatchSize=400\n");
        // A headless run reads them as they are, and leaves the file alone.
        const QByteArray before = fileText(settingsFile());
        SecretStore readOnly(settingsFile(), service());
        QCOMPARE(load(readOnly, false), std::pair(OldToken, QString()));
        QCOMPARE(fileText(settingsFile()), before);

        SecretStore store(settingsFile(), service());
        QCOMPARE(load(store), std::pair(OldToken, QString()));
        const QSettings settings(settingsFile(), QSettings::IniFormat);
        QCOMPARE(settings.value(QStringLiteral("connection/batchSize")).toInt(), 400);
        if (m_available) {
            // Moved: in the keychain, out of the file.
            QVERIFY2(!fileText(settingsFile()).contains(OldToken.toUtf8()),
                     fileText(settingsFile()).constData());
            QVERIFY(!settings.contains(Profile::tokenSettingsKey()));
            QCOMPARE(keychainValue(Profile::tokenSettingsKey()), OldToken);
            SecretStore next(settingsFile(), service());
            QCOMPARE(load(next), std::pair(OldToken, QString()));
            QCOMPARE(load(next, false), std::pair(OldToken, QString()));
        } else {
            // Only once the keychain took it does it leave the file: here it stays, and the
            // problem says so.
            QVERIFY(fileText(settingsFile()).contains(OldToken.toUtf8()));
            QVERIFY2(store.problem().contains(QStringLiteral("stays there until the keychain")),
                     qPrintable(store.problem()));
            QVERIFY(!store.problem().contains(OldToken));
        }
    }

    void headlessRunReadsTheKeychain()
    {
        Test::TestServer server;
        QVERIFY(server.start(NewToken));
        server.addCustomers(50);
        // What the window saved, as batchsync finds it: its own settings file and service.
        const QString config = m_dir->filePath(QStringLiteral("config"));
        const QString file = config + QStringLiteral("/BatchSync/batchsync.conf");
        Profile profile;
        profile.endpoint = server.baseUrl();
        profile.token = NewToken;
        SecretStore store(file, QStringLiteral("batchsync"));
        QSignalSpy saved(&store, &SecretStore::saved);
        store.save(profile);
        QVERIFY(saved.wait(KeychainTimeoutMs));

        QProcess batchsync;
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.remove(QStringLiteral("BATCHSYNC_TOKEN"));
        environment.insert(QStringLiteral("XDG_CONFIG_HOME"), config);
        environment.insert(QStringLiteral("XDG_DATA_HOME"),
                           m_dir->filePath(QStringLiteral("data")));
        batchsync.setProcessEnvironment(environment);
        QSignalSpy finished(&batchsync, &QProcess::finished);
        batchsync.start(QStringLiteral(BATCHSYNC_BIN), { QStringLiteral("--headless") });
        QVERIFY(finished.wait(60000));
        const QByteArray output
            = batchsync.readAllStandardError() + batchsync.readAllStandardOutput();
        // Without a keychain nothing was kept: the server asks for the token.
        QVERIFY2(batchsync.exitCode() == (m_available ? 0 : 1), output.constData());
        if (!m_available)
            QVERIFY2(output.contains("requires a token: give it with --token-file F"),
                     output.constData());
        QVERIFY(!output.contains(NewToken.toUtf8()));
        QVERIFY(!fileText(file).contains(NewToken.toUtf8()));
        QCOMPARE(fileText(file).contains("tokenInKeychain=true"), m_available);
    }

    void windowMovesThePlainTokenAndUsesIt()
    {
        Test::TestServer server;
        QVERIFY(server.start(OldToken));
        server.addCustomers(50);
        {
            QSettings settings;
            settings.setValue(QStringLiteral("connection/endpoint"), server.baseUrl().toString());
            settings.setValue(Profile::tokenSettingsKey(), OldToken);
        }
        const QString file = QSettings().fileName();
        SecretStore store(QString(), service());
        DesktopOptions options;
        options.profile = Profile::load();
        options.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        options.rememberLayout = false;
        options.secrets = &store;
        {
            MainWindow window(options);
            // The server took the token: its entities are listed.
            QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames(),
                                      QStringList { QStringLiteral("customers") }, 20000);
            QCOMPARE(window.engine()->settings().token, OldToken);
            QCOMPARE(fileText(file).contains(OldToken.toUtf8()), !m_available);
            QCOMPARE(logContains(window, QStringLiteral("OS keychain cannot be used")),
                     !m_available);
        }
        if (!m_available)
            return;
        // The next start has no token in the file, and gets it from the keychain.
        options.profile = Profile::load();
        QVERIFY(options.profile.token.isEmpty());
        MainWindow window(options);
        // Neither a sync nor Settings before the keychain answered.
        QVERIFY(!window.engine());
        QVERIFY(!window.findChild<QAction *>(QStringLiteral("settingsAction"))->isEnabled());
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames(),
                                  QStringList { QStringLiteral("customers") }, 20000);
        QCOMPARE(window.engine()->settings().token, OldToken);
        QVERIFY(window.findChild<QAction *>(QStringLiteral("settingsAction"))->isEnabled());
    }

    void windowNeverShowsASecret()
    {
        // The server wants another token; the endpoint, given on the command line, has a
        // password in it.
        Test::TestServer server;
        QVERIFY(server.start(QStringLiteral("the-right-one")));
        server.addCustomers(50);
        QUrl endpoint = server.baseUrl();
        endpoint.setUserName(QStringLiteral("user"));
        endpoint.setPassword(Password);
        SecretStore store(QString(), service());
        DesktopOptions options;
        options.profile.endpoint = endpoint;
        options.profile.token = NewToken;
        options.secretsGiven = true;
        options.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        options.rememberLayout = false;
        options.secrets = &store;
        options.tuning.retryGiveUpMs = 200;
        MainWindow window(options);
        QTRY_VERIFY_WITH_TIMEOUT(logContains(window, QStringLiteral("refused the token")), 20000);
        window.syncAll();
        QCOMPARE(window.engine()->settings().token, NewToken); // the flag's, not the keychain's
        QVERIFY(window.windowTitle().contains(QStringLiteral("user@127.0.0.1")));
        const QStringList shown = window.logView()->messages()
            + QStringList { window.windowTitle(), window.progressPage()->message() };
        for (const QString &text : shown) {
            QVERIFY2(!text.contains(Password) && !text.contains(NewToken), qPrintable(text));
        }
    }

    void settingsDialogSavesToTheKeychain()
    {
        Test::TestServer server;
        QVERIFY(server.start(NewToken));
        server.addCustomers(50);
        SecretStore store(QString(), service());
        DesktopOptions options;
        options.profile.endpoint = server.baseUrl();
        options.databasePath = m_dir->filePath(QStringLiteral("local.sqlite"));
        options.rememberLayout = false;
        options.secrets = &store;
        MainWindow window(options);
        QTRY_VERIFY_WITH_TIMEOUT(window.engine(), KeychainTimeoutMs);

        // Plays the user: reads the dialog's note, types the token, accepts.
        QString note;
        QTimer driver;
        connect(&driver, &QTimer::timeout, &window, [&] {
            if (auto *dialog = qobject_cast<SettingsDialog *>(QApplication::activeModalWidget())) {
                note = dialog->secretsNote();
                dialog->findChild<QLineEdit *>(QStringLiteral("tokenEdit"))->setText(NewToken);
                dialog->accept();
            }
        });
        driver.start(20);
        window.openSettings();
        driver.stop();
        QVERIFY2(note.contains(m_available ? QStringLiteral("kept in the OS keychain, not in the "
                                                            "settings file")
                                           : QStringLiteral("OS keychain cannot be used")),
                 qPrintable(note));

        // The window uses it for this session either way.
        QTRY_COMPARE_WITH_TIMEOUT(window.progressPage()->entityNames(),
                                  QStringList { QStringLiteral("customers") }, 20000);
        QCOMPARE(window.engine()->settings().token, NewToken);
        QTRY_VERIFY_WITH_TIMEOUT(logContains(window,
                                             m_available
                                                 ? QStringLiteral("kept in the OS keychain")
                                                 : QStringLiteral("OS keychain cannot be used")),
                                 KeychainTimeoutMs);
        const QString file = QSettings().fileName();
        QVERIFY(fileText(file).contains(server.baseUrl().host().toUtf8()));
        QVERIFY2(!fileText(file).contains(NewToken.toUtf8()), fileText(file).constData());
        QCOMPARE(keychainValue(Profile::tokenSettingsKey()), m_available ? NewToken : QString());
    }
};

QTEST_MAIN(TestSecrets)
#include "tst_secrets.moc"
