#include "odatametadata.h"

#include "common/identifier.h"

#include <QHash>
#include <QSet>
#include <QXmlStreamReader>

namespace BatchSync::OData {

namespace {

struct DeclaredProperty
{
    QString name;
    QString type; // qualified, aliases resolved; "Collection(...)" kept as such
    bool navigation = false;
};

struct DeclaredType
{
    QString baseType; // qualified
    bool hasKey = false;
    QStringList keys;
    QString keyProblem; // a key this client cannot hold
    QList<DeclaredProperty> properties;
};

struct Document
{
    QHash<QString, DeclaredType> entityTypes; // by qualified name
    QSet<QString> enumTypes;
    QSet<QString> complexTypes;
    QHash<QString, QString> typeDefinitions; // qualified name -> underlying Edm type
    QList<std::pair<QString, QString>> sets; // name, entity type (as written)
    QHash<QString, QString> aliases; // alias -> namespace
};

const QHash<QString, EdmKind> &edmKinds()
{
    static const QHash<QString, EdmKind> kinds {
        { QStringLiteral("Edm.String"), EdmKind::String },
        { QStringLiteral("Edm.Guid"), EdmKind::Guid },
        { QStringLiteral("Edm.Boolean"), EdmKind::Boolean },
        { QStringLiteral("Edm.Byte"), EdmKind::Integer },
        { QStringLiteral("Edm.SByte"), EdmKind::Integer },
        { QStringLiteral("Edm.Int16"), EdmKind::Integer },
        { QStringLiteral("Edm.Int32"), EdmKind::Integer },
        { QStringLiteral("Edm.Int64"), EdmKind::Integer },
        { QStringLiteral("Edm.Double"), EdmKind::Double },
        { QStringLiteral("Edm.Single"), EdmKind::Double },
        { QStringLiteral("Edm.Decimal"), EdmKind::Decimal },
        { QStringLiteral("Edm.DateTimeOffset"), EdmKind::DateTimeOffset },
        { QStringLiteral("Edm.Date"), EdmKind::Date },
        { QStringLiteral("Edm.TimeOfDay"), EdmKind::TimeOfDay },
    };
    return kinds;
}

class Reader
{
public:
    explicit Reader(const QByteArray &xml)
        : m_xml(xml)
    {
    }

    bool read(Document *document, QString *error)
    {
        // The root alone: what follows it can only be comments and blank space.
        if (m_xml.readNextStartElement()) {
            if (m_xml.name() == QLatin1String("Edmx")) {
                readEdmx(document);
            } else {
                m_xml.raiseError(QStringLiteral("the document is not CSDL: its root is <%1>, "
                                                "not <edmx:Edmx>")
                                     .arg(m_xml.name().toString()));
            }
        }
        if (m_xml.hasError()) {
            *error = QStringLiteral("$metadata, line %1, column %2: %3")
                         .arg(m_xml.lineNumber())
                         .arg(m_xml.columnNumber())
                         .arg(m_xml.errorString());
            return false;
        }
        return true;
    }

private:
    QString attribute(QLatin1String name) const
    {
        return m_xml.attributes().value(name).toString();
    }

    void readEdmx(Document *document)
    {
        while (m_xml.readNextStartElement()) {
            if (m_xml.name() == QLatin1String("DataServices"))
                readDataServices(document);
            else
                m_xml.skipCurrentElement(); // edmx:Reference: vocabularies
        }
    }

    void readDataServices(Document *document)
    {
        while (m_xml.readNextStartElement()) {
            if (m_xml.name() == QLatin1String("Schema"))
                readSchema(document);
            else
                m_xml.skipCurrentElement();
        }
    }

    void readSchema(Document *document)
    {
        const QString ns = attribute(QLatin1String("Namespace"));
        const QString alias = attribute(QLatin1String("Alias"));
        if (!alias.isEmpty())
            document->aliases.insert(alias, ns);
        while (m_xml.readNextStartElement()) {
            const QString name = attribute(QLatin1String("Name"));
            const QString qualified = ns + u'.' + name;
            if (m_xml.name() == QLatin1String("EntityType")) {
                document->entityTypes.insert(qualified, readEntityType());
            } else if (m_xml.name() == QLatin1String("EnumType")) {
                document->enumTypes.insert(qualified);
                m_xml.skipCurrentElement();
            } else if (m_xml.name() == QLatin1String("ComplexType")) {
                document->complexTypes.insert(qualified);
                m_xml.skipCurrentElement();
            } else if (m_xml.name() == QLatin1String("TypeDefinition")) {
                document->typeDefinitions.insert(qualified,
                                                 attribute(QLatin1String("UnderlyingType")));
                m_xml.skipCurrentElement();
            } else if (m_xml.name() == QLatin1String("EntityContainer")) {
                readContainer(document);
            } else {
                m_xml.skipCurrentElement();
            }
        }
    }

