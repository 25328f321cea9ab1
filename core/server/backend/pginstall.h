#pragma once

#include <QString>
#include <QStringList>

/*!
    \file pginstall.h
    The SQL that PgServerStore installs into a PostgreSQL schema, read from the .sql files in
    backend/sql/, which the server library carries as Qt resources. Internal to core/server;
    any thread.
*/

namespace BatchSync::PgInstall {

/*!
    The statements that install (or update) the bookkeeping into \a schema (quoted), in order,
    with the placeholders filled in: the catalogue lock \a catalogueLock and the version mark
    \a version. Empty with \a error set when a resource is missing.
*/
QStringList statements(const QString &schema, qint64 catalogueLock, const QString &version,
                       QString *error);

/*!
    \a script cut into its statements at each semicolon outside quotes, quoted identifiers,
    dollar-quoted bodies ($$...$$) and comments; comments are dropped, statements trimmed.
*/
QStringList splitStatements(const QString &script);

} // namespace BatchSync::PgInstall
