#pragma once

// The oracle of tst_pushfuzz: what the protocol says of a push body and of each change, read
// with QJsonDocument, independently of the server's own parser.

#include "common/decimal.h"
#include "common/types.h"
#include "server/backend/values.h"
#include "server/push.h"

#include <QByteArray>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>
#include <string>

namespace BatchSync::Test {

/*
    \a body for QJsonDocument, which refuses a whole document for a number beyond a double's
    range (1e400, 1e-400) where the protocol rejects the change that has it: each such number
    becomes [[]], which no field, id, base, changeId or list of changes takes either. A
    string with a control character in it, which Qt takes and JSON does not, makes it
    empty.
*/
inline QByteArray qtReadable(const QByteArray &body)
{
    QByteArray out;
    const char *p = body.constData();
    const char *const end = p + body.size();
    while (p < end) {
        if (*p == '"') {
            const char *const start = p++;
            while (p < end && *p != '"') {
                if (uchar(*p) < 0x20)
                    return QByteArray();
                p += *p == '\\' ? 2 : 1;
            }
            p = std::min(p + 1, end);
            out.append(start, p - start);
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            const char *const start = p;
            while (p < end && *p != '\0' && std::strchr("0123456789+-.eE", *p))
                ++p;
            const std::string token(start, p);
            static const std::regex number("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?");
            const bool wellFormed = std::regex_match(token, number);
            const double value = std::strtod(token.c_str(), nullptr);
            const bool nonZero = token.find_first_of("123456789") < token.find_first_of("eE");
            if (wellFormed && (std::isinf(value) || (value == 0 && nonZero)))
                out.append("[[]]");
            else
                out.append(start, p - start);
        } else {
            out.append(*p++);
        }
    }
    return out;
}

/*
    Why the protocol makes \a body a 400, as QJsonDocument reads it, or an empty string. The
    server must agree both ways.
*/
inline QString shapeProblem(const QByteArray &body)
{
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(qtReadable(body), &error);
    if (error.error != QJsonParseError::NoError)
        return QStringLiteral("not JSON: ") + error.errorString();
    if (!document.isObject())
        return QStringLiteral("not an object");
    const QJsonObject root = document.object();
    if (!root.value("changes").isArray())
        return QStringLiteral("no changes array");
    const QJsonArray changes = root.value("changes").toArray();
    if (changes.size() > Push::MaxChanges)
        return QStringLiteral("too many changes");
    const auto wrong = [](const QJsonValue &value) {
        return !value.isString() || value.toString().isEmpty()
            || value.toString().size() > Push::MaxChangeIdLength
            || !ServerValues::isStorableText(value.toString());
    };
    if (!changes.isEmpty() || root.contains("client")) {
        if (wrong(root.value("client")))
            return QStringLiteral("a wrong client");
    }
    for (const QJsonValue &change : changes) {
        if (!change.isObject())
            return QStringLiteral("a change that is not an object");
        if (wrong(change.toObject().value("changeId")))
            return QStringLiteral("a wrong changeId");
    }
    return QString();
}

/*!
    Why \a change must be rejected, when QJsonDocument's reading shows it, or an empty string.
    The server may reject more: a number written with a fraction or an exponent for an int,
    which QJsonDocument does not tell apart, or text PostgreSQL cannot hold.
*/
inline QString invalidity(const QJsonObject &change, const EntitySchema &schema)
{
    const QJsonValue id = change.value("id");
    if (!id.isString() || id.toString().isEmpty() || id.toString().contains(QChar(0))
        || id.toString().toUtf8().size() > Push::MaxIdBytes
        || !ServerValues::isStorableText(id.toString()))
        return QStringLiteral("id");
    if (!change.value("base").isNull() && !change.value("base").isString())
        return QStringLiteral("base");
    if (!change.value("deleted").isBool())
        return QStringLiteral("deleted");
    if (change.value("deleted").toBool())
        return QString();
    if (!change.value("data").isObject())
        return QStringLiteral("data");
    const QJsonObject data = change.value("data").toObject();
    for (auto it = data.begin(); it != data.end(); ++it) {
        const auto field = std::find_if(schema.fields.cbegin(), schema.fields.cend(),
                                        [&](const FieldSpec &f) { return f.name == it.key(); });
        if (field == schema.fields.cend())
            return QStringLiteral("field %1 unknown").arg(it.key());
        const QJsonValue value = it.value();
        bool ok = value.isNull();
        switch (field->type) {
        case FieldType::Bool:
            ok = ok || value.isBool();
            break;
        case FieldType::Int:
            ok = ok || (value.isDouble() && value.toVariant().typeId() == QMetaType::LongLong);
            break;
        case FieldType::Real:
            ok = ok || value.isDouble();
            break;
        case FieldType::String:
            ok = ok || value.isString();
            break;
        case FieldType::DateTime:
            ok = ok || (value.isString() && ServerValues::isTimestamp(value.toString()));
            break;
        case FieldType::Decimal:
            ok = ok || (value.isString() && Decimal::isValid(value.toString()));
            break;
        }
        if (!ok)
            return QStringLiteral("field %1").arg(it.key());
    }
    return QString();
}

} // namespace BatchSync::Test
