#include "secrettext.h"

#include <QRegularExpression>
#include <QUrl>

namespace BatchSync::App {

QString printableUrl(const QString &url)
{
    // From the user name's ':' to the last '@': a password may hold '@' or '/' unencoded, as
    // typed, and then is no valid URL that QUrl would clean. Better a host too many hidden
    // than a password shown.
    static const QRegularExpression userInfo(
        QStringLiteral("^(\\s*[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*):.*@"),
        QRegularExpression::DotMatchesEverythingOption);
    QString text = url;
    text.replace(userInfo, QStringLiteral("\\1@"));
    return text;
}

QString printableUrl(const QUrl &url)
{
    return printableUrl(url.toString());
}

} // namespace BatchSync::App
