// No secret in any output: the real batchsync binary syncs with a distinctive token and
// password (given by file, environment and flag), against a server that requires the token,
// one that refuses it, one that is down, and endpoints with a password written into the URL;
// each run's standard output, standard error (with the library's whole debug log on, through
// QT_LOGGING_RULES: the log) and every file it leaves in its home are searched for the
// secrets' bytes, plain and in the encodings a header or a URL would carry them. Also the
// parts that keep them out: the profile never saving one, URLs shown without their
// password, the token file.

#include "server/syncserver.h"
#include "shared/options.h"
#include "shared/profile.h"
#include "shared/secrettext.h"
#include "testutil/testserver.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <csignal>
#include <memory>

using namespace BatchSync;
using namespace BatchSync::App;

namespace {

constexpr int RunTimeoutMs = 120000;

const QString Token = QStringLiteral("Zq7-leak-t0ken-5b1e");
const QString Password = QStringLiteral("Xv9-leak-passw0rd-2c4d");
const QString UrlPassword = QStringLiteral("Ur1-leak-secret-8f0a");

// A secret's forms: as it is, percent-encoded, and inside a Basic header.
QList<QByteArray> formsOf(const QString &secret)
{
    const QByteArray bytes = secret.toUtf8();
    return { bytes, QUrl::toPercentEncoding(secret), QByteArray("alice:" + bytes).toBase64(),
             QByteArray("user:" + bytes).toBase64() };
}

// A port nothing listens on: bound, then released.
quint16 deadPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

} // namespace

class TestSecretLeak final : public QObject
{
    Q_OBJECT

private:
    QString path(const QString &name) const { return m_home->filePath(name); }
    QString profilePath() const { return path(QStringLiteral("profile.conf")); }
    static QByteArray fileText(const QString &file)
    {
        QFile in(file);
        return in.open(QIODevice::ReadOnly) ? in.readAll() : QByteArray();
    }

    void writeFile(const QString &name, const QByteArray &text) const
    {
        QFile file(path(name));
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        QCOMPARE(file.write(text), qint64(text.size()));
    }

    // Runs batchsync with \a arguments ("@TOKEN_FILE@" and "@PASSWORD_FILE@" stand for the
    // files holding the secrets) and \a environment (NAME=value) in the temporary home;
    // \a whileRunning, when given, is called once it started.
    Run run(QStringList arguments, const QStringList &environment = {},
            const std::function<void(QProcess &)> &whileRunning = {})
    {
        arguments.replaceInStrings(QStringLiteral("@TOKEN_FILE@"), path(QStringLiteral("token")));
        arguments.replaceInStrings(QStringLiteral("@PASSWORD_FILE@"),
                                   path(QStringLiteral("password")));
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove(QStringLiteral("BATCHSYNC_TOKEN"));
        env.remove(QStringLiteral("BATCHSYNC_PASSWORD"));
        env.insert(QStringLiteral("HOME"), m_home->path());
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), path(QStringLiteral("config")));
        env.insert(QStringLiteral("XDG_DATA_HOME"), path(QStringLiteral("data")));
        // The library's every log line, on standard error.
        env.insert(QStringLiteral("QT_LOGGING_RULES"), QStringLiteral("batchsync.*=true"));
        for (const QString &pair : environment)
            env.insert(pair.section(QLatin1Char('='), 0, 0), pair.section(QLatin1Char('='), 1));

        QProcess process;
        process.setProcessEnvironment(env);
        QSignalSpy finished(&process, &QProcess::finished);
        process.start(QStringLiteral(BATCHSYNC_BIN), arguments);
        if (whileRunning)
            whileRunning(process);
        Run result;
        if (!finished.wait(RunTimeoutMs)) {
            process.kill();
            finished.wait(5000);
            qWarning() << "batchsync did not finish:" << arguments;
        } else {
            result.exitCode = process.exitCode();
        }
        result.out = process.readAllStandardOutput();
        result.err = process.readAllStandardError();
        m_runs.append(arguments.join(QLatin1Char(' ')));
        return result;
    }

    // Fails when a secret is in \a run's output.
    void verifyClean(const Run &result, const char *what)
    {
        for (const QString &secret : { Token, Password, UrlPassword }) {
            for (const QByteArray &form : formsOf(secret)) {
                const bool shown = result.out.contains(form) || result.err.contains(form);
                if (shown) {
                    qWarning().noquote() << "--- stdout ---\n"
                                         << result.out << "--- stderr ---\n"
                                         << result.err;
                }
                QVERIFY2(!shown,
                         qPrintable(QStringLiteral("%1: the output shows \"%2\"")
                                        .arg(QString::fromLatin1(what), QString::fromUtf8(form))));
            }
        }
    }

    std::unique_ptr<QTemporaryDir> m_home;
    QStringList m_runs;

