#include "fakeodata.h"

#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponse>
#include <QRegularExpression>
#include <QUrlQuery>
#include <algorithm>

namespace BatchSync::Test {

namespace {

const char metadata[] = R"xml(<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Fake" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityContainer Name="Service">
        <EntitySet Name="Books" EntityType="Fake.Books"/>
        <EntitySet Name="Countries" EntityType="Fake.Countries"/>
      </EntityContainer>
      <EntityType Name="Books">
        <Key><PropertyRef Name="ID"/></Key>
        <Property Name="ID" Type="Edm.Int32" Nullable="false"/>
        <Property Name="modifiedAt" Type="Edm.DateTimeOffset" Precision="3"/>
        <Property Name="title" Type="Edm.String"/>
        <Property Name="big" Type="Edm.Int64"/>
      </EntityType>
      <EntityType Name="Countries">
        <Key><PropertyRef Name="code"/></Key>
        <Property Name="code" Type="Edm.String" Nullable="false"/>
        <Property Name="name" Type="Edm.String"/>
      </EntityType>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
)xml";

QString json(const QString &text)
{
    QString out = QStringLiteral("\"");
    for (QChar c : text) {
        if (c == u'"' || c == u'\\')
            out += u'\\';
        if (c.unicode() < 0x20)
            out += QStringLiteral("\\u%1").arg(c.unicode(), 4, 16, QLatin1Char('0'));
        else
            out += c;
    }
    return out + u'"';
}

QHttpServerResponse respond(const QString &body,
                            QHttpServerResponse::StatusCode status
                            = QHttpServerResponse::StatusCode::Ok)
{
    return QHttpServerResponse("application/json", body.toUtf8(), status);
}

} // namespace

FakeODataService::FakeODataService() = default;
FakeODataService::~FakeODataService() = default;

void FakeODataService::putBook(int id, const QString &at, const QString &title, qint64 big)
{
    books.erase(
        std::remove_if(books.begin(), books.end(), [id](const Book &b) { return b.id == id; }),
        books.end());
    books.append({ id, at, title, big });
    m_bookVersions.insert(id, ++version);
    m_tombstones.remove(id);
}

void FakeODataService::removeBook(int id)
{
    if (std::none_of(books.cbegin(), books.cend(), [id](const Book &b) { return b.id == id; }))
        return;
    m_bookVersions.remove(id);
    m_tombstones.insert(id, ++version);
    books.erase(
        std::remove_if(books.begin(), books.end(), [id](const Book &b) { return b.id == id; }),
        books.end());
}

