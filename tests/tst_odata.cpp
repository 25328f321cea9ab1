// The OData v4 source's reading of $metadata (CSDL): entity sets, keys, property types and
// the change-time property, mapped as docs/protocol.md ("The OData v4 mapping") fixes it.
#include "sources/odata/odatametadata.h"
#include "sources/odata/odatapage.h"
#include "sources/odata/odataquery.h"

#include <QFile>
#include <QTest>
#include <cmath>
#include <limits>

using namespace BatchSync;
using namespace BatchSync::OData;

Q_DECLARE_METATYPE(BatchSync::OData::RunCursor)

namespace {

// tests/data/bookshop-metadata.xml is shaped like what SAP CAP serves for a bookshop (managed
// aspects, an association, an enum, a composition, an alias, a derived type), with the cases a
// client must refuse in it.
QByteArray bookshop()
{
    QFile file(QStringLiteral(BATCHSYNC_TEST_DATA "/bookshop-metadata.xml"));
    if (!file.open(QIODevice::ReadOnly))
        qFatal("cannot read %s", qPrintable(file.fileName()));
    return file.readAll();
}

const EntitySet *setNamed(const Metadata &metadata, const QString &name)
{
    for (const EntitySet &set : metadata.sets) {
        if (set.name == name)
            return &set;
    }
    return nullptr;
}

QStringList names(const QList<Property> &properties)
{
    QStringList list;
    for (const Property &property : properties)
        list.append(property.name);
    return list;
}

bool leftOutMentions(const QStringList &leftOut, const QString &start)
{
    for (const QString &line : leftOut) {
        if (line.startsWith(start))
            return true;
    }
    return false;
}

} // namespace

