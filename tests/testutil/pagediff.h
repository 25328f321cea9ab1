#pragma once

#include "common/types.h"

#include <QString>
#include <QStringEncoder>
#include <QVariant>
#include <cstring>

/*!
    \file pagediff.h
    Comparing two parsed pages exactly, for the parser's parity and fuzz tests.
*/

namespace BatchSync::Test {

inline QString variantDifference(const QVariant &a, const QVariant &b)
{
    if (a.isValid() != b.isValid() || a.typeId() != b.typeId()) {
        return QStringLiteral("%1 vs %2")
            .arg(QString::fromLatin1(a.typeName()), QString::fromLatin1(b.typeName()));
    }
    if (a.typeId() == QMetaType::Double) {
        // Bit for bit: -0.0 is not 0.0 here.
        const double x = a.toDouble();
        const double y = b.toDouble();
        return std::memcmp(&x, &y, sizeof x) == 0
            ? QString()
            : QStringLiteral("%1 vs %2").arg(x, 0, 'g', 17).arg(y, 0, 'g', 17);
    }
    if (a.typeId() == QMetaType::QString && a.toString().isNull() != b.toString().isNull())
        return QStringLiteral("null string vs empty string");
    return a == b ? QString() : QStringLiteral("%1 vs %2").arg(a.toString(), b.toString());
}

inline QString stringDifference(const QString &a, const QString &b)
{
    if (a != b)
        return QStringLiteral("\"%1\" vs \"%2\"").arg(a, b);
    return a.isNull() == b.isNull() ? QString() : QStringLiteral("null vs empty");
}

/*! Empty when \a a and \a b are the same page (QVariant types, bits of doubles included). */
inline QString pageDifference(const ChangePage &a, const ChangePage &b)
{
    if (const QString d = stringDifference(a.cursor, b.cursor); !d.isEmpty())
        return QStringLiteral("cursor: ") + d;
    if (a.hasMore != b.hasMore)
        return QStringLiteral("hasMore");
    if (a.changes.size() != b.changes.size())
        return QStringLiteral("%1 vs %2 changes").arg(a.changes.size()).arg(b.changes.size());
    for (qsizetype i = 0; i < a.changes.size(); ++i) {
        const Change &x = a.changes.at(i);
        const Change &y = b.changes.at(i);
        QString d = stringDifference(x.id, y.id);
        if (d.isEmpty())
            d = stringDifference(x.changedAt, y.changedAt);
        if (d.isEmpty())
            d = stringDifference(x.version, y.version);
        if (d.isEmpty() && x.deleted != y.deleted)
            d = QStringLiteral("deleted");
        if (d.isEmpty() && x.values.size() != y.values.size())
            d = QStringLiteral("%1 vs %2 values").arg(x.values.size()).arg(y.values.size());
        for (qsizetype v = 0; d.isEmpty() && v < x.values.size(); ++v) {
            d = variantDifference(x.values.at(v), y.values.at(v));
            if (!d.isEmpty())
                d = QStringLiteral("value %1: %2").arg(v).arg(d);
        }
        if (!d.isEmpty())
            return QStringLiteral("changes[%1]: %2").arg(i).arg(d);
    }
    return QString();
}

/*!
    \a page with its strings as the store writes them: through UTF-8, where a lone surrogate
    becomes U+FFFD. What a packed page's text must equal.
*/
inline ChangePage throughUtf8(ChangePage page)
{
    const auto roundTrip = [](QString *text) {
        if (text->isNull())
            return;
        QStringEncoder encoder(QStringEncoder::Utf8, QStringConverter::Flag::Stateless);
        *text = QString::fromUtf8(QByteArray(encoder(*text)));
    };
    for (Change &change : page.changes) {
        roundTrip(&change.id);
        roundTrip(&change.changedAt);
        roundTrip(&change.version);
        for (QVariant &value : change.values) {
            if (value.typeId() == QMetaType::QString)
                roundTrip(static_cast<QString *>(value.data()));
        }
    }
    return page;
}

/*! \a page with its packed changes, if any, as a list of changes. */
inline ChangePage unpacked(ChangePage page)
{
    if (!page.packed.isEmpty()) {
        page.changes = page.packed.toChanges();
        page.packed = PackedChanges();
    }
    return page;
}

} // namespace BatchSync::Test
