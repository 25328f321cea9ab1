// parse-bench: times Protocol::parseChanges on pages in the form the server writes (compact,
// schema order), so that a parser change can be compared before and after on the same
// input. Not a test: it prints changes per second and never fails on a figure.
//
// Compare under `perf stat -e task-clock,page-faults` or callgrind, not by the rate alone:
// each page is freed before the next is parsed, and whether glibc then gives the top of the
// heap back to the system (to fault it in again on the next page, ~70 times as many page
// faults) turns on the exact sizes and order of a few small allocations, not on the parser.
//
// Built with simdjson, it also reads the same bodies through simdjson's On-Demand API into
// the same ChangePage (checked equal to the product's first), and walks them with On-Demand
// alone, building nothing (where the time goes: the JSON, or the QStrings and QVariants).
// The parsers take turns within each round (each round starting with the next one), so that
// their rates are paired; rates are by the thread's CPU time, which moves less than the
// clock on the wall on a machine that others share.
//
//   parse-bench [pages=200] [changes per page=5000] [plain|escaped]
//               [all|ours|packed|simdjson|simdjson-walk|simdjson-avx2|simdjson-avx2-walk]
//               [rounds=5]
// ("packed": ours, into ChangePage::packed, the form of the client's cursor-mode pages.)
#include "common/types.h"
#include "sources/protocol/protocolparser.h"
#ifdef BATCHSYNC_BENCH_HAVE_SIMDJSON
#include "simdjsonchanges.h"
#endif

#include <QByteArray>
#include <QCoreApplication>
#include <QRandomGenerator>
#include <QTextStream>
#include <algorithm>
#include <ctime>
#include <functional>
#include <vector>

using namespace BatchSync;

namespace {

/*! A string's text: plain, or (escaped) with escapes, accents, CJK and a surrogate pair. */
QByteArray text(const QByteArray &plain, int n, bool escaped)
{
    if (!escaped)
        return plain + (n % 10 == 0 ? " caf\xc3\xa9 \\\"q\\\"" : "");
    return plain
        + " M\xc3\xbcller \\u00e9t\\u00e9 \xe6\x9d\xb1\xe4\xba\xac \\ud83d\\ude00 "
          "\\\"q\\\"\\n\\t\xf0\x9f\x98\x80 \\u6771\\u4eac";
}

QByteArray page(QRandomGenerator &random, int changes, int first, bool escaped)
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
        body += "\"deleted\":false,\"data\":{\"name\":\""
            + text("Customer number " + QByteArray::number(n), n, escaped) + "\",\"email\":\""
            + text("c" + QByteArray::number(n) + "@example.com", n + 1, escaped) + "\",\"balance\":"
            + QByteArray::number(double(random.bounded(1000000)) / 100.0, 'g', 17)
            + ",\"active\":" + (random.bounded(2) ? "true" : "false")
            + ",\"visits\":" + QByteArray::number(random.bounded(100000)) + ",\"since\":\"2024-0"
            + QByteArray::number(1 + n % 9) + "-1" + QByteArray::number(n % 10)
            + "T12:00:00.000Z\"}}";
    }
    body += "],\"cursor\":\"" + QByteArray::number(first + changes) + "\",\"hasMore\":true}";
    return body;
}

/*! The CPU time of this thread (what others do to the caches still counts in it). */
qint64 threadCpuNanoseconds()
{
    timespec t {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return qint64(t.tv_sec) * 1000000000 + t.tv_nsec;
}

#ifdef BATCHSYNC_BENCH_HAVE_SIMDJSON
bool samePage(const ChangePage &a, const ChangePage &b)
{
    if (a.cursor != b.cursor || a.hasMore != b.hasMore || a.changes.size() != b.changes.size())
        return false;
    for (qsizetype i = 0; i < a.changes.size(); ++i) {
        const Change &x = a.changes.at(i);
        const Change &y = b.changes.at(i);
        if (x.id != y.id || x.changedAt != y.changedAt || x.deleted != y.deleted
            || x.version != y.version || x.values.size() != y.values.size()) {
            return false;
        }
        for (qsizetype v = 0; v < x.values.size(); ++v) {
            if (x.values.at(v).metaType() != y.values.at(v).metaType()
                || x.values.at(v) != y.values.at(v)) {
                return false;
            }
        }
    }
    return true;
}

/*!
    Variants of a valid \a body, all faulty but the eighth (duplicate keys: the last counts):
    each parser must refuse the faulty ones and take the other.
*/
std::vector<QByteArray> faulty(const QByteArray &body)
{
    const auto replaced
        = [&](const char *from, const char *to) { return QByteArray(body).replace(from, to); };
    return { body.left(body.size() - 1),
             body + " x",
             replaced("\"id\":\"customer-", "\"id\":7,\"x\":\""),
             replaced("\"id\":\"customer-", "\"id\":\"\",\"x\":\""),
             replaced("T09:26:53.", "T09:26:63."),
             replaced("\"deleted\":false", "\"deleted\":0"),
             replaced("\"deleted\":true}", "\"deleted\":fals}"),
             replaced("\"visits\":", "\"visits\":null,\"visits\":0.5,\"visits\":\"\",\"visits\":"),
             replaced("\"visits\":", "\"visits\":1.5"),
             replaced("\"active\":", "\"active\":\"yes\",\"x\":"),
             replaced("T12:00:00.000Z", "yesterday"),
             replaced("\"email\"", "\"e-mail\""),
             replaced("\"hasMore\":true", "\"hasMore\":1"),
             replaced("\"cursor\":\"", "\"cursor\":\"\",\"x\":\"") };
}

#endif

using Parse = std::function<qint64(const QByteArray &)>; // changes read, or -1

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const int pages = args.size() > 1 ? args.at(1).toInt() : 200;
    const int perPage = args.size() > 2 ? args.at(2).toInt() : 5000;
    const bool escaped = args.size() > 3 && args.at(3) == QLatin1String("escaped");
    const QString only = args.size() > 4 ? args.at(4) : QStringLiteral("all");
    const int rounds = args.size() > 5 ? args.at(5).toInt() : 5;
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
        bodies.push_back(page(random, perPage, i * perPage, escaped));
        bytes += bodies.back().size();
    }

    QTextStream out(stdout);
    QString error;
    const auto product = [&](const QByteArray &body) -> qint64 {
        ChangePage result;
        if (!Protocol::parseChanges(body, schema, perPage, PagingMode::Cursor, &result, &error))
            return -1;
        return result.changes.size();
    };
    // The same parser into the packed form that the client's cursor-mode pages take.
    const auto packed = [&](const QByteArray &body) -> qint64 {
        ChangePage result;
        if (!Protocol::parseChanges(body, schema, perPage, PagingMode::Cursor, &result, &error,
                                    Protocol::ChangeForm::Packed))
            return -1;
        return result.packed.size();
    };
    std::vector<std::pair<QString, Parse>> parsers { { QStringLiteral("ours"), product },
                                                     { QStringLiteral("packed"), packed } };