class TestOData final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void setsKeysAndColumns()
    {
        Metadata metadata;
        QString error;
        QVERIFY2(parseMetadata(bookshop(), &metadata, &error), qPrintable(error));
        QStringList sets;
        for (const EntitySet &set : std::as_const(metadata.sets))
            sets.append(set.name);
        QCOMPARE(sets, QStringList({ "Books", "Authors", "OrderItems", "Countries", "Ebooks" }));

        const EntitySet *books = setNamed(metadata, QStringLiteral("Books"));
        QVERIFY(books);
        QCOMPARE(books->entityType, QStringLiteral("CatalogService.Books"));
        QCOMPARE(names(books->keys), QStringList({ "ID" }));
        // ID is the id column; navigation, collection, complex, stream, binary, '_' and a
        // name that differs only by case are left out, each with a reason.
        QCOMPARE(names(books->columns),
                 QStringList({ "createdAt", "modifiedAt", "title", "stock", "price", "rating",
                               "available", "published", "opens", "isbn", "genre", "author_ID" }));
        QCOMPARE(books->changeTime, QStringLiteral("modifiedAt"));
        for (const char *name : { "tags: a collection", "address: a complex property",
                                  "cover: a stream", "scan: type Edm.Binary",
                                  "_secret:", "Title: another property", "author: a navigation" }) {
            QVERIFY2(leftOutMentions(books->leftOut, QString::fromLatin1(name)),
                     qPrintable(books->leftOut.join(u'\n') + QStringLiteral("\nmissing: ") + name));
        }
        QCOMPARE(books->leftOut.size(), 7);
    }

    void edmTypesMapToTheLocalTypes_data()
    {
        QTest::addColumn<QString>("property");
        QTest::addColumn<int>("kind");
        QTest::addColumn<FieldType>("field");
        QTest::newRow("Int64, exact") << "stock" << int(EdmKind::Integer) << FieldType::Int;
        QTest::newRow("Decimal, exact") << "price" << int(EdmKind::Decimal) << FieldType::Decimal;
        QTest::newRow("Double") << "rating" << int(EdmKind::Double) << FieldType::Real;
        QTest::newRow("Boolean") << "available" << int(EdmKind::Boolean) << FieldType::Bool;
        QTest::newRow("DateTimeOffset")
            << "modifiedAt" << int(EdmKind::DateTimeOffset) << FieldType::DateTime;
        QTest::newRow("Date, text") << "published" << int(EdmKind::Date) << FieldType::String;
        QTest::newRow("TimeOfDay, text") << "opens" << int(EdmKind::TimeOfDay) << FieldType::String;
        QTest::newRow("type definition of a String")
            << "isbn" << int(EdmKind::String) << FieldType::String;
        QTest::newRow("enum, the member name")
            << "genre" << int(EdmKind::Enum) << FieldType::String;
        QTest::newRow("Guid, text") << "author_ID" << int(EdmKind::Guid) << FieldType::String;
    }

    void edmTypesMapToTheLocalTypes()
    {
        QFETCH(QString, property);
        QFETCH(int, kind);
        QFETCH(FieldType, field);
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        const EntitySet *books = setNamed(metadata, QStringLiteral("Books"));
        QVERIFY(books);
        const EntitySchema schema = books->schema();
        QCOMPARE(schema.name, QStringLiteral("Books"));
        const int index = schema.fieldIndex(property);
        QVERIFY2(index >= 0, qPrintable(property));
        QCOMPARE(schema.fields.at(index).type, field);
        QCOMPARE(int(books->columns.at(index).kind), kind);
    }

    void compositeKeysAliasesAndBaseTypes()
    {
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        const EntitySet *items = setNamed(metadata, QStringLiteral("OrderItems"));
        QVERIFY(items);
        QCOMPARE(names(items->keys), QStringList({ "order", "position" }));
        QCOMPARE(names(items->columns),
                 QStringList({ "order", "position", "quantity", "LastModifiedDateTime" }));
        // A change-time name of the wrong type does not count: reloaded whole each sync.
        QVERIFY(items->changeTime.isEmpty());

        const EntitySet *authors = setNamed(metadata, QStringLiteral("Authors")); // via the alias
        QVERIFY(authors);
        QCOMPARE(authors->entityType, QStringLiteral("CatalogService.Authors"));
        QCOMPARE(authors->changeTime, QStringLiteral("changedDate"));
        QCOMPARE(authors->keys.first().kind, EdmKind::Guid);

        const EntitySet *ebooks = setNamed(metadata, QStringLiteral("Ebooks"));
        QVERIFY(ebooks);
        QCOMPARE(names(ebooks->keys), QStringList({ "mediaId" })); // from the base type
        QCOMPARE(names(ebooks->columns), QStringList({ "mediaId", "ModifiedOn", "format" }));
        QCOMPARE(ebooks->changeTime, QStringLiteral("ModifiedOn"));

        QVERIFY(setNamed(metadata, QStringLiteral("Countries"))->changeTime.isEmpty());
    }

    void setsThatCannotMapAreLeftOutWithWhy()
    {
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        const QString all = metadata.leftOut.join(u'\n');
        QCOMPARE(metadata.leftOut.size(), 4);
        QVERIFY2(
            leftOutMentions(metadata.leftOut, QStringLiteral("Logs: its entity type has no key")),
            qPrintable(all));
        QVERIFY2(leftOutMentions(metadata.leftOut, QStringLiteral("drop table x: ")),
                 qPrintable(all));
        QVERIFY2(leftOutMentions(metadata.leftOut,
                                 QStringLiteral("books: another entity set has the same name")),
                 qPrintable(all));
        QVERIFY2(leftOutMentions(metadata.leftOut, QStringLiteral("Ghosts: its entity type")),
                 qPrintable(all));
    }

    void aConfiguredChangeTimeWins()
    {
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error, QStringLiteral("createdAt")));
        QCOMPARE(setNamed(metadata, QStringLiteral("Books"))->changeTime,
                 QStringLiteral("createdAt"));
        // Sets without it are reloaded whole: no guess behind the user's back.
        QVERIFY(setNamed(metadata, QStringLiteral("Authors"))->changeTime.isEmpty());
    }

    void literals_data()
    {
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("expected");
        QTest::newRow("string") << int(EdmKind::String) << "Ada"
                                << "'Ada'";
        QTest::newRow("string with quotes") << int(EdmKind::String) << "O'Brien's"
                                            << "'O''Brien''s'";
        QTest::newRow("enum member") << int(EdmKind::Enum) << "Fiction"
                                     << "'Fiction'";
        QTest::newRow("Int64 past a double") << int(EdmKind::Integer) << "9007199254740993"
                                             << "9007199254740993";
        QTest::newRow("decimal, exact") << int(EdmKind::Decimal) << "-0.003"
                                        << "-0.003";
        QTest::newRow("guid, plain") << int(EdmKind::Guid) << "0d5f1c2a-7d3e-4b1a-9f00-1a2b3c4d5e6f"
                                     << "0d5f1c2a-7d3e-4b1a-9f00-1a2b3c4d5e6f";
        QTest::newRow("boolean") << int(EdmKind::Boolean) << "true"
                                 << "true";
        QTest::newRow("time") << int(EdmKind::DateTimeOffset) << "2026-12-01T08:00:00.000Z"
                              << "2026-12-01T08:00:00.000Z";
    }

    void literals()
    {
        QFETCH(int, kind);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        QCOMPARE(literal(Property { QStringLiteral("p"), QString(), EdmKind(kind) }, value),
                 expected);
    }

    void keysetPagesFollowTheChangeTimeAndTheKey()
    {
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error, QStringLiteral("modifiedAt")));
        EntitySet items = *setNamed(metadata, QStringLiteral("OrderItems"));
        items.changeTime = QStringLiteral("modifiedAt"); // as if the service had one
        const EntitySet books = *setNamed(metadata, QStringLiteral("Books"));

        // The first page: no filter, ordered by the change time, then the key.
        QList<std::pair<QString, QString>> query = pageQuery(books, KeysetPosition(), 500);
        QCOMPARE(query.size(), 4);
        QCOMPARE(query.at(0).first, QStringLiteral("$select"));
        QVERIFY(query.at(0).second.startsWith(QStringLiteral("ID,createdAt,modifiedAt,title")));
        QVERIFY(!query.at(0).second.contains(QStringLiteral("author,"))); // no navigation
        QCOMPARE(query.at(1),
                 std::make_pair(QStringLiteral("$orderby"), QStringLiteral("modifiedAt,ID")));
        QCOMPARE(query.at(2), std::make_pair(QStringLiteral("$top"), QStringLiteral("500")));
        QCOMPARE(query.at(3), std::make_pair(QStringLiteral("$count"), QStringLiteral("true")));

        // After a record: strictly after it in (time, key) order; never $skip.
        const KeysetPosition after { QStringLiteral("2026-12-01T08:00:00.000Z"),
                                     { QStringLiteral("42") } };
        query = pageQuery(books, after, 500);
        QCOMPARE(query.at(1).first, QStringLiteral("$filter"));
        QCOMPARE(query.at(1).second,
                 QStringLiteral("modifiedAt gt 2026-12-01T08:00:00.000Z or (modifiedAt eq "
                                "2026-12-01T08:00:00.000Z and (ID gt 42))"));
        for (const auto &[name, value] : std::as_const(query))
            QVERIFY(name != QLatin1String("$skip"));

        // A composite key compares as a tuple.
        const KeysetPosition item { QStringLiteral("2026-12-01T08:00:00.000Z"),
                                    { QStringLiteral("A'1"), QStringLiteral("7") } };
        QCOMPARE(keysetFilter(items, item),
                 QStringLiteral("modifiedAt gt 2026-12-01T08:00:00.000Z or (modifiedAt eq "
                                "2026-12-01T08:00:00.000Z and (order gt 'A''1' or (order eq "
                                "'A''1' and (position gt 7))))"));
        QCOMPARE(pageQuery(items, KeysetPosition(), 10).at(1).second,
                 QStringLiteral("modifiedAt,order,position"));
    }

    void anIncrementalSyncStartsASafetyWindowBack()
    {
        const KeysetPosition committed { QStringLiteral("2026-12-01T08:00:05.250Z"),
                                         { QStringLiteral("42") } };
        const KeysetPosition start = safetyWindowStart(committed, 10);
        QCOMPARE(start.changeTime, QStringLiteral("2026-12-01T07:59:55.250Z"));
        QVERIFY(start.key.isEmpty());
        QVERIFY(safetyWindowStart(KeysetPosition(), 10).isStart());
        // Without a key, the window's own millisecond is included: read again, applied again.
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        QCOMPARE(keysetFilter(*setNamed(metadata, QStringLiteral("Books")), start),
                 QStringLiteral("modifiedAt ge 2026-12-01T07:59:55.250Z"));
    }

    void positionsRoundTripAsCursors_data()
    {
        QTest::addColumn<RunCursor>("cursor");
        const KeysetPosition position { QStringLiteral("2026-12-01T08:00:00.1234567Z"),
                                        { QStringLiteral("A\"1"),
                                          QStringLiteral("9007199254740993") } };
        QTest::newRow("changes") << RunCursor {
            RunCursor::Phase::Changes, position, {}, true, false, {}
        };
        QTest::newRow("complete") << RunCursor {
            RunCursor::Phase::Changes, position, {}, false, true, {}
        };
        QTest::newRow("deletions") << RunCursor { RunCursor::Phase::Deletions,
                                                  position,
                                                  { QStringLiteral("Z"), QStringLiteral("-5") },
                                                  false,
                                                  false,
                                                  {} };
        QTest::newRow("reload, from the start")
            << RunCursor { RunCursor::Phase::Reload, {}, {}, false, false, {} };
        QTest::newRow("a delta link")
            << RunCursor { RunCursor::Phase::Changes,
                           {},
                           {},
                           false,
                           true,
                           QStringLiteral("http://h/odata/Books?$deltatoken=7&x=\"y\"") };
        QTest::newRow("a window's start, no key")
            << RunCursor { RunCursor::Phase::Changes,
                           { QStringLiteral("2026-12-01T07:59:50Z"), {} },
                           {},
                           false,
                           false,
                           {} };
    }

    void positionsRoundTripAsCursors()
    {
        QFETCH(RunCursor, cursor);
        const QString text = cursor.toString();
        QCOMPARE(RunCursor::parse(text, 2), std::optional<RunCursor>(cursor));
    }

    void foreignCursorsAreRefused_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<int>("keyCount");
        QTest::newRow("protocol v1's cursor") << "8812" << 1;
        QTest::newRow("another key's cursor")
            << "{\"phase\":\"changes\",\"at\":\"2026-12-01T08:00:00Z\",\"after\":[\"a\",\"b\"]}"
            << 1;
        QTest::newRow("not a time") << "{\"phase\":\"changes\",\"at\":\"yesterday\"}" << 1;
        QTest::newRow("a time not in UTC")
            << "{\"phase\":\"changes\",\"at\":\"2026-12-01T08:00:00+01:00\"}" << 1;
        QTest::newRow("a number for a key") << "{\"phase\":\"deletions\",\"key\":[1]}" << 1;
        QTest::newRow("an unknown phase") << "{\"phase\":\"later\"}" << 1;
        QTest::newRow("a key without a time") << "{\"phase\":\"changes\",\"after\":[\"a\"]}" << 1;
    }

    void foreignCursorsAreRefused()
    {
        QFETCH(QString, text);
        QFETCH(int, keyCount);
        QVERIFY(!RunCursor::parse(text, keyCount));
    }

    void anEmptyCursorIsAFirstRun()
    {
        const std::optional<RunCursor> cursor = RunCursor::parse(QString(), 1);
        QVERIFY(cursor);
        QVERIFY(cursor->fromStart);
        QVERIFY(cursor->position.isStart());
    }

    void timesAreNormalizedToUtc_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("canonical");
        QTest::addColumn<QString>("local");
        QTest::newRow("Z, milliseconds") << "2026-12-01T08:00:00.123Z"
                                         << "2026-12-01T08:00:00.123Z"
                                         << "2026-12-01T08:00:00.123Z";
        QTest::newRow("no fraction") << "2026-12-01T08:00:00Z"
                                     << "2026-12-01T08:00:00Z"
                                     << "2026-12-01T08:00:00.000Z";
        QTest::newRow("no seconds") << "2026-12-01T08:00Z"
                                    << "2026-12-01T08:00:00Z"
                                    << "2026-12-01T08:00:00.000Z";
        QTest::newRow("seven digits, truncated locally") << "2026-12-01T08:00:00.9999999Z"
                                                         << "2026-12-01T08:00:00.9999999Z"
                                                         << "2026-12-01T08:00:00.999Z";
        QTest::newRow("an offset, across midnight") << "2026-12-01T00:30:00.5+01:00"
                                                    << "2026-11-30T23:30:00.5Z"
                                                    << "2026-11-30T23:30:00.500Z";
        QTest::newRow("a negative offset") << "2026-12-31T23:00:00-02:30"
                                           << "2027-01-01T01:30:00Z"
                                           << "2027-01-01T01:30:00.000Z";
    }

    void timesAreNormalizedToUtc()
    {
        QFETCH(QString, text);
        QFETCH(QString, canonical);
        QFETCH(QString, local);
        QCOMPARE(canonicalTime(text), std::optional<QString>(canonical));
        QCOMPARE(localTime(canonical), local);
    }

    void badTimesAreRefused_data()
    {
        QTest::addColumn<QString>("text");
        for (const char *bad :
             { "", "2026-12-01", "2026-12-01T08:00:00", "2026-02-30T08:00:00Z",
               "2026-12-01T25:00:00Z", "2026-12-01T08:00:00.Z", "2026-12-01T08:00:00+1:00",
               "２０２６-12-01T08:00:00Z", "2026-12-01T08:00:00Z trailing" }) {
            QTest::newRow(bad) << QString::fromUtf8(bad);
        }
    }

    void badTimesAreRefused()
    {
        QFETCH(QString, text);
        QVERIFY(!canonicalTime(text));
    }

    void timesCompareAsInstants()
    {
        QVERIFY(compareTimes(QStringLiteral("2026-12-01T08:00:00Z"),
                             QStringLiteral("2026-12-01T08:00:00.000Z"))
                == 0);
        QVERIFY(compareTimes(QStringLiteral("2026-12-01T08:00:00.5Z"),
                             QStringLiteral("2026-12-01T08:00:00Z"))
                > 0);
        QVERIFY(compareTimes(QStringLiteral("2026-12-01T08:00:00.0000001Z"),
                             QStringLiteral("2026-12-01T08:00:00.001Z"))
                < 0);
    }

    void recordsMapExactly()
    {
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        const EntitySet *books = setNamed(metadata, QStringLiteral("Books"));
        QVERIFY(books);
        const EntitySchema schema = books->schema();
        QFile file(QStringLiteral(BATCHSYNC_TEST_DATA "/odata/books-page.json"));
        QVERIFY(file.open(QIODevice::ReadOnly));
        ResponsePage page;
        QVERIFY2(parseResponse(file.readAll(), *books, schema, RecordShape::Records, &page, &error),
                 qPrintable(error));
        QCOMPARE(page.count, 3);
        QCOMPARE(page.nextLink, QStringLiteral("Books?$skiptoken=3"));
        QCOMPARE(page.changes.size(), 3);
        const auto value = [&](int record, const char *field) {
            return page.changes.at(record).values.at(schema.fieldIndex(QString::fromLatin1(field)));
        };
        const Change &first = page.changes.at(0);
        QCOMPARE(first.id, QStringLiteral("1"));
        QCOMPARE(first.changedAt, QStringLiteral("2026-12-01T08:00:00.123Z"));
        QCOMPARE(page.times.at(0), QStringLiteral("2026-12-01T08:00:00.1234567Z"));
        QCOMPARE(page.keys.at(0), QStringList { QStringLiteral("1") });
        QCOMPARE(value(0, "stock"), QVariant(qint64(9007199254740993LL)));
        QCOMPARE(value(0, "price"), QVariant(QStringLiteral("12.50")));
        QCOMPARE(value(0, "rating"), QVariant(4.25));
        QCOMPARE(value(0, "available"), QVariant(true));
        QCOMPARE(value(0, "published"), QVariant(QStringLiteral("2026-02-28")));
        QCOMPARE(value(0, "createdAt"), QVariant(QStringLiteral("2026-12-01T08:00:00.000Z")));
        QCOMPARE(value(0, "author_ID"),
                 QVariant(QStringLiteral("0b6e0c3a-1f2d-4a5b-9c8d-7e6f5a4b3c2d")));
        QCOMPARE(value(0, "title"),
                 QVariant(QString::fromUtf8("Ünïcødé é 漢字 😀 עברית e\xcc\x81 \"q\" \\ \n end")));
        QCOMPARE(value(0, "genre"), QVariant(QStringLiteral("Fantasy")));
        // IEEE754Compatible strings, the smallest Int64, nulls.
        QCOMPARE(value(1, "stock"), QVariant(std::numeric_limits<qint64>::min()));
        QCOMPARE(value(1, "price"), QVariant(QStringLiteral("0.000000000000000001")));
        QVERIFY(std::isinf(value(1, "rating").toDouble()));
        QVERIFY(value(1, "title").isNull());
        QCOMPARE(value(1, "available"), QVariant(false));
        QCOMPARE(value(2, "stock"), QVariant(qint64(-9007199254740993LL)));
        // An exponent is written out, exactly: the local decimal type is plain notation.
        QCOMPARE(value(2, "price"), QVariant(QStringLiteral("-0.01")));
        // Absent properties are null.
        QVERIFY(value(2, "title").isNull());
        QVERIFY(value(2, "available").isNull());
    }

    void compositeKeysBecomeJsonArrays()
    {
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        const EntitySet *items = setNamed(metadata, QStringLiteral("OrderItems"));
        QVERIFY(items);
        ResponsePage page;
        const QByteArray body = "{\"value\":[{\"order\":\"A\\\"1\",\"position\":2,\"quantity\":7},"
                                "{\"order\":\"日本\",\"position\":\"-3\"}]}";
        QVERIFY2(parseResponse(body, *items, items->schema(), RecordShape::Records, &page, &error),
                 qPrintable(error));
        QCOMPARE(page.changes.at(0).id, QStringLiteral("[\"A\\\"1\",2]"));
        QCOMPARE(page.changes.at(1).id, QString::fromUtf8("[\"日本\",-3]"));
        QCOMPARE(page.keys.at(1), QStringList({ QString::fromUtf8("日本"), "-3" }));
    }

    void badRecordsAreRefusedInWords_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not JSON") << QByteArray("<html>") << "not valid JSON";
        QTest::newRow("no value") << QByteArray("{\"error\":1}") << "no \"value\" array";
        QTest::newRow("no key") << QByteArray(
            "{\"value\":[{\"modifiedAt\":\"2026-12-01T08:00:00Z\"}]}")
                                << "record 1 lacks its key property \"ID\"";
        QTest::newRow("no change time") << QByteArray("{\"value\":[{\"ID\":5,\"title\":\"x\"}]}")
                                        << "record 1 (id 5) lacks its change time \"modifiedAt\"";
        QTest::newRow("an Int64 beyond 64 bits")
            << QByteArray("{\"value\":[{\"ID\":5,\"modifiedAt\":\"2026-12-01T08:00:00Z\",\"stock\":"
                          "9223372036854775808}]}")
            << "\"stock\" is a number, not a value of type Edm.Int64";
        QTest::newRow("a fraction for an Int64")
            << QByteArray(
                   "{\"value\":[{\"ID\":5,\"modifiedAt\":\"2026-12-01T08:00:00Z\",\"stock\":1.5}]}")
            << "\"stock\" is a number, not a value of type Edm.Int64";
        QTest::newRow("a word for a Decimal")
            << QByteArray("{\"value\":[{\"ID\":5,\"modifiedAt\":\"2026-12-01T08:00:00Z\",\"price\":"
                          "\"cheap\"}]}")
            << "\"price\" is a string, not a value of type Edm.Decimal";
        QTest::newRow("a Decimal with a leading zero")
            << QByteArray("{\"value\":[{\"ID\":5,\"modifiedAt\":\"2026-12-01T08:00:00Z\",\"price\":"
                          "\"012.5\"}]}")
            << "\"price\" is a string, not a value of type Edm.Decimal";
        QTest::newRow("a Decimal of 39 digits")
            << QByteArray("{\"value\":[{\"ID\":5,\"modifiedAt\":\"2026-12-01T08:00:00Z\",\"price\":"
                          "\"123456789012345678901234567890123456789\"}]}")
            << "\"price\" is 123456789012345678901234567890123456789, which has more than 38 "
               "significant digits";
        QTest::newRow("a Decimal whose exponent makes 39 digits")
            << QByteArray("{\"value\":[{\"ID\":5,\"modifiedAt\":\"2026-12-01T08:00:00Z\",\"price\":"
                          "1.5e38}]}")
            << "\"price\" is 1.5e38, which has more than 38 significant digits";
        QTest::newRow("a bool for a Decimal")
            << QByteArray("{\"value\":[{\"ID\":5,\"modifiedAt\":\"2026-12-01T08:00:00Z\",\"price\":"
                          "true}]}")
            << "\"price\" is a bool, not a value of type Edm.Decimal";
        QTest::newRow("a bad time")
            << QByteArray("{\"value\":[{\"ID\":5,\"modifiedAt\":\"yesterday\"}]}")
            << "\"modifiedAt\" is a string, not a value of type Edm.DateTimeOffset";
        QTest::newRow("a record that is not an object")
            << QByteArray("{\"value\":[5]}") << "record 1 is not a JSON object";
    }

    void badRecordsAreRefusedInWords()
    {
        QFETCH(QByteArray, body);
        QFETCH(QString, expected);
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        const EntitySet *books = setNamed(metadata, QStringLiteral("Books"));
        ResponsePage page;
        QVERIFY(!parseResponse(body, *books, books->schema(), RecordShape::Records, &page, &error));
        QVERIFY2(error.contains(expected), qPrintable(error));
    }

    void entityIdsNameTheirKeys_data()
    {
        QTest::addColumn<QString>("set");
        QTest::addColumn<QString>("entityId");
        QTest::addColumn<QStringList>("key");
        QTest::newRow("bare") << "Books"
                              << "Books(5)" << QStringList { "5" };
        QTest::newRow("named, in a URL")
            << "Books"
            << "http://host/odata/Books(ID=-7)" << QStringList { "-7" };
        QTest::newRow("a Guid, lowercased")
            << "Authors"
            << "Authors(0B6E0C3A-1F2D-4A5B-9C8D-7E6F5A4B3C2D)"
            << QStringList { "0b6e0c3a-1f2d-4a5b-9c8d-7e6f5a4b3c2d" };
        QTest::newRow("composite, quotes and commas")
            << "OrderItems"
            << "OrderItems(position=2,order='O''K, %28A%29')" << QStringList { "O'K, (A)", "2" };
        QTest::newRow("another set") << "Books"
                                     << "Authors(5)" << QStringList();
        QTest::newRow("a composite key's part missing") << "OrderItems"
                                                        << "OrderItems(order='A')" << QStringList();
        QTest::newRow("not a number") << "Books"
                                      << "Books(five)" << QStringList();
        QTest::newRow("unterminated") << "OrderItems"
                                      << "OrderItems(order='A,position=2)" << QStringList();
    }

    void entityIdsNameTheirKeys()
    {
        QFETCH(QString, set);
        QFETCH(QString, entityId);
        QFETCH(QStringList, key);
        Metadata metadata;
        QString error;
        QVERIFY(parseMetadata(bookshop(), &metadata, &error));
        const std::optional<QStringList> found
            = keyFromEntityId(*setNamed(metadata, set), entityId);
        if (key.isEmpty())
            QVERIFY(!found);
        else
            QCOMPARE(found, std::optional<QStringList>(key));
    }

    void errorBodiesBecomeMessages()
    {
        QCOMPARE(errorMessage("{\"error\":{\"code\":\"401\",\"message\":\"Unauthorized\"}}"),
                 QStringLiteral("Unauthorized (401)"));
        QCOMPARE(
            errorMessage(
                "{\"error\":{\"code\":\"E1\",\"message\":{\"lang\":\"en\",\"value\":\"No\"}}}"),
            QStringLiteral("No (E1)"));
        QCOMPARE(errorMessage("<html>"), QString());
    }

    void badDocumentsAreRefusedInWords_data()
    {
        QTest::addColumn<QByteArray>("xml");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty") << QByteArray() << "$metadata, line";
        QTest::newRow("JSON, not XML") << QByteArray("{\"value\": []}") << "$metadata, line 1";
        QTest::newRow("another XML document")
            << QByteArray("<html><body>Login</body></html>") << "not CSDL: its root is <html>";
        QTest::newRow("cut off") << bookshop().left(900) << "$metadata, line";
        QTest::newRow("mismatched tags")
            << QByteArray("<edmx:Edmx xmlns:edmx=\"x\"><a></b></edmx:Edmx>") << "line 1, column";
    }

    void badDocumentsAreRefusedInWords()
    {
        QFETCH(QByteArray, xml);
        QFETCH(QString, expected);
        Metadata metadata;
        metadata.leftOut.append(QStringLiteral("stale"));
        QString error;
        QVERIFY(!parseMetadata(xml, &metadata, &error));
        QVERIFY2(error.contains(expected), qPrintable(error));
        QVERIFY(metadata.sets.isEmpty() && metadata.leftOut.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestOData)
#include "tst_odata.moc"