bool FakeODataService::start()
{
    m_server = std::make_unique<QHttpServer>();
    m_server->route("/odata/<arg>", [this](const QString &set, const QHttpServerRequest &request) {
        ++requests;
        urls.append(request.url());
        if (!user.isEmpty()) {
            const QByteArray expected
                = "Basic " + (user.toUtf8() + ':' + password.toUtf8()).toBase64();
            if (request.value("Authorization") != expected) {
                return respond(
                    QStringLiteral("{\"error\":{\"code\":\"401\",\"message\":\"Unauthorized\"}}"),
                    QHttpServerResponse::StatusCode::Unauthorized);
            }
        }
        if (!token.isEmpty() && request.value("Authorization") != "Bearer " + token.toUtf8()) {
            return respond(
                QStringLiteral("{\"error\":{\"code\":\"401\",\"message\":\"Bad token\"}}"),
                QHttpServerResponse::StatusCode::Unauthorized);
        }
        if (forbidden && set != u"$metadata") {
            return respond(QStringLiteral("{\"error\":{\"code\":\"403\",\"message\":{\"lang\":"
                                          "\"en\",\"value\":\"Not your data\"}}}"),
                           QHttpServerResponse::StatusCode::Forbidden);
        }
        if (set == u"$metadata") {
            return QHttpServerResponse(
                "application/xml", metadataBody.isEmpty() ? QByteArray(metadata) : metadataBody);
        }
        const QUrlQuery query(request.url());
        const bool tracked = trackChanges && set == u"Books"
            && request.value("Prefer").contains("odata.track-changes");
        if (tracked && !query.hasQueryItem(QStringLiteral("$top"))) {
            // The initial read, or the changes after a delta token, up to version "upto".
            const QString token = query.queryItemValue(QStringLiteral("$deltatoken"));
            if (!token.isEmpty() && token.toInt() < expiredBefore) {
                return respond(QStringLiteral("{\"error\":{\"code\":\"410\",\"message\":"
                                              "\"delta token expired\"}}"),
                               QHttpServerResponse::StatusCode::Gone);
            }
            const int upto = query.hasQueryItem(QStringLiteral("upto"))
                ? query.queryItemValue(QStringLiteral("upto")).toInt()
                : version;
            const int skip = query.queryItemValue(QStringLiteral("$skiptoken")).toInt();
            int pageSize = 1000000;
            static const QRegularExpression maxPage(QStringLiteral("odata.maxpagesize=(\\d+)"));
            if (const auto m = maxPage.match(QString::fromLatin1(request.value("Prefer")));
                m.hasMatch()) {
                pageSize = m.captured(1).toInt();
            }
            QList<Book> sorted = books;
            std::sort(sorted.begin(), sorted.end(),
                      [](const Book &a, const Book &b) { return a.id < b.id; });
            QStringList entries;
            for (const Book &book : std::as_const(sorted)) {
                if (token.isEmpty()
                    || (m_bookVersions.value(book.id) > token.toInt()
                        && m_bookVersions.value(book.id) <= upto)) {
                    entries.append(QStringLiteral("{\"ID\":%1,\"modifiedAt\":%2,\"title\":%3,"
                                                  "\"big\":\"%4\"}")
                                       .arg(book.id)
                                       .arg(json(book.modifiedAt), json(book.title))
                                       .arg(book.big));
                }
            }
            if (!token.isEmpty()) {
                for (auto it = m_tombstones.cbegin(); it != m_tombstones.cend(); ++it) {
                    if (it.value() <= token.toInt() || it.value() > upto)
                        continue;
                    entries.append(deletedEntityForm
                                       ? QStringLiteral("{\"@odata.context\":\"$metadata#Books/"
                                                        "$deletedEntity\",\"id\":\"Books(%1)\","
                                                        "\"reason\":\"deleted\"}")
                                             .arg(it.key())
                                       : QStringLiteral("{\"@id\":\"Books(ID=%1)\",\"@removed\":"
                                                        "{\"reason\":\"deleted\"}}")
                                             .arg(it.key()));
                }
            }
            const QStringList page = entries.mid(skip, pageSize);
            const bool last = skip + page.size() >= entries.size();
            const QString link = last
                ? QStringLiteral("\"@odata.deltaLink\":\"Books?$deltatoken=%1\"").arg(upto)
                : QStringLiteral("\"@odata.nextLink\":\"Books?$deltatoken=%1&upto=%2&$skiptoken="
                                 "%3\"")
                      .arg(token.isEmpty() ? QStringLiteral("0") : token)
                      .arg(upto)
                      .arg(skip + page.size());
            // The initial read lists every record, so "0" as its token would repeat them all:
            // its pages carry no token, only "upto".
            QString body = QStringLiteral("{\"@odata.context\":\"$metadata#Books/$delta\","
                                          "\"value\":[%1],%2}")
                               .arg(page.join(u','), link);
            if (token.isEmpty() && !last)
                body.replace(QStringLiteral("$deltatoken=0&"), QString());
            QHttpServerResponse response = respond(body);
            response.addHeader("Preference-Applied", "odata.track-changes");
            return response;
        }
        const QString filter = query.queryItemValue(QStringLiteral("$filter"), QUrl::FullyDecoded);
        const QString select = query.queryItemValue(QStringLiteral("$select"));
        const int top = query.hasQueryItem(QStringLiteral("$top"))
            ? query.queryItemValue(QStringLiteral("$top")).toInt()
            : 1000000;
        const bool keysOnly = select == u"ID" || select == u"code";
        if (failKeyScanPages && keysOnly && !filter.isEmpty()
            && query.queryItemValue(QStringLiteral("$top")) != u"0") {
            return respond(QStringLiteral("{\"error\":{\"code\":\"500\",\"message\":\"down\"}}"),
                           QHttpServerResponse::StatusCode::InternalServerError);
        }
        QStringList rows;
        qsizetype matching = 0;
        if (set == u"Books") {
            QList<Book> sorted = books;
            if (!ignoreOrderBy) {
                const bool byKey = query.queryItemValue(QStringLiteral("$orderby")) == u"ID";
                std::sort(sorted.begin(), sorted.end(), [byKey](const Book &a, const Book &b) {
                    if (byKey)
                        return a.id < b.id;
                    return a.modifiedAt != b.modifiedAt ? a.modifiedAt < b.modifiedAt : a.id < b.id;
                });
            }
            static const QRegularExpression keyset(QStringLiteral(
                "^modifiedAt gt (\\S+) or \\(modifiedAt eq \\1 and \\(ID gt (-?\\d+)\\)\\)$"));
            static const QRegularExpression window(QStringLiteral("^modifiedAt ge (\\S+)$"));
            static const QRegularExpression byKey(QStringLiteral("^ID gt (-?\\d+)$"));
            for (const Book &book : std::as_const(sorted)) {
                bool in = true;
                if (!ignoreFilter && !filter.isEmpty()) {
                    if (const auto m = keyset.match(filter); m.hasMatch()) {
                        in = book.modifiedAt > m.captured(1)
                            || (book.modifiedAt == m.captured(1)
                                && book.id > m.captured(2).toInt());
                    } else if (const auto w = window.match(filter); w.hasMatch()) {
                        in = book.modifiedAt >= w.captured(1);
                    } else if (const auto k = byKey.match(filter); k.hasMatch()) {
                        in = book.id > k.captured(1).toInt();
                    } else {
                        return respond(QStringLiteral("{\"error\":{\"code\":\"400\",\"message\":"
                                                      "\"filter not understood\"}}"),
                                       QHttpServerResponse::StatusCode::BadRequest);
                    }
                }
                if (!in)
                    continue;
                ++matching;
                if (rows.size() >= top)
                    continue;
                if (book.id == withoutChangeTime && !keysOnly) {
                    rows.append(QStringLiteral("{\"ID\":%1,\"title\":%2}")
                                    .arg(book.id)
                                    .arg(json(book.title)));
                    continue;
                }
                rows.append(keysOnly ? QStringLiteral("{\"ID\":%1}").arg(book.id)
                                     : QStringLiteral("{\"ID\":%1,\"modifiedAt\":%2,\"title\":%3,"
                                                      "\"big\":%4}")
                                           .arg(book.id)
                                           .arg(json(book.modifiedAt), json(book.title))
                                           .arg(book.big));
            }
        } else if (set == u"Countries") {
            QList<Country> sorted = countries;
            std::sort(sorted.begin(), sorted.end(),
                      [](const Country &a, const Country &b) { return a.code < b.code; });
            static const QRegularExpression byCode(QStringLiteral("^code gt '((?:[^']|'')*)'$"));
            for (const Country &country : std::as_const(sorted)) {
                if (!filter.isEmpty()) {
                    const auto m = byCode.match(filter);
                    if (!m.hasMatch())
                        return respond(QStringLiteral("{\"error\":{\"code\":\"400\",\"message\":"
                                                      "\"filter not understood\"}}"),
                                       QHttpServerResponse::StatusCode::BadRequest);
                    if (!(country.code
                          > m.captured(1).replace(QStringLiteral("''"), QStringLiteral("'"))))
                        continue;
                }
                ++matching;
                if (rows.size() >= top)
                    continue;
                rows.append(keysOnly ? QStringLiteral("{\"code\":%1}").arg(json(country.code))
                                     : QStringLiteral("{\"code\":%1,\"name\":%2}")
                                           .arg(json(country.code), json(country.name)));
            }
        } else {
            return respond(QStringLiteral("{\"error\":{\"code\":\"404\",\"message\":\"no such "
                                          "set\"}}"),
                           QHttpServerResponse::StatusCode::NotFound);
        }
        QString nextLink;
        if (pageCap > 0 && rows.size() > pageCap) {
            rows = rows.mid(0, pageCap);
            nextLink = QStringLiteral(",\"@odata.nextLink\":\"%1%2?$skiptoken=%3\"")
                           .arg(nextLinkHost.isEmpty()
                                    ? QString()
                                    : QStringLiteral("http://%1/odata/").arg(nextLinkHost),
                                set)
                           .arg(pageCap);
        } else if (!nextLinkHost.isEmpty() && !rows.isEmpty()) {
            nextLink = QStringLiteral(",\"@odata.nextLink\":\"http://%1/odata/%2?$skiptoken=1\"")
                           .arg(nextLinkHost, set);
        }
        QHttpServerResponse response
            = respond(QStringLiteral("{\"@odata.context\":\"$metadata#%1\",\"@odata.count\":%2,"
                                     "\"value\":[%3]%4}")
                          .arg(set)
                          .arg(matching)
                          .arg(rows.join(u','), nextLink));
        if (tracked)
            response.addHeader("Preference-Applied", "odata.track-changes");
        return response;
    });
    m_port = m_server->listen(QHostAddress::LocalHost, 0);
    return m_port != 0;
}

QUrl FakeODataService::root() const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1/odata/").arg(m_port));
}

} // namespace BatchSync::Test
