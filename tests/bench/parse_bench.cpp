// parse-bench: times Protocol::parseChanges on pages in the form the server writes (compact,
// schema order), so that a parser change can be compared before and after on the same
// input. Not a test: it prints changes per second and never fails on a figure.
//
// Compare under `perf stat -e task-clock,page-faults` or callgrind, not by the rate alone:
// each page is freed before the next is parsed, and whether glibc then gives the top of the
// heap back to the system (to fault it in again on the next page, ~70 times as many page
// faults) turns on the exact sizes and order of a few small allocations, not on the parser.
//
//   parse-bench [pages=200] [changes per page=5000]
#include "common/types.h"
#include "sources/protocol/protocolparser.h"

#include <QByteArray>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QRandomGenerator>
#include <QTextStream>
#include <algorithm>
#include <vector>

using namespace BatchSync;

namespace {

QByteArray page(QRandomGenerator &random, int changes, int first)
{
    QByteArray body = "{\"changes\":[";
    for (int i = 0; i < changes; ++i) {
        if (i > 0)
            body += ',';
        const int n = first + i;
        body += "{\"id\":\"customer-" + QByteArray::number(n)
            + "\",\"changedAt\":\"2025-03-14T09:26:53." + QByteArray::number(100 + n % 900)
            + "Z\",";
        if (n % 50 == 7) {
            body += "\"deleted\":true}";
            continue;
        }
        body += "\"deleted\":false,\"data\":{\"name\":\"Customer number " + QByteArray::number(n)
            + (n % 10 == 0 ? " caf\xc3\xa9 \\\"q\\\"" : "") + "\",\"email\":\"c"
            + QByteArray::number(n) + "@example.com\",\"balance\":"
            + QByteArray::number(double(random.bounded(1000000)) / 100.0, 'g', 17)
            + ",\"active\":" + (random.bounded(2) ? "true" : "false")
            + ",\"visits\":" + QByteArray::number(random.bounded(100000)) + ",\"since\":\"2024-0"
            + QByteArray::number(1 + n % 9) + "-1" + QByteArray::number(n % 10)
            + "T12:00:00.000Z\"}}";
    }
    body += "],\"cursor\":\"" + QByteArray::number(first + changes) + "\",\"hasMore\":true}";
    return body;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const int pages = args.size() > 1 ? args.at(1).toInt() : 200;
    const int perPage = args.size() > 2 ? args.at(2).toInt() : 5000;
    const EntitySchema schema { QStringLiteral("customers"),
                                { { QStringLiteral("name"), FieldType::String },
                                  { QStringLiteral("email"), FieldType::String },
                                  { QStringLiteral("balance"), FieldType::Real },
                                  { QStringLiteral("active"), FieldType::Bool },
                                  { QStringLiteral("visits"), FieldType::Int },
                                  { QStringLiteral("since"), FieldType::DateTime } } };
    QRandomGenerator random(42);
    std::vector<QByteArray> bodies;
    qint64 bytes = 0;
    for (int i = 0; i < 8; ++i) {
        bodies.push_back(page(random, perPage, i * perPage));
        bytes += bodies.back().size();
    }

    QTextStream out(stdout);
    std::vector<double> rates;
    for (int round = 0; round < 5; ++round) {
        QElapsedTimer timer;
        timer.start();
        qint64 parsed = 0;
        for (int p = 0; p < pages; ++p) {
            ChangePage result;
            QString error;
            if (!Protocol::parseChanges(bodies[size_t(p) % bodies.size()], schema, perPage,
                                        PagingMode::Cursor, &result, &error)) {
                out << "parse failed: " << error << Qt::endl;
                return 1;
            }
            parsed += result.changes.size();
        }
        rates.push_back(double(parsed) * 1e9 / double(timer.nsecsElapsed()));
    }
    std::sort(rates.begin(), rates.end());
    out << "pages " << pages << " x " << perPage << " changes (" << bytes / 8 / perPage
        << " bytes each): median " << qint64(rates[rates.size() / 2]) << " changes/s, best "
        << qint64(rates.back()) << Qt::endl;
    return 0;
}
