#pragma once

#include <QString>

/*!
    \file pgconnection.h
    Where a PostgreSQL server is, parsed from what a user gives. A plain value: any thread.
*/

namespace BatchSync {

/*!
    Where a PostgreSQL server is, from a libpq connection string ("host=db port=5432
    dbname=shop user=sync password='a b'") or URI ("postgresql://sync@db:5432/shop").
    Keywords other than host, port, dbname, user and password pass through to libpq.
*/
struct PgConnection
{
    QString host;
    int port = -1;
    QString databaseName;
    QString userName;
    QString password;
    QString options; // the other keywords, as "key=value" separated by spaces

    /*! Parses \a text with libpq's PQconninfoParse; false with \a error set when it is malformed.
     */
    static bool parse(const QString &text, PgConnection *connection, QString *error);
    /*! host, port, dbname and user, for messages (never the password). */
    QString describe() const;
};

} // namespace BatchSync
