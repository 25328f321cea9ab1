#include "identifier.h"

namespace BatchSync::Identifier {

namespace {

bool isAsciiLetter(QChar c)
{
    return (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z');
}

bool isAsciiDigit(QChar c)
{
    return c >= u'0' && c <= u'9';
}

} // namespace

bool matchesRule(QStringView name)
{
    if (name.isEmpty() || name.size() > 64)
        return false;
    if (!isAsciiLetter(name.front()) && name.front() != u'_')
        return false;
    for (QChar c : name) {
        if (!isAsciiLetter(c) && !isAsciiDigit(c) && c != u'_')
            return false;
    }
    return true;
}

bool isReserved(QStringView name)
{
    return name.compare(u"id", Qt::CaseInsensitive) == 0 || name.startsWith(u'_')
        || name.startsWith(u"sqlite_", Qt::CaseInsensitive);
}

QString check(QStringView name, QStringView what)
{
    if (name.isEmpty())
        return QStringLiteral("%1 name is empty").arg(what);
    if (!matchesRule(name)) {
        return QStringLiteral("%1 name \"%2\" is not a valid identifier "
                              "(letters, digits and '_', at most 64, not starting with a digit)")
            .arg(what, printable(name));
    }
    if (isReserved(name))
        return QStringLiteral("%1 name \"%2\" is reserved").arg(what, printable(name));
    return QString();
}

QString printable(QStringView name)
{
    constexpr qsizetype maxShown = 80;
    QString out;
    out.reserve(qMin(name.size(), maxShown) + 8);
    for (qsizetype i = 0; i < name.size() && i < maxShown; ++i) {
        const QChar c = name.at(i);
        if (c.isPrint() && c != u'"' && c != u'\\')
            out += c;
        else
            out += QStringLiteral("\\u%1").arg(c.unicode(), 4, 16, QLatin1Char('0'));
    }
    if (name.size() > maxShown)
        out += QStringLiteral("…");
    return out;
}

QString quoted(QStringView name)
{
    QString out;
    out.reserve(name.size() + 2);
    out += u'"';
    for (QChar c : name) {
        if (c == u'"')
            out += u'"';
        out += c;
    }
    out += u'"';
    return out;
}

} // namespace BatchSync::Identifier
