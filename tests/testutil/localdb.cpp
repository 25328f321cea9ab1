#include "localdb.h"

#include "common/identifier.h"

#include <QAtomicInt>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringList>

namespace BatchSync::Test {

namespace {

QVariant typed(const QVariant &value, FieldType type)
{
    if (value.isNull())
        return QVariant();
    switch (type) {
    case FieldType::Int:
        return QVariant(value.toLongLong());
    case FieldType::Real:
        return QVariant(value.toDouble());
    case FieldType::Bool:
        return QVariant(value.toLongLong() != 0);
    case FieldType::Decimal:
        return value; // as stored: text stays text, and a number would not compare equal
    case FieldType::String:
    case FieldType::DateTime:
        break;
    }
    return QVariant(value.toString());
}

} // namespace

QHash<QString, QVariantList> localRecords(const QString &path, const EntitySchema &schema)
{
    static QAtomicInt counter;
    const QString connection
        = QStringLiteral("testutil-localdb-%1").arg(counter.fetchAndAddRelaxed(1));
    QHash<QString, QVariantList> records;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(path);
        db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY"));
        if (!db.open()) {
            qWarning("cannot open %s: %s", qPrintable(path), qPrintable(db.lastError().text()));
        } else {
            QStringList columns { Identifier::quoted(u"id") };
            for (const FieldSpec &field : schema.fields)
                columns << Identifier::quoted(field.name);
            QSqlQuery query(db);
            if (!query.exec(QStringLiteral("SELECT %1 FROM %2")
                                .arg(columns.join(u','), Identifier::quoted(schema.name)))) {
                qWarning("%s", qPrintable(query.lastError().text()));
            }
            while (query.next()) {
                QVariantList values;
                values.reserve(schema.fields.size());
                for (int i = 0; i < schema.fields.size(); ++i)
                    values << typed(query.value(i + 1), schema.fields.at(i).type);
                records.insert(query.value(0).toString(), values);
            }
        }
    }
    QSqlDatabase::removeDatabase(connection);
    return records;
}

QString differences(const QString &path, const EntitySchema &schema,
                    const QHash<QString, QVariantList> &expected)
{
    constexpr int MaxListed = 5;
    const QHash<QString, QVariantList> actual = localRecords(path, schema);
    QStringList missing, changed, extra;
    for (auto it = expected.cbegin(); it != expected.cend(); ++it) {
        const auto found = actual.constFind(it.key());
        if (found == actual.cend())
            missing << it.key();
        else if (found.value() != it.value())
            changed << it.key();
    }
    for (auto it = actual.cbegin(); it != actual.cend(); ++it) {
        if (!expected.contains(it.key()))
            extra << it.key();
    }
    QStringList parts;
    const auto describe = [&parts](const char *what, QStringList ids) {
        if (ids.isEmpty())
            return;
        ids.sort();
        parts << QStringLiteral("%1 %2 (%3)")
                     .arg(ids.size())
                     .arg(QLatin1String(what), ids.mid(0, MaxListed).join(QStringLiteral(", ")));
    };
    describe("missing", missing);
    describe("changed", changed);
    describe("extra", extra);
    return parts.isEmpty()
        ? QString()
        : QStringLiteral("%1: %2").arg(schema.name, parts.join(QStringLiteral("; ")));
}

} // namespace BatchSync::Test
