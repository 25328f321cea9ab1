#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QUrl>
#include <memory>

QT_BEGIN_NAMESPACE
class QHttpServer;
QT_END_NAMESPACE

/*!
    \file fakeodata.h
    A small OData v4 service for tests, on 127.0.0.1 and an ephemeral port, served by the
    test's own event loop: two sets, Books (Int32 key ID, modifiedAt, title, Int64 big) and
    Countries (String key code, name; no change time). It understands the queries the OData
    source sends ($select of the key or all, the keyset $filter forms, $orderby, $top,
    $count) and misbehaves on demand: pages capped with a next link, $filter or $orderby
    ignored, next links to another host, Basic authentication.
*/

namespace BatchSync::Test {

class FakeODataService
{
public:
    struct Book
    {
        int id = 0;
        QString modifiedAt; //!< YYYY-MM-DDTHH:MM:SS.sssZ
        QString title;
        qint64 big = 0;
    };
    struct Country
    {
        QString code;
        QString name;
    };

    FakeODataService();
    ~FakeODataService();

    bool start();
    /*! The service root, ending with '/'. */
    QUrl root() const;

    QList<Book> books;
    QList<Country> countries;

    int pageCap = 0; //!< > 0: at most this many records per response, with a next link
    QString user; //!< non-empty: Basic authentication required
    QString password;
    QString token; //!< non-empty: "Authorization: Bearer <token>" required
    bool forbidden = false; //!< every data request is answered with 403
    bool ignoreFilter = false;
    bool ignoreOrderBy = false;
    QString nextLinkHost; //!< non-empty: next links point to this host
    /*!
        Books is change-tracked: Prefer: odata.track-changes is applied, the initial read and
        each delta are paged by odata.maxpagesize and end with a delta link.
    */
    bool trackChanges = false;
    bool deletedEntityForm = false; //!< removals as OData 4.0's $deletedEntity, not @removed
    int expiredBefore = 0; //!< delta tokens older than this are answered with 410 Gone
    int version = 0; //!< raised by every putBook() and removeBook()
    bool failKeyScanPages = false;
    int withoutChangeTime = 0; //!< this book's rows lack modifiedAt (a record the source refuses)
                               //!< //!< answers 500 to key scan pages after the first
    QByteArray metadataBody; //!< non-empty: served as $metadata instead of the real one
    int requests = 0;
    QList<QUrl> urls; //!< every request's URL

    /*! Sets \a id's change time to \a at (or adds it) and its title. */
    void putBook(int id, const QString &at, const QString &title, qint64 big = 0);
    void removeBook(int id);

private:
    QHash<int, int> m_bookVersions; // id -> the version that last wrote it
    QHash<int, int> m_tombstones; // id -> the version that removed it
    std::unique_ptr<QHttpServer> m_server;
    quint16 m_port = 0;
};

} // namespace BatchSync::Test
