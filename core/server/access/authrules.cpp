#include "authrules.h"

#include "common/identifier.h"
#include "server/access/jsontree.h"
#include "server/syncserver.h"

#include <QCryptographicHash>
#include <QFile>
#include <QFileInfo>
#include <QJsonValue>

namespace BatchSync {

namespace {

using Kind = JsonNode::Kind;

constexpr qsizetype MaxNameLength = 64;

class RulesReader
{
public:
    std::optional<AccessRules> read(const JsonNode &root, QList<AccessToken> *tokens)
    {
        if (!expect(root, Kind::Object, QStringLiteral("the file")))
            return std::nullopt;
        if (!onlyKeys(root, { QStringLiteral("tokens") }))
            return std::nullopt;
        const JsonNode *list = root.member(u"tokens");
        if (!list)
            return fail(root.line, QStringLiteral("the file has no \"tokens\" list"));
        if (!expect(*list, Kind::Array, QStringLiteral("\"tokens\"")))
            return std::nullopt;
        QSet<QString> names;
        QSet<QByteArray> hashes;
        for (const JsonNode &item : list->items) {
            AccessToken token;
            if (!readToken(item, &token))
                return std::nullopt;
            if (names.contains(token.name))
                return fail(item.line, QStringLiteral("two tokens are named %1").arg(token.name));
            if (hashes.contains(token.sha256)) {
                return fail(
                    item.line,
                    QStringLiteral("token %1 has the same sha256 as another").arg(token.name));
            }
            names.insert(token.name);
            hashes.insert(token.sha256);
            tokens->append(std::move(token));
        }
        return AccessRules();
    }

    QString error() const { return m_error; }

private:
    std::nullopt_t fail(int line, const QString &message)
    {
        m_error = QStringLiteral("line %1: %2").arg(line).arg(message);
        return std::nullopt;
    }

    bool refuse(int line, const QString &message)
    {
        fail(line, message);
        return false;
    }

    bool expect(const JsonNode &node, Kind kind, const QString &what)
    {
        if (node.kind == kind)
            return true;
        fail(node.line,
             QStringLiteral("%1 must be %2, not %3")
                 .arg(what, JsonNode::kindName(kind), JsonNode::kindName(node.kind)));
        return false;
    }

    bool onlyKeys(const JsonNode &object, std::initializer_list<QString> keys)
    {
        for (const auto &[key, value] : object.members) {
            if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
                QStringList known;
                for (const QString &k : keys)
                    known.append(QLatin1Char('"') + k + QLatin1Char('"'));
                fail(value.line,
                     QStringLiteral("unknown key \"%1\" (known: %2)")
                         .arg(Identifier::printable(key), known.join(u", ")));
                return false;
            }
        }
        return true;
    }

    static bool isNameChar(QChar c)
    {
        return (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || (c >= u'0' && c <= u'9')
            || c == u'.' || c == u'_' || c == u'-';
    }

    bool readName(const JsonNode &token, QString *name)
    {
        const JsonNode *node = token.member(u"name");
        if (!node)
            return refuse(token.line, QStringLiteral("a token has no \"name\""));
        if (!expect(*node, Kind::String, QStringLiteral("\"name\"")))
            return false;
        if (node->string.isEmpty() || node->string.size() > MaxNameLength
            || !std::all_of(node->string.begin(), node->string.end(), isNameChar)) {
            fail(node->line,
                 QStringLiteral("the name \"%1\" must be 1 to %2 letters, digits, "
                                "'.', '_' or '-'")
                     .arg(Identifier::printable(node->string))
                     .arg(MaxNameLength));
            return false;
        }
        *name = node->string;
        return true;
    }

    bool readHash(const JsonNode &token, const QString &name, QByteArray *sha256)
    {
        const JsonNode *node = token.member(u"sha256");
        if (!node)
            return refuse(token.line, QStringLiteral("token %1 has no \"sha256\"").arg(name));
        if (!expect(*node, Kind::String, QStringLiteral("\"sha256\"")))
            return false;
        const QString &hex = node->string;
        const bool isHex = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](QChar c) {
                               return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f')
                                   || (c >= u'A' && c <= u'F');
                           });
        if (!isHex) {
            fail(node->line,
                 QStringLiteral("the sha256 of token %1 must be 64 hexadecimal "
                                "digits (batchsync-server --hash-token makes it)")
                     .arg(name));
            return false;
        }
        *sha256 = QByteArray::fromHex(hex.toLatin1());
        return true;
    }

    bool readEntities(const JsonNode &token, QStringView key, QSet<QString> *entities)
    {
        const JsonNode *node = token.member(key);
        if (!node)
            return true;
        const QString what = QStringLiteral("\"%1\"").arg(key);
        if (!expect(*node, Kind::Array, what))
            return false;
        for (const JsonNode &item : node->items) {
            if (!expect(item, Kind::String, QStringLiteral("an entity in %1").arg(what)))
                return false;
            const QString problem = Identifier::check(item.string, u"entity");
            if (!problem.isEmpty())
                return refuse(item.line, problem);
            entities->insert(item.string);
        }
        return true;
    }

