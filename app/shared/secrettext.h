#pragma once

#include <QString>

QT_BEGIN_NAMESPACE
class QUrl;
QT_END_NAMESPACE

namespace BatchSync::App {

/*!
    \a url as a message, a log line or a title may show it: a password written into it
    ("http://user:secret@host/") is left out ("http://user@host/"). Works on text that is not
    a valid URL too, as a user may type it. Any thread.
*/
QString printableUrl(const QString &url);
QString printableUrl(const QUrl &url);

} // namespace BatchSync::App