private Q_SLOTS:
    void init()
    {
        m_home = std::make_unique<QTemporaryDir>();
        QVERIFY(m_home->isValid());
        m_runs.clear();
        writeFile(QStringLiteral("token"), Token.toUtf8() + '\n');
        writeFile(QStringLiteral("password"), Password.toUtf8() + '\n');
        // The window's settings, as they are now: no secret in them.
        QDir().mkpath(path(QStringLiteral("config/BatchSync")));
        writeFile(QStringLiteral("config/BatchSync/batchsync.conf"),
                  "[connection]\nbatchSize=100\n");
    }

    // After every test: no file the runs left (the settings, the databases) holds a secret.
    void cleanup()
    {
        QDirIterator files(m_home->path(), QDir::Files | QDir::Hidden,
                           QDirIterator::Subdirectories);
        int searched = 0;
        while (files.hasNext()) {
            const QString file = files.next();
            if (file == path(QStringLiteral("token")) || file == path(QStringLiteral("password")))
                continue;
            QFile in(file);
            QVERIFY(in.open(QIODevice::ReadOnly));
            const QByteArray content = in.readAll();
            ++searched;
            for (const QString &secret : { Token, Password, UrlPassword }) {
                for (const QByteArray &form : formsOf(secret))
                    QVERIFY2(!content.contains(form), qPrintable(file));
            }
        }
        QVERIFY(searched > 0); // at least the settings file
        m_home.reset();
    }

    void tokenNeverShown()
    {
        Test::TestServer server;
        QVERIFY(server.start(Token));
        server.addCustomers(3000);
        const QString api = server.baseUrl().toString();
        const QStringList sync { "--headless", "--endpoint", api, "--batch-size", "100" };

        // Accepted, in each output, by each way of giving it.
        for (const char *progress : { "plain", "json" }) {
            Run result = run(
                sync + QStringList { "--progress", progress, "--token-file", "@TOKEN_FILE@" });
            QCOMPARE(result.exitCode, 0);
            verifyClean(result, "token file");
            result = run(sync + QStringList { "--progress", progress },
                         { QStringLiteral("BATCHSYNC_TOKEN=") + Token });
            QCOMPARE(result.exitCode, 0);
            verifyClean(result, "token in the environment");
            result = run(sync + QStringList { "--progress", progress, "--token", Token });
            QCOMPARE(result.exitCode, 0);
            verifyClean(result, "token on the command line");
        }

        // Refused (401): the server wants another token now.
        server.server()->setToken(QStringLiteral("another-token"));
        Run result = run(sync + QStringList { "--token-file", "@TOKEN_FILE@" });
        QCOMPARE(result.exitCode, 1);
        QVERIFY2(result.err.contains("refused the token"), result.err.constData());
        verifyClean(result, "token refused");
        result = run(sync + QStringList { "--progress", "json", "--token", Token });
        QCOMPARE(result.exitCode, 1);
        QVERIFY(result.out.contains("\"auth\""));
        verifyClean(result, "token refused, json");

        // Interrupted mid-sync: the interruption's messages.
        server.server()->setToken(Token);
        server.server()->setPageDelay(50);
        result = run(sync + QStringList { "--token-file", "@TOKEN_FILE@", "--concurrency", "1" },
                     {}, [](QProcess &process) {
                         QTimer::singleShot(1500, &process, [&process] {
                             ::kill(pid_t(process.processId()), SIGTERM);
                         });
                     });
        QVERIFY2(result.exitCode == 143 || result.exitCode == 0, result.err.constData());
        verifyClean(result, "interrupted");

        // The saved state, read back.
        for (const char *progress : { "plain", "json" }) {
            result = run({ "--status", "--endpoint", api, "--token-file", "@TOKEN_FILE@",
                           "--progress", progress });
            QCOMPARE(result.exitCode, 0);
            verifyClean(result, "status");
        }
    }

    void serverDown()
    {
        const QString dead = QStringLiteral("http://127.0.0.1:%1/api/v1").arg(deadPort());
        const QStringList sync { "--headless", "--endpoint", dead, "--retry-give-up-ms", "300" };
        Run result = run(sync + QStringList { "--token-file", "@TOKEN_FILE@" });
        QCOMPARE(result.exitCode, 1);
        QVERIFY2(result.err.contains("connection refused"), result.err.constData());
        verifyClean(result, "server down");
        result = run(sync + QStringList { "--progress", "json" },
                     { QStringLiteral("BATCHSYNC_TOKEN=") + Token });
        QCOMPARE(result.exitCode, 1);
        verifyClean(result, "server down, json");

        // An OData service down, with Basic authentication.
        const QStringList odata { "--headless",
                                  "--source",
                                  "odata",
                                  "--endpoint",
                                  QStringLiteral("http://127.0.0.1:%1/odata/").arg(deadPort()),
                                  "--user",
                                  "alice",
                                  "--retry-give-up-ms",
                                  "300" };
        result = run(odata + QStringList { "--password-file", "@PASSWORD_FILE@" });
        QCOMPARE(result.exitCode, 1);
        verifyClean(result, "password file, service down");
        result = run(odata + QStringList { "--progress", "json" },
                     { QStringLiteral("BATCHSYNC_PASSWORD=") + Password });
        QCOMPARE(result.exitCode, 1);
        verifyClean(result, "password in the environment, service down");
    }

    void passwordInTheUrl()
    {
        Test::TestServer server;
        QVERIFY(server.start(Token));
        server.addCustomers(200);
        QUrl withPassword = server.baseUrl();
        withPassword.setUserName(QStringLiteral("user"));
        withPassword.setPassword(UrlPassword);
        QUrl dead = withPassword;
        dead.setPort(deadPort());
        for (const QUrl &url : { withPassword, dead }) {
            for (const char *progress : { "plain", "json" }) {
                const Run result
                    = run({ "--headless", "--endpoint", url.toString(), "--retry-give-up-ms", "300",
                            "--token-file", "@TOKEN_FILE@", "--progress", progress });
                QVERIFY2(result.exitCode == (url == dead ? 1 : 0), result.err.constData());
                QVERIFY2((result.err + result.out).contains("127.0.0.1"), result.err.constData());
                verifyClean(result, "password in the URL");
            }
        }
        // Not even a valid URL, or one without a host: the usage error hides it too.
        for (const QString &text : { QStringLiteral("http://user:%1@").arg(UrlPassword),
                                     QStringLiteral("http://user:%1@ho st/api").arg(UrlPassword),
                                     QStringLiteral("ftp://user:%1@host/api").arg(UrlPassword) }) {
            const Run result = run({ "--headless", "--endpoint", text });
            QCOMPARE(result.exitCode, 2);
            QVERIFY(!result.err.isEmpty());
            verifyClean(result, "usage error");
        }
    }

    void serverVerboseLog()
    {
        // The reference server, logging every request (--verbose), with the token required.
        QProcess server;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("BATCHSYNC_TOKEN"), Token);
        server.setProcessEnvironment(env);
        server.start(QStringLiteral(BATCHSYNC_SERVER_BIN),
                     { "--port", "0", "--demo-scale", "0.01", "--verbose", "--db",
                       path(QStringLiteral("server.sqlite")) });
        QTRY_VERIFY_WITH_TIMEOUT(server.canReadLine(), 60000);
        const QByteArray serving = server.readLine().trimmed();
        QVERIFY2(serving.startsWith("Serving protocol v1 at "), serving.constData());
        const QString api = QString::fromUtf8(serving.mid(serving.lastIndexOf(' ') + 1));

        Run result = run({ "--headless", "--endpoint", api, "--token-file", "@TOKEN_FILE@" });
        QCOMPARE(result.exitCode, 0);
        verifyClean(result, "synced from the server");
        result = run({ "--headless", "--endpoint", api, "--token", "not-the-token" });
        QCOMPARE(result.exitCode, 1);

        QSignalSpy finished(&server, &QProcess::finished);
        server.terminate();
        QVERIFY(finished.wait(20000));
        Run log;
        log.out = serving + server.readAllStandardOutput();
        log.err = server.readAllStandardError();
        QVERIFY2(log.err.contains("/changes"), log.err.constData()); // it did log the requests
        verifyClean(log, "the server's --verbose log");
    }

    void tokenFile()
    {
        writeFile(QStringLiteral("profile.conf"), "t0ken-from-a-file\n");
        QString problem;
        QCOMPARE(tokenFromFile(profilePath(), &problem), u"t0ken-from-a-file"_qs);
        QVERIFY(problem.isEmpty());
        writeFile(QStringLiteral("profile.conf"), "\n");
        QVERIFY(!tokenFromFile(profilePath(), &problem));
        QVERIFY2(problem.contains(QStringLiteral("the token file \"%1\" is empty: its first line "
                                                 "must be the token")
                                      .arg(profilePath())),
                 qPrintable(problem));
        QVERIFY(!tokenFromFile(path(QStringLiteral("absent")), &problem));
        QVERIFY2(problem.contains(QStringLiteral("cannot read the token file")),
                 qPrintable(problem));
    }

    void secretsStayOutOfTheFile()
    {
        // As an earlier version saved them: in plain text.
        writeFile(QStringLiteral("profile.conf"),
                  "[connection]\nendpoint=http://127.0.0.1:8080/api/v1\ntoken=old-t0ken\n"
                  "user=alice\npassword=old-passw0rd\n");
        Profile profile;
        {
            const QSettings settings(profilePath(), QSettings::IniFormat);
            profile = Profile::load(settings);
        }
        QCOMPARE(profile.token, u"old-t0ken"_qs);
        QCOMPARE(profile.password, u"old-passw0rd"_qs);
        // Saved unchanged, they stay until the keychain has them (SecretStore moves them).
        {
            QSettings settings(profilePath(), QSettings::IniFormat);
            profile.batchSize = 300;
            profile.save(settings);
        }
        QVERIFY(fileText(profilePath()).contains("old-t0ken"));
        QVERIFY(fileText(profilePath()).contains("old-passw0rd"));
        // Changed, neither the old nor the new one is written.
        {
            QSettings settings(profilePath(), QSettings::IniFormat);
            profile.token = QStringLiteral("new-t0ken");
            profile.password = QStringLiteral("new-passw0rd");
            profile.save(settings);
        }
        for (const char *secret : { "t0ken", "passw0rd" })
            QVERIFY2(!fileText(profilePath()).contains(secret),
                     fileText(profilePath()).constData());
        const QSettings settings(profilePath(), QSettings::IniFormat);
        QCOMPARE(Profile::load(settings).batchSize, 300);
    }

    void passwordInTheEndpoint()
    {
        Profile profile;
        profile.endpoint = QUrl(QStringLiteral("http://alice:s3cr3t@sync.example/api/v1"));
        const QString problem = profile.validate();
        QVERIFY2(problem.contains(QStringLiteral("holds a password")), qPrintable(problem));
        QVERIFY2(!problem.contains(QStringLiteral("s3cr3t")), qPrintable(problem));
        {
            QSettings settings(profilePath(), QSettings::IniFormat);
            profile.save(settings);
        }
        QVERIFY(!fileText(profilePath()).contains("s3cr3t"));
        QVERIFY(fileText(profilePath()).contains("alice@sync.example"));
        // Not a URL at all, and no host: the messages quote it without its password.
        for (const char *text : { "http://alice:s3cr3t@ho st/api", "http://alice:s3cr3t@" }) {
            profile.endpoint = QUrl(QString::fromLatin1(text), QUrl::StrictMode);
            const QString refusal = profile.validate();
            QVERIFY2(!refusal.isEmpty() && !refusal.contains(QStringLiteral("s3cr3t")),
                     qPrintable(refusal));
        }
    }

    void printableUrls_data()
    {
        QTest::addColumn<QString>("url");
        QTest::addColumn<QString>("expected");
        QTest::newRow("plain") << "https://sync.example/api/v1"
                               << "https://sync.example/api/v1";
        QTest::newRow("user only") << "http://alice@host/a"
                                   << "http://alice@host/a";
        QTest::newRow("password") << "http://alice:s3cr3t@host:8080/a"
                                  << "http://alice@host:8080/a";
        QTest::newRow("@ in it") << "http://alice:s3@cr3t@host/a"
                                 << "http://alice@host/a";
        QTest::newRow("/ in it") << "http://alice:s3/cr3t@host/a"
                                 << "http://alice@host/a";
        QTest::newRow("no user") << "http://:s3cr3t@host/a"
                                 << "http://@host/a";
        QTest::newRow("no host") << "http://alice:s3cr3t@"
                                 << "http://alice@";
        QTest::newRow("port, no user") << "http://host:8080/a"
                                       << "http://host:8080/a";
    }

    void printableUrls()
    {
        QFETCH(QString, url);
        QFETCH(QString, expected);
        QCOMPARE(printableUrl(url), expected);
        const QUrl parsed(url, QUrl::StrictMode);
        QVERIFY(!printableUrl(parsed).contains(QStringLiteral("s3")));
    }

    void fileProblemsDoNotQuoteTheFile()
    {
        // An unreadable or empty secret file is a clear usage error, never quoting a line.
        writeFile(QStringLiteral("empty"), "\n" + Token.toUtf8() + "\n");
        Run result = run({ "--headless", "--token-file", path(QStringLiteral("empty")) });
        QCOMPARE(result.exitCode, 2);
        QVERIFY2(result.err.contains("is empty: its first line must be the token"),
                 result.err.constData());
        verifyClean(result, "empty token file");
        result = run({ "--headless", "--token-file", path(QStringLiteral("absent")) });
        QCOMPARE(result.exitCode, 2);
        QVERIFY2(result.err.contains("cannot read the token file"), result.err.constData());
        result = run({ "--headless", "--token-file", "@TOKEN_FILE@", "--token", Token });
        QCOMPARE(result.exitCode, 2);
        verifyClean(result, "token twice");
        QFile::remove(path(QStringLiteral("empty")));
    }
};

QTEST_GUILESS_MAIN(TestSecretLeak)
#include "tst_secretleak.moc"
