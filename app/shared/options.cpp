#include "options.h"

#include <QCommandLineOption>
#include <QCommandLineParser>

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

} // namespace BatchSync::App