    DeclaredType readEntityType()
    {
        DeclaredType type;
        type.baseType = attribute(QLatin1String("BaseType"));
        while (m_xml.readNextStartElement()) {
            if (m_xml.name() == QLatin1String("Key")) {
                type.hasKey = true;
                while (m_xml.readNextStartElement()) {
                    if (m_xml.name() == QLatin1String("PropertyRef")) {
                        const QString name = attribute(QLatin1String("Name"));
                        if (name.contains(u'/')) {
                            type.keyProblem = QStringLiteral("its key %1 is inside a complex "
                                                             "property")
                                                  .arg(Identifier::quoted(name));
                        }
                        type.keys.append(name);
                    }
                    m_xml.skipCurrentElement();
                }
            } else if (m_xml.name() == QLatin1String("Property")
                       || m_xml.name() == QLatin1String("NavigationProperty")) {
                type.properties.append({ attribute(QLatin1String("Name")),
                                         attribute(QLatin1String("Type")),
                                         m_xml.name() == QLatin1String("NavigationProperty") });
                m_xml.skipCurrentElement();
            } else {
                m_xml.skipCurrentElement();
            }
        }
        return type;
    }

    void readContainer(Document *document)
    {
        while (m_xml.readNextStartElement()) {
            if (m_xml.name() == QLatin1String("EntitySet")) {
                document->sets.append(
                    { attribute(QLatin1String("Name")), attribute(QLatin1String("EntityType")) });
            }
            m_xml.skipCurrentElement();
        }
    }

    QXmlStreamReader m_xml;
};

class Mapper
{
public:
    Mapper(const Document &document, const QMap<QString, QString> &changeTimes)
        : m_document(document)
        , m_changeTimes(changeTimes)
    {
    }

    /*! The set mapped, or why it cannot be. */
    std::optional<EntitySet> map(const QString &setName, const QString &typeName,
                                 QString *why) const
    {
        EntitySet set;
        set.name = setName;
        set.entityType = qualify(typeName);
        const QString nameProblem = Identifier::check(setName, u"entity set");
        if (!nameProblem.isEmpty()) {
            *why = nameProblem;
            return std::nullopt;
        }
        // The type and its base types, the root first.
        QList<const DeclaredType *> chain;
        QSet<QString> seen;
        for (QString name = set.entityType; !name.isEmpty();) {
            const auto found = m_document.entityTypes.constFind(name);
            if (found == m_document.entityTypes.cend() || seen.contains(name)) {
                *why = QStringLiteral("its entity type %1 is not declared")
                           .arg(Identifier::quoted(name));
                return std::nullopt;
            }
            seen.insert(name);
            chain.prepend(&found.value());
            name = found->baseType.isEmpty() ? QString() : qualify(found->baseType);
        }
        const DeclaredType *keyed = nullptr;
        for (const DeclaredType *type : std::as_const(chain)) {
            if (type->hasKey)
                keyed = type;
        }
        if (!keyed || keyed->keys.isEmpty()) {
            *why = QStringLiteral("its entity type has no key");
            return std::nullopt;
        }
        if (!keyed->keyProblem.isEmpty()) {
            *why = keyed->keyProblem;
            return std::nullopt;
        }

        QHash<QString, Property> primitives;
        QSet<QString> columnNames; // lowercase: SQLite's names ignore case
        for (const DeclaredType *type : std::as_const(chain)) {
            for (const DeclaredProperty &declared : type->properties) {
                QString reason;
                const std::optional<Property> property = primitive(declared, &reason);
                if (!property) {
                    set.leftOut.append(QStringLiteral("%1: %2").arg(declared.name, reason));
                    continue;
                }
                primitives.insert(property->name, *property);
                if (property->name.compare(QLatin1String("id"), Qt::CaseInsensitive) == 0) {
                    const bool theKey
                        = keyed->keys.size() == 1 && keyed->keys.first() == property->name;
                    if (!theKey) {
                        set.leftOut.append(QStringLiteral("%1: the name is the local id column's")
                                               .arg(property->name));
                    }
                    continue;
                }
                const QString problem = Identifier::check(property->name, u"property");
                if (!problem.isEmpty()) {
                    set.leftOut.append(QStringLiteral("%1: %2").arg(property->name, problem));
                    continue;
                }
                if (columnNames.contains(property->name.toLower())) {
                    set.leftOut.append(QStringLiteral("%1: another property has the same name "
                                                      "but for case")
                                           .arg(property->name));
                    continue;
                }
                columnNames.insert(property->name.toLower());
                set.columns.append(*property);
            }
        }
        for (const QString &key : keyed->keys) {
            const auto found = primitives.constFind(key);
            if (found == primitives.cend()) {
                *why = QStringLiteral("its key property %1 is not a primitive property it declares")
                           .arg(Identifier::quoted(key));
                return std::nullopt;
            }
            set.keys.append(*found);
        }
        const bool named = m_changeTimes.contains(setName);
        const QString configured = m_changeTimes.value(setName, m_changeTimes.value(QString()));
        const QStringList candidates
            = configured.isEmpty() ? knownChangeTimeProperties() : QStringList { configured };
        for (const QString &candidate : candidates) {
            for (const Property &column : std::as_const(set.columns)) {
                if (column.name == candidate && column.kind == EdmKind::DateTimeOffset) {
                    set.changeTime = column.name;
                    break;
                }
            }
            if (!set.changeTime.isEmpty())
                break;
        }
        if (named && set.changeTime.isEmpty()) {
            // Named for this set on purpose: reloading it whole instead would hide the mistake.
            *why = QStringLiteral("its change-time property %1 is not an Edm.DateTimeOffset "
                                  "property it declares")
                       .arg(Identifier::quoted(configured));
            return std::nullopt;
        }
        return set;
    }

private:
    QString qualify(const QString &type) const
    {
        const qsizetype dot = type.lastIndexOf(u'.');
        if (dot <= 0)
            return type;
        const QString prefix = type.left(dot);
        const auto alias = m_document.aliases.constFind(prefix);
        return alias == m_document.aliases.cend() ? type : *alias + type.mid(dot);
    }

