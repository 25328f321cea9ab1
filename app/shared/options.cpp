#include "options.h"

#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QFile>
#include <QFileInfo>

namespace BatchSync::App {

void addOptions(QCommandLineParser &parser, const QList<OptionSpec> &options)
{
    for (const OptionSpec &spec : options)
        parser.addOption(QCommandLineOption(spec.names, spec.description, spec.valueName));
}

std::optional<int> parseInteger(const QString &text, int minimum, int maximum)
{
    bool ok = false;
    const int value = text.trimmed().toInt(&ok, 10);
    if (!ok || value < minimum || value > maximum)
        return std::nullopt;
    return value;
}

std::optional<QString> commandLineToken(const QCommandLineParser &parser)
{
    if (parser.isSet(QStringLiteral("token")))
        return parser.value(QStringLiteral("token"));
    if (qEnvironmentVariableIsSet("BATCHSYNC_TOKEN"))
        return qEnvironmentVariable("BATCHSYNC_TOKEN");
    return std::nullopt;
}

namespace {

// The first line of a file holding \a what ("password", "token").
std::optional<QString> secretFromFile(const QString &path, const QString &what, QString *problem)
{
    QFile file(path);
    if (QFileInfo(path).isDir()) {
        *problem = QStringLiteral("the %1 file \"%2\" is a folder").arg(what, path);
        return std::nullopt;
    }
    if (!file.open(QIODevice::ReadOnly)) {
        *problem = QStringLiteral("cannot read the %1 file \"%2\": %3")
                       .arg(what, path, file.errorString());
        return std::nullopt;
    }
    constexpr qint64 maxLine = 64 * 1024;
    QByteArray line = file.readLine(maxLine);
    if (line.endsWith('\n'))
        line.chop(1);
    if (line.endsWith('\r'))
        line.chop(1);
    if (line.isEmpty()) {
        *problem = QStringLiteral("the %1 file \"%2\" is empty: its first line must be the %1")
                       .arg(what, path);
        return std::nullopt;
    }
    return QString::fromUtf8(line);
}

} // namespace

std::optional<QString> passwordFromFile(const QString &path, QString *problem)
{
    return secretFromFile(path, QStringLiteral("password"), problem);
}

std::optional<QString> tokenFromFile(const QString &path, QString *problem)
{
    return secretFromFile(path, QStringLiteral("token"), problem);
}

} // namespace BatchSync::App
