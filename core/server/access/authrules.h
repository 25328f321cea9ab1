#pragma once

#include "server/access/rowfilter.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QHash>
#include <QList>
#include <QSet>
#include <QString>
#include <QStringList>
#include <optional>

/*!
    \file authrules.h
    The callers a server admits (batchsync-server --auth FILE; DESIGN.md, "Access: tokens,
    scopes and rows"). Internal to core/server; plain data, read from any thread.
*/

namespace BatchSync {

/*! One caller of the auth file: what its token may read and write. */
struct AccessToken
{
    QString name; //!< for logs; never the token itself
    QByteArray sha256; //!< the token's SHA-256, 32 raw bytes
    QSet<QString> read; //!< entities it sees (in /entities) and pulls
    QSet<QString> write; //!< entities it pushes to; always a subset of read
    QHash<QString, RowFilter> rows; //!< entity → the records it is restricted to

    bool canRead(const QString &entity) const { return read.contains(entity); }
    bool canWrite(const QString &entity) const { return write.contains(entity); }
    /*! The rows of \a entity this token is restricted to; empty: every record. */
    RowFilter rowsOf(const QString &entity) const { return rows.value(entity); }
};

/*!
    The auth file, parsed and checked:

    \code
    {"tokens": [
      {"name": "north-tablet", "sha256": "<hex SHA-256 of the token>",
       "read": ["customers", "orders"], "write": ["orders"],
       "rows": {"customers": {"region": "north"}, "orders": {"region": "north"}}}
    ]}
    \endcode

    Every token has a unique name (letters, digits, '.', '_', '-'; at most 64) and a unique
    hash (64 hex digits); "read" and "write" are lists of entity names ("write" only of
    entities also in "read"; both may be empty or absent); "rows" maps a readable entity to
    one or more field = value pairs (a string, number, boolean or null each). Unknown keys
    are errors, so that a misspelt "rows" never serves every record.
*/
class AccessRules
{
public:
    /*! The largest auth file read. */
    static constexpr qint64 MaxFileBytes = 16 * 1024 * 1024;

    /*!
        Parses an auth file's \a text. On failure nullopt, with \a error naming the line at
        fault and the problem, e.g. "line 4: \"write\" names orders, which \"read\" does not".
    */
    static std::optional<AccessRules> parse(QByteArrayView text, QString *error);
    /*! Reads and parses the file at \a path; \a error also names the file. */
    static std::optional<AccessRules> load(const QString &path, QString *error);

    /*! The hex SHA-256 of \a token, as the file holds it. */
    static QByteArray hashHex(QByteArrayView token);

    /*!
        The token whose hash matches \a token, or null. Hashes \a token and compares it with
        every token's hash in constant time, so that neither which token matched nor where
        the hashes first differ shows in the time taken.
    */
    const AccessToken *find(QByteArrayView token) const;

    const QList<AccessToken> &tokens() const { return m_tokens; }

    /*! For each entity, the fields some token's rows name (for the backends' move log). */
    QHash<QString, QStringList> rowFields() const;

private:
    QList<AccessToken> m_tokens;
};

} // namespace BatchSync