    std::optional<Property> primitive(const DeclaredProperty &declared, QString *reason) const
    {
        if (declared.navigation) {
            *reason = QStringLiteral("a navigation property");
            return std::nullopt;
        }
        if (declared.type.startsWith(QLatin1String("Collection("))) {
            *reason = QStringLiteral("a collection");
            return std::nullopt;
        }
        QString type = qualify(declared.type);
        if (const auto defined = m_document.typeDefinitions.constFind(type);
            defined != m_document.typeDefinitions.cend()) {
            type = *defined;
        }
        if (m_document.enumTypes.contains(type))
            return Property { declared.name, declared.type, EdmKind::Enum };
        if (m_document.complexTypes.contains(type)) {
            *reason = QStringLiteral("a complex property");
            return std::nullopt;
        }
        const auto kind = edmKinds().constFind(type);
        if (kind == edmKinds().cend()) {
            *reason = type == QLatin1String("Edm.Stream")
                ? QStringLiteral("a stream")
                : QStringLiteral("type %1 is not mapped").arg(type);
            return std::nullopt;
        }
        return Property { declared.name, declared.type, *kind };
    }

    const Document &m_document;
    QMap<QString, QString> m_changeTimes;
};

} // namespace

FieldType Property::fieldType() const
{
    switch (kind) {
    case EdmKind::Boolean:
        return FieldType::Bool;
    case EdmKind::Integer:
        return FieldType::Int;
    case EdmKind::Double:
        return FieldType::Real;
    case EdmKind::DateTimeOffset:
        return FieldType::DateTime;
    case EdmKind::Decimal:
        return FieldType::Decimal;
    case EdmKind::String:
    case EdmKind::Guid:
    case EdmKind::Date:
    case EdmKind::TimeOfDay:
    case EdmKind::Enum:
        break;
    }
    return FieldType::String;
}

EntitySchema EntitySet::schema() const
{
    EntitySchema schema;
    schema.name = name;
    for (const Property &column : columns)
        schema.fields.append({ column.name, column.fieldType() });
    return schema;
}

QStringList knownChangeTimeProperties()
{
    return { QStringLiteral("modifiedAt"), QStringLiteral("changedDate"),
             QStringLiteral("ModifiedOn"), QStringLiteral("modifiedon"),
             QStringLiteral("LastModifiedDateTime") };
}

bool parseMetadata(const QByteArray &xml, Metadata *metadata, QString *error,
                   const QString &changeTime)
{
    QMap<QString, QString> changeTimes;
    if (!changeTime.isEmpty())
        changeTimes.insert(QString(), changeTime);
    return parseMetadata(xml, metadata, error, changeTimes);
}

bool parseMetadata(const QByteArray &xml, Metadata *metadata, QString *error,
                   const QMap<QString, QString> &changeTimes)
{
    *metadata = Metadata();
    Document document;
    if (!Reader(xml).read(&document, error))
        return false;
    const Mapper mapper(document, changeTimes);
    QSet<QString> tables; // lowercase: SQLite's names ignore case
    for (const auto &[name, type] : std::as_const(document.sets)) {
        QString why;
        std::optional<EntitySet> set = mapper.map(name, type, &why);
        if (set && tables.contains(name.toLower())) {
            set.reset();
            why = QStringLiteral("another entity set has the same name but for case");
        }
        if (!set) {
            metadata->leftOut.append(
                QStringLiteral("%1: %2").arg(Identifier::printable(name), why));
            continue;
        }
        tables.insert(name.toLower());
        metadata->sets.append(*set);
    }
    return true;
}

} // namespace BatchSync::OData
