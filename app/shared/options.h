#pragma once

#include <QList>
#include <QString>
#include <QStringList>
#include <limits>
#include <optional>

QT_BEGIN_NAMESPACE
class QCommandLineParser;
QT_END_NAMESPACE

namespace BatchSync::App {

/*! One command-line option, as a row of an executable's option table. */
struct OptionSpec
{
    QStringList names; //!< e.g. {"h", "help"}; the code asks the parser by the last one
    QString valueName; //!< empty: a flag without a value
    QString description;
};

/*! Adds each of \a options to \a parser. */
void addOptions(QCommandLineParser &parser, const QList<OptionSpec> &options);

/*!
    A command-line value as a whole number from \a minimum to \a maximum (spaces around it
    allowed), or nothing when it is not one.
*/
std::optional<int> parseInteger(const QString &text, int minimum = std::numeric_limits<int>::min(),
                                int maximum = std::numeric_limits<int>::max());

/*!
    The bearer token of the command line: --token, else $BATCHSYNC_TOKEN (which, unlike a
    flag, other users cannot see in the process list); nothing when neither is set.
*/
std::optional<QString> commandLineToken(const QCommandLineParser &parser);

/*!
    The first line of the file at \a path, without its line end: a password kept out of the
    command line. Nothing, with \a problem set (never quoting the file), when the file cannot
    be read or that line is empty.
*/
std::optional<QString> passwordFromFile(const QString &path, QString *problem);
/*! passwordFromFile() for a bearer token: its messages say "the token file". */
std::optional<QString> tokenFromFile(const QString &path, QString *problem);

} // namespace BatchSync::App
