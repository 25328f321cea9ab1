#pragma once

#include <QByteArray>
#include <QList>
#include <QNetworkAccessManager>
#include <QProcess>
#include <QString>
#include <QTemporaryDir>
#include <QUrl>
#include <QVariant>
#include <memory>

QT_BEGIN_NAMESPACE
class QJsonObject;
class QNetworkReply;
QT_END_NAMESPACE

/*!
    \file cappeer.h
    SAP CAP (@sap/cds 8 on @cap-js/sqlite) as a real OData v4 peer for tests: the service of
    tests/peers/cap/, installed once per process by tests/peers/cap.sh into a cache folder and
    started per test on 127.0.0.1 with a fresh database and the same deterministic seed data.
    Main thread only; every call that waits does so with QSignalSpy::wait or QTest::qWaitFor
    on the test's event loop.

    The service, /odata/v4/shop/ (Basic auth, user() / password(); anything else is 401):
    - Products: cuid + managed (Edm.Guid key ID, createdAt/modifiedAt DateTimeOffset
      Precision 7), name, price Decimal(15,3), stock Int64, rating Double, active Boolean,
      releaseDate Date, lastSold DateTimeOffset (seconds), lastAudit DateTimeOffset
      (milliseconds), note String with every kind of Unicode. 5000 records by default; three
      share each seeded modifiedAt; every 17th (i % 17 == 5) has nulls.
    - OrderLines: managed, composite key (orderNo Int32, lineCode String: "O'K", "a+b", "b 2",
      "100%", non-ASCII), quantity Int64, amount Decimal(12,2), shipped, comment. 400 records.
    - Currencies: no change-time property (key code, 3 letters), rate Decimal(15,6). 300.
    - Actions insertProducts(count, namePrefix), updateProducts(IDs, name) and
      slowUpsertProduct(ID, name, delayMs).

    What CAP sends (peer configured with cds.features.ieee754compatible, without which its
    SQLite layer reads Int64 through a double and 9007199254740993 comes back as
    9007199254740992): the same text whatever the Accept header, with or without
    IEEE754Compatible=true:
    - Int64 and Decimal as JSON strings: "stock":"9007199254740993",
      "stock":"-9223372036854775808", "price":"999999999999.999", "price":"0.000" (Decimal
      always with its scale's digits);
    - DateTimeOffset in UTC with a Z: "modifiedAt":"2024-01-01T00:00:00.007Z" (Timestamp,
      milliseconds), "lastSold":"2024-01-01T00:00:01Z" (DateTime, seconds);
    - Date as "releaseDate":"2024-01-01";
    - Double as a bare number of at most 15 significant digits, as SQLite renders it:
      "rating":0.666666666666667, "rating":3e+21, "rating":2.5e-323;
    - Int32 as a bare number ("orderNo":1000), Boolean as true/false, null as null.
    Started with Options::bareNumbers (CAP's default), the same records come as bare numbers
    whatever the Accept header: "stock":9007199254740992 (already rounded by CAP),
    "price":999999999999.999, "price":0 for 0.000, and 9223372036854775807 as
    "stock":9223372036854776000 (JavaScript's text, beyond the Int64 range).
    Write bodies should carry Int64 as strings: a bare 9007199254740995 reaches CAP's
    JSON.parse as a double and is stored as 9007199254740996.
    Paging: cds.query.limit.max (pageMax) caps every page; a capped page ends with a relative
    "@odata.nextLink":"Products?%24top=5000&...&%24skiptoken=1000" (an offset).
    Order: $filter's gt/lt on strings follow SQLite's binary order of UTF-8, i.e. code points
    ("100%" < "A" < "O'K" < "a+b" < "b 2" < "é€" < "ü" < "日本"); but CAP's $orderby sorts
    String properties COLLATE NOCASE ("a+b" < "b 2" < "O'K") unless annotated
    @cds.collate: false, as OrderLines.lineCode is here (CAP's default breaks a keyset query
    on a mixed-case String key). Guids (never NOCASE) compare as their lower-case text;
    DateTimeOffset literals with an offset are converted to UTC.
*/

namespace BatchSync::Test {

class CapPeer final
{
    Q_DISABLE_COPY_MOVE(CapPeer)

public:
    struct Options
    {
        int pageMax = 1000; //!< CAP's page cap (cds.query.limit.max)
        int products = 5000;
        int orderLines = 400;
        int currencies = 300;
        //! CAP's default number format: Int64 and Decimal as bare JSON numbers, Int64 read
        //! from SQLite through a double (cds.features.ieee754compatible off).
        bool bareNumbers = false;
    };

    /*! An HTTP exchange's outcome: status 0 when no HTTP answer came (then error says why). */
    struct Response
    {
        int status = 0;
        QByteArray body;
        QString error;
        bool isSuccess() const { return status >= 200 && status < 300; }
    };

    CapPeer();
    ~CapPeer(); //!< stops CAP

