// The OData v4 source's reading of $metadata (CSDL): entity sets, keys, property types and
// the change-time property, mapped as docs/protocol.md ("The OData v4 mapping") fixes it.
#include "sources/odata/odatametadata.h"
#include "sources/odata/odataquery.h"

#include <QFile>
#include <QTest>

using namespace BatchSync;
using namespace BatchSync::OData;

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
        QTest::newRow("Decimal, text") << "price" << int(EdmKind::Decimal) << FieldType::String;
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

    void positionsRoundTripAsCursors()
    {
        const KeysetPosition position { QStringLiteral("2026-12-01T08:00:00.000Z"),
                                        { QStringLiteral("A\"1"),
                                          QStringLiteral("9007199254740993") } };
        const QString cursor = position.toCursor();
        QCOMPARE(cursor,
                 QStringLiteral("[\"2026-12-01T08:00:00.000Z\",\"A\\\"1\",\"9007199254740993\"]"));
        QCOMPARE(KeysetPosition::fromCursor(cursor, 2), std::optional<KeysetPosition>(position));
        QVERIFY(KeysetPosition::fromCursor(QString(), 2)->isStart());
        QVERIFY(KeysetPosition::fromCursor(QStringLiteral("[\"2026-12-01T08:00:00.000Z\"]"), 2));
        QVERIFY(!KeysetPosition::fromCursor(cursor, 1)); // another key's cursor
        QVERIFY(!KeysetPosition::fromCursor(QStringLiteral("8812"), 1)); // protocol v1's
        QVERIFY(!KeysetPosition::fromCursor(QStringLiteral("[\"yesterday\",\"1\"]"), 1));
        QVERIFY(
            !KeysetPosition::fromCursor(QStringLiteral("[\"2026-12-01T08:00:00.000Z\",1]"), 1));
    }

    void badDocumentsAreRefusedInWords_data()
    {
        QTest::addColumn<QByteArray>("xml");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty") << QByteArray() << "$metadata, line";
        QTest::newRow("JSON, not XML") << QByteArray(R"({"value": []})") << "$metadata, line 1";
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
