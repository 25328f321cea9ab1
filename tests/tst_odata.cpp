// The OData v4 source's reading of $metadata (CSDL): entity sets, keys, property types and
// the change-time property, mapped as docs/protocol.md ("The OData v4 mapping") fixes it.
#include "sources/odata/odatametadata.h"

#include <QFile>
#include <QTest>

using namespace BatchSync;
using namespace BatchSync::OData;

namespace {

// tests/data/bookshop-metadata.xml is shaped like what SAP CAP serves for a bookshop (managed aspects, an association, an enum,
// a composition, an alias, a derived type), with the cases a client must refuse in it.
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