    /*!
        Installs the peer's packages once per process (tests/peers/cap.sh install; up to a few
        minutes the first time on a machine, then cached). Returns why CAP cannot run here, or
        an empty string when it can: node or npm missing, or the install failed.
    */
    static QString unavailableReason();

    /*! Whether a missing CAP fails the tests instead of skipping them: under CI (CI set). */
    static bool required();

    /*!
        Starts CAP on a fresh database seeded as \a options say and waits until it answers
        $metadata; false (with a warning holding CAP's output) on failure. Stops a running one
        first.
    */
    bool start(const Options &options);
    bool start() { return start(Options()); }

    /*! Stops CAP (SIGTERM, then SIGKILL); its data is gone with it. */
    void stop();

    bool isRunning() const;

    /*! The service root, e.g. http://127.0.0.1:PORT/odata/v4/shop/ (with a trailing slash). */
    QUrl serviceRoot() const;
    int port() const { return m_port; }
    static QString user();
    static QString password();

    /*! What CAP printed so far (stdout and stderr). */
    QString output() const;

    /*!
        Sends \a verb \a pathAndQuery (relative to serviceRoot(), already percent-encoded, or
        an absolute URL) with the JSON \a body, Basic-authenticated as \a user / \a password;
        the reply is the caller's (deleteLater it). Accepts JSON with IEEE754Compatible=true,
        or XML for $metadata (CAP answers CSDL JSON to a JSON Accept header).
    */
    QNetworkReply *startRequest(const QByteArray &verb, const QString &pathAndQuery,
                                const QByteArray &body = QByteArray(),
                                const QString &user = CapPeer::user(),
                                const QString &password = CapPeer::password());

    /*! startRequest() and wait for its end (60 s at most). */
    Response request(const QByteArray &verb, const QString &pathAndQuery,
                     const QByteArray &body = QByteArray(), const QString &user = CapPeer::user(),
                     const QString &password = CapPeer::password());

    /*! Waits for \a reply to finish (at most \a timeoutMs) and reads it; deletes it later. */
    static Response finish(QNetworkReply *reply, int timeoutMs = 60000);

    /*!
        POSTs \a json (JSON text: Int64 as strings) to entity set \a set; returns the created
        record's JSON text as CAP sent it, or empty (and a warning) on failure.
    */
    QByteArray create(const QString &set, const QByteArray &json);

    /*! PATCHes the record \a set\a key (key from keyPredicate()) with \a json. */
    bool patch(const QString &set, const QString &key, const QByteArray &json);

    /*! DELETEs the record \a set\a key. */
    bool remove(const QString &set, const QString &key);

    /*!
        Every record of \a set through CAP's own paging (all nextLinks followed), with
        \a query (e.g. "$orderby=ID"; percent-encoding done here) on the first request; each
        record is its JSON object text exactly as CAP sent it. Sets \a ok.
    */
    QList<QByteArray> readAll(const QString &set, const QString &query, bool *ok = nullptr);

    /*!
        Inserts \a count products named "<namePrefix> <i>" in one transaction (all share one
        modifiedAt); returns their records' JSON text ordered by ID, empty on failure.
    */
    QList<QByteArray> insertProducts(int count, const QString &namePrefix);

    /*!
        Sets \a name on the products \a ids in one transaction (all share one modifiedAt);
        returns their records' JSON text ordered by ID, empty on failure.
    */
    QList<QByteArray> updateProducts(const QStringList &ids, const QString &name);

    /*!
        Starts a slow write: product \a id gets \a name (created when missing) after
        \a delayMs; its modifiedAt is the request's start, committed delayMs later. The
        reply (the caller's) finishes after the commit with the record.
    */
    QNetworkReply *startSlowUpsertProduct(const QString &id, const QString &name, int delayMs);

    /*!
        A key predicate for a path, values in key order: "(0b5f...)" for one Guid,
        "(orderNo=1000,lineCode='O''K')" for named ones, percent-encoded. \a names empty for
        a single key.
    */
    static QString keyPredicate(const QVariantList &values, const QStringList &names = {});

    /*! An OData literal: strings quoted (quotes doubled), numbers and Guids (QUuid) bare. */
    static QString literal(const QVariant &value);

    /*!
        The raw JSON text of member \a name of the JSON object \a object ("\"9007199254740993\"",
        "null", "1.5"...); empty when absent or \a object is no JSON object.
    */
    static QByteArray rawMember(const QByteArray &object, const QString &name);

    /*!
        Splits a collection response \a body into the raw texts of its "value" records and its
        "@odata.nextLink" (decoded, empty when none); false when \a body is no such response.
    */
    static bool splitCollection(const QByteArray &body, QList<QByteArray> *records,
                                QString *nextLink);

private:
    QUrl resolve(const QString &pathAndQuery) const;
    QList<QByteArray> collectionAction(const QString &action, const QJsonObject &parameters);

    QTemporaryDir m_dir;
    std::unique_ptr<QProcess> m_process;
    QByteArray m_output;
    QNetworkAccessManager m_network;
    int m_port = 0;
    int m_starts = 0;
};

} // namespace BatchSync::Test