#ifdef BATCHSYNC_BENCH_HAVE_SIMDJSON
    const auto add = [&](const QString &name, decltype(&Bench::Generic::parseChangesSimdjson) parse,
                         qint64 (*walk)(const QByteArray &)) {
        for (const QByteArray &body : bodies) {
            ChangePage a;
            ChangePage b;
            if (!parse(body, schema, perPage, PagingMode::Cursor, &b, &error)
                || !Protocol::parseChanges(body, schema, perPage, PagingMode::Cursor, &a, &error)
                || !samePage(a, b)) {
                out << name << " and ours disagree on a page: " << error << Qt::endl;
                return false;
            }
            const std::vector<QByteArray> bad = faulty(body);
            for (size_t i = 0; i < bad.size(); ++i) {
                ChangePage unused;
                const bool took
                    = parse(bad[i], schema, perPage, PagingMode::Cursor, &unused, &error);
                if (took
                        != Protocol::parseChanges(bad[i], schema, perPage, PagingMode::Cursor,
                                                  &unused, &error)
                    || took != (i == 7)) {
                    out << name << " and ours on faulty page " << i << ": " << error << Qt::endl;
                    return false;
                }
            }
        }
        parsers.emplace_back(name, [&, parse](const QByteArray &body) -> qint64 {
            ChangePage result;
            if (!parse(body, schema, perPage, PagingMode::Cursor, &result, &error))
                return -1;
            return result.changes.size();
        });
        parsers.emplace_back(name + QStringLiteral("-walk"), walk);
        return true;
    };
    if (!add(QStringLiteral("simdjson"), &Bench::Generic::parseChangesSimdjson,
             &Bench::Generic::walkChangesSimdjson)) {
        return 1;
    }
#ifdef BATCHSYNC_BENCH_HAVE_HASWELL
    if (__builtin_cpu_supports("avx2")
        && !add(QStringLiteral("simdjson-avx2"), &Bench::Haswell::parseChangesSimdjson,
                &Bench::Haswell::walkChangesSimdjson)) {
        return 1;
    }
#endif
#endif
    if (only != QLatin1String("all")) {
        parsers.erase(std::remove_if(parsers.begin(), parsers.end(),
                                     [&](const auto &p) { return p.first != only; }),
                      parsers.end());
        if (parsers.empty()) {
            out << "no parser named " << only << Qt::endl;
            return 2;
        }
    }

    out << "pages " << pages << " x " << perPage << " changes, " << (escaped ? "escaped" : "plain")
        << " text (" << bytes / 8 / perPage << " bytes each)" << Qt::endl;
    std::vector<std::vector<double>> rates(parsers.size());
    std::vector<std::vector<double>> ratios(parsers.size()); // to ours, per round
    for (int round = 0; round < rounds; ++round) {
        for (size_t turn = 0; turn < parsers.size(); ++turn) {
            const size_t k = (size_t(round) + turn) % parsers.size();
            const qint64 cpu = threadCpuNanoseconds();
            qint64 parsed = 0;
            for (int p = 0; p < pages; ++p) {
                const qint64 n = parsers[k].second(bodies[size_t(p) % bodies.size()]);
                if (n < 0) {
                    out << parsers[k].first << ": parse failed: " << error << Qt::endl;
                    return 1;
                }
                parsed += n;
            }
            rates[k].push_back(double(parsed) * 1e9 / double(threadCpuNanoseconds() - cpu));
        }
        for (size_t k = 0; k < parsers.size(); ++k)
            ratios[k].push_back(rates[k].back() / rates[0].back());
    }
    const auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    for (size_t k = 0; k < parsers.size(); ++k) {
        out << "  " << parsers[k].first << ": median (CPU time) " << qint64(median(rates[k]))
            << " changes/s, best " << qint64(*std::max_element(rates[k].begin(), rates[k].end()))
            << " (" << qint64(median(rates[k]) * double(bytes) / 8 / perPage / 1e6) << " MB/s); to "
            << parsers[0].first << ", paired per round: median " << median(ratios[k]) << Qt::endl;
    }
    return 0;
}
