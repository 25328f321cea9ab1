// libFuzzer target for the protocol v1 response parser and validator. The first byte picks
// the limit and paging mode; the rest is the body, given to every parser. A crash, a
// sanitizer report, a broken invariant or a changes page read otherwise than by the tests'
// QJsonDocument oracle (abort) is a finding.
//
// Build with clang (see CMakeLists.txt here), then e.g.
//   ./fuzz_protocol -max_total_time=60 corpus/ seeds/

#include "common/decimal.h"
#include "common/identifier.h"
#include "common/timestamp.h"
#include "common/types.h"
#include "sources/protocol/protocolparser.h"
#include "testutil/pagediff.h"
#include "testutil/referenceparser.h"

#include <QByteArray>
#include <QSet>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace BatchSync;

namespace {

[[noreturn]] void broken(const char *what)
{
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

void check(bool ok, const char *what)
{
    if (!ok)
        broken(what);
}

const EntitySchema &schema()
{
    static const EntitySchema customers { QStringLiteral("customers"),
                                          { { QStringLiteral("name"), FieldType::String },
                                            { QStringLiteral("balance"), FieldType::Real },
                                            { QStringLiteral("active"), FieldType::Bool },
                                            { QStringLiteral("visits"), FieldType::Int },
                                            { QStringLiteral("since"), FieldType::DateTime } } };
    return customers;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int limits[] = { 1, 2, 3, 100, 10000, 0, -1, 20000 };
    const int limit = limits[data[0] & 7];
    const PagingMode mode = (data[0] & 8) ? PagingMode::Offset : PagingMode::Cursor;
    const QByteArray body(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));

    {
        QList<EntitySchema> entities;
        QString error;
        if (Protocol::parseEntities(body, &entities, &error)) {
            QSet<QString> names;
            for (const EntitySchema &entity : std::as_const(entities)) {
                check(Identifier::check(entity.name, u"entity").isEmpty(), "entity name");
                check(!names.contains(entity.name.toLower()), "duplicate entity");
                names.insert(entity.name.toLower());
                QSet<QString> fields;
                for (const FieldSpec &field : entity.fields) {
                    check(Identifier::check(field.name, u"field").isEmpty(), "field name");
                    check(!fields.contains(field.name.toLower()), "duplicate field");
                    fields.insert(field.name.toLower());
                }
            }
        } else {
            check(!error.isEmpty(), "entities: no message");
        }
    }
    {
        qint64 count = -1;
        QString error;
        if (Protocol::parseCount(body, &count, &error))
            check(count >= 0, "negative count");
        else
            check(!error.isEmpty() && count == -1, "count: no message or output written");
    }
    {
        ChangePage page;
        QString error;
        if (Protocol::parseChanges(body, schema(), limit, mode, &page, &error)) {
            check(page.changes.size() <= qBound(1, limit, Protocol::MaxLimit), "over limit");
            check(mode == PagingMode::Offset || !page.cursor.isEmpty(), "no cursor");
            for (const Change &change : std::as_const(page.changes)) {
                check(!change.id.isEmpty(), "empty id");
                check(Timestamp::isValid(change.changedAt), "changedAt");
                if (change.deleted) {
                    check(change.values.isEmpty(), "deletion with values");
                    continue;
                }
                check(change.values.size() == schema().fields.size(), "value count");
                for (int i = 0; i < schema().fields.size(); ++i) {
                    const QVariant &v = change.values.at(i);
                    if (v.isNull())
                        continue;
                    switch (schema().fields.at(i).type) {
                    case FieldType::String:
                        check(v.typeId() == QMetaType::QString, "string type");
                        break;
                    case FieldType::Int:
                        check(v.typeId() == QMetaType::LongLong, "int type");
                        break;
                    case FieldType::Real:
                        check(v.typeId() == QMetaType::Double && std::isfinite(v.toDouble()),
                              "real type");
                        break;
                    case FieldType::Bool:
                        check(v.typeId() == QMetaType::Bool, "bool type");
                        break;
                    case FieldType::DateTime:
                        check(v.typeId() == QMetaType::QString && Timestamp::isValid(v.toString()),
                              "datetime type");
                        break;
                    case FieldType::Decimal:
                        check(v.typeId() == QMetaType::QString && Decimal::isValid(v.toString()),
                              "decimal type");
                        break;
                    }
                }
            }
        } else {
            check(!error.isEmpty(), "changes: no message");
        }
        // The oracle, QJsonDocument's reading of the page, says the same.
        ChangePage expected;
        QString expectedError;
        const bool expectedOk
            = Test::parseChangesReference(body, schema(), limit, mode, &expected, &expectedError);
        check(expectedOk == error.isEmpty(), "changes: outcome differs from the oracle");
        check(expectedError == error, "changes: message differs from the oracle");
        check(!expectedOk || Test::pageDifference(page, expected).isEmpty(),
              "changes: page differs from the oracle");
    }
    {
        const QString message = Protocol::parseErrorMessage(body);
        check(message.size() <= 501, "error message length");
        for (const QChar c : message)
            check(c.isPrint(), "unprintable error message");
    }
    return 0;
}