    bool readRows(const JsonNode &token, AccessToken *out)
    {
        const JsonNode *node = token.member(u"rows");
        if (!node)
            return true;
        if (!expect(*node, Kind::Object, QStringLiteral("\"rows\"")))
            return false;
        for (const auto &[entity, filterNode] : node->members) {
            const QString problem = Identifier::check(entity, u"entity");
            if (!problem.isEmpty())
                return refuse(filterNode.line, problem);
            if (!out->read.contains(entity)) {
                fail(filterNode.line,
                     QStringLiteral("\"rows\" names %1, which \"read\" does not").arg(entity));
                return false;
            }
            if (!expect(filterNode, Kind::Object, QStringLiteral("the rows of %1").arg(entity)))
                return false;
            if (filterNode.members.isEmpty()) {
                fail(filterNode.line,
                     QStringLiteral("the rows of %1 name no field (leave %1 out of \"rows\" "
                                    "to allow every record)")
                         .arg(entity));
                return false;
            }
            RowFilter filter;
            for (const auto &[field, value] : filterNode.members) {
                const QString fieldProblem = Identifier::check(field, u"field");
                if (!fieldProblem.isEmpty())
                    return refuse(value.line, fieldProblem);
                QJsonValue json;
                switch (value.kind) {
                case Kind::Null:
                    break;
                case Kind::Bool:
                    json = value.boolean;
                    break;
                case Kind::Number:
                    json = value.number;
                    break;
                case Kind::String:
                    json = value.string;
                    break;
                case Kind::Array:
                case Kind::Object:
                    fail(value.line,
                         QStringLiteral("the value of %1.%2 must be a string, a number, true, "
                                        "false or null")
                             .arg(entity, field));
                    return false;
                }
                filter.equals.append({ field, json });
            }
            out->rows.insert(entity, filter);
        }
        return true;
    }

    bool readToken(const JsonNode &node, AccessToken *token)
    {
        if (!expect(node, Kind::Object, QStringLiteral("a token")))
            return false;
        if (!onlyKeys(node,
                      { QStringLiteral("name"), QStringLiteral("sha256"), QStringLiteral("read"),
                        QStringLiteral("write"), QStringLiteral("rows") })) {
            return false;
        }
        if (!readName(node, &token->name) || !readHash(node, token->name, &token->sha256)
            || !readEntities(node, u"read", &token->read)
            || !readEntities(node, u"write", &token->write)) {
            return false;
        }
        for (const QString &entity : std::as_const(token->write)) {
            if (!token->read.contains(entity)) {
                // A push's conflicts answer with the server's records: writing implies reading.
                fail(node.member(u"write")->line,
                     QStringLiteral("token %1: \"write\" names %2, which \"read\" does not")
                         .arg(token->name, entity));
                return false;
            }
        }
        return readRows(node, token);
    }

    QString m_error;
};

} // namespace

std::optional<AccessRules> AccessRules::parse(QByteArrayView text, QString *error)
{
    std::optional<JsonNode> root = JsonTree::parse(text, error);
    if (!root)
        return std::nullopt;
    RulesReader reader;
    QList<AccessToken> tokens;
    std::optional<AccessRules> rules = reader.read(*root, &tokens);
    if (!rules) {
        *error = reader.error();
        return std::nullopt;
    }
    rules->m_tokens = std::move(tokens);
    return rules;
}

std::optional<AccessRules> AccessRules::load(const QString &path, QString *error)
{
    QFile file(path);
    if (QFileInfo(path).isDir()) {
        *error = QStringLiteral("the auth file %1 is a folder").arg(path);
        return std::nullopt;
    }
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read the auth file %1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    const QByteArray text = file.read(MaxFileBytes + 1);
    if (text.size() > MaxFileBytes) {
        *error = QStringLiteral("the auth file %1 is larger than %2 bytes")
                     .arg(path)
                     .arg(MaxFileBytes);
        return std::nullopt;
    }
    QString problem;
    std::optional<AccessRules> rules = parse(text, &problem);
    if (!rules)
        *error = QStringLiteral("the auth file %1, %2").arg(path, problem);
    return rules;
}

QByteArray AccessRules::hashHex(QByteArrayView token)
{
    return QCryptographicHash::hash(token, QCryptographicHash::Sha256).toHex();
}

const AccessToken *AccessRules::find(QByteArrayView token) const
{
    const QByteArray hash = QCryptographicHash::hash(token, QCryptographicHash::Sha256);
    const AccessToken *found = nullptr;
    // Every hash is compared, whichever matches: the time depends on the number of tokens only.
    for (const AccessToken &candidate : m_tokens) {
        const bool equal = SyncServer::constantTimeEquals(hash, candidate.sha256);
        found = equal ? &candidate : found;
    }
    return found;
}

QHash<QString, QStringList> AccessRules::rowFields() const
{
    QHash<QString, QStringList> fields;
    for (const AccessToken &token : m_tokens) {
        for (auto it = token.rows.cbegin(); it != token.rows.cend(); ++it) {
            QStringList &list = fields[it.key()];
            for (const auto &[field, value] : it->equals) {
                if (!list.contains(field))
                    list.append(field);
            }
        }
    }
    for (QStringList &list : fields)
        list.sort();
    return fields;
}

} // namespace BatchSync
