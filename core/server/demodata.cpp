#include "demodata.h"

#include "common/logging.h"
#include "server/backend/serverbackend.h"

#include <QDateTime>
#include <QRandomGenerator>
#include <cmath>
#include <functional>

namespace BatchSync::DemoData {

namespace {

// Records per entity at scale 1.0: 100,000 in all.
constexpr qint64 BaseCustomers = 20000;
constexpr qint64 BaseProducts = 5000;
constexpr qint64 BaseOrders = 50000;
constexpr qint64 BaseEvents = 25000;

// Records written per transaction: large, but bounded in memory.
constexpr qsizetype ChunkSize = 25000;

qint64 scaled(qint64 base, double scale)
{
    if (!(scale > 0))
        return 0;
    return qMax<qint64>(1, std::llround(double(base) * scale));
}

using Record = std::pair<QString, QVariantMap>;

class Generator
{
public:
    explicit Generator(quint32 seed)
        : m_random(seed)
    {
    }

    int bounded(int high) { return int(m_random.bounded(quint32(high))); }
    bool chance(int percent) { return bounded(100) < percent; }

    // 8-4-4-4-12 lower-case hex, like a random UUID.
    QString id()
    {
        static constexpr char hex[] = "0123456789abcdef";
        quint64 high = m_random.generate64();
        quint64 low = m_random.generate64();
        char text[36];
        int digit = 0;
        for (int i = 0; i < 36; ++i) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                text[i] = '-';
                continue;
            }
            quint64 &source = digit < 16 ? high : low;
            text[i] = hex[source & 0xf];
            source >>= 4;
            ++digit;
        }
        return QString::fromLatin1(text, 36);
    }

    // A time between 2019-01-01 and 2026-01-01, in the protocol's form.
    QString timestamp()
    {
        constexpr qint64 start = 1546300800000; // 2019-01-01T00:00:00Z
        constexpr qint64 span = 7 * 365LL * 24 * 3600 * 1000;
        return format(start + qint64(m_random.bounded(double(span))));
    }

    // Timestamp::format without QDateTime::toString, which dominated generating the data.
    static QString format(qint64 msSinceEpoch)
    {
        constexpr qint64 msPerDay = 24 * 3600 * 1000;
        const qint64 days = msSinceEpoch / msPerDay; // only used for times after 1970
        const QDate date = QDate(1970, 1, 1).addDays(days);
        qint64 ms = msSinceEpoch - days * msPerDay;
        char16_t text[24]
            = { u'0', u'0', u'0', u'0', u'-', u'0', u'0', u'-', u'0', u'0', u'T', u'0',
                u'0', u':', u'0', u'0', u':', u'0', u'0', u'.', u'0', u'0', u'0', u'Z' };
        const auto put = [&text](int at, int digits, qint64 value) {
            for (int i = at + digits - 1; i >= at; --i, value /= 10)
                text[i] = char16_t(u'0' + value % 10);
        };
        put(0, 4, date.year());
        put(5, 2, date.month());
        put(8, 2, date.day());
        put(11, 2, ms / 3600000);
        ms %= 3600000;
        put(14, 2, ms / 60000);
        ms %= 60000;
        put(17, 2, ms / 1000);
        put(20, 3, ms % 1000);
        return QString::fromUtf16(text, 24);
    }

    // Money-like: two decimals, from low up to high.
    double amount(double low, double high)
    {
        return std::round((low + m_random.bounded(high - low)) * 100.0) / 100.0;
    }

    template<typename T, std::size_t N> const T &pick(const T (&items)[N])
    {
        return items[bounded(int(N))];
    }

private:
    QRandomGenerator m_random;
};

// Display names (some beyond ASCII, to exercise UTF-8 end to end) and their e-mail forms.
const std::pair<const char16_t *, const char *> firstNames[] = {
    { u"Ada", "ada" },         { u"Grace", "grace" },     { u"Alan", "alan" },
    { u"Linus", "linus" },     { u"Zoë", "zoe" },         { u"José", "jose" },
    { u"Łukasz", "lukasz" },   { u"Søren", "soren" },     { u"Margaret", "margaret" },
    { u"Ken", "ken" },         { u"Barbara", "barbara" }, { u"Edsger", "edsger" },
    { u"Frances", "frances" }, { u"Donald", "donald" },   { u"Hedy", "hedy" },
    { u"Tim", "tim" },         { u"Radia", "radia" },     { u"Niklaus", "niklaus" },
    { u"Chloé", "chloe" },     { u"Björn", "bjorn" },
};
const std::pair<const char16_t *, const char *> lastNames[] = {
    { u"Lovelace", "lovelace" }, { u"Hopper", "hopper" },
    { u"Turing", "turing" },     { u"Torvalds", "torvalds" },
    { u"Müller", "mueller" },    { u"García", "garcia" },
    { u"Nowak", "nowak" },       { u"Kierkegaard", "kierkegaard" },
    { u"Hamilton", "hamilton" }, { u"Thompson", "thompson" },
    { u"Liskov", "liskov" },     { u"Dijkstra", "dijkstra" },
    { u"Allen", "allen" },       { u"Knuth", "knuth" },
    { u"Lamarr", "lamarr" },     { u"Berners-Lee", "bernerslee" },
    { u"Perlman", "perlman" },   { u"Wirth", "wirth" },
    { u"O'Brien", "obrien" },    { u"Ødegaard", "odegaard" },
};
const char16_t *const adjectives[] = {
    u"Compact", u"Durable", u"Wireless", u"Ergonomic", u"Silent", u"Portable",
    u"Smart",   u"Classic", u"Modular",  u"Rugged",    u"Slim",   u"Heated",
};
const char16_t *const nouns[] = {
    u"Keyboard", u"Lamp",  u"Kettle", u"Backpack", u"Monitor", u"Chair",
    u"Speaker",  u"Drill", u"Router", u"Blender",  u"Tent",    u"Camera",
};
const char16_t *const eventKinds[] = {
    u"login", u"logout", u"view", u"search", u"purchase", u"error", u"sync", u"export",
};
const char16_t *const words[] = {
    u"the",    u"batch",  u"request", u"took",   u"longer", u"than",    u"expected", u"while",
    u"client", u"synced", u"records", u"cursor", u"offset", u"page",    u"retry",    u"server",
    u"answer", u"queue",  u"latency", u"window", u"commit", u"journal", u"index",    u"token",
};

QString displayName(Generator &random, QString *email, int serial)
{
    const auto &first = random.pick(firstNames);
    const auto &last = random.pick(lastNames);
    *email = QStringLiteral("%1.%2%3@example.com")
                 .arg(QLatin1String(first.second), QLatin1String(last.second))
                 .arg(serial);
    return QString::fromUtf16(first.first) + u' ' + QString::fromUtf16(last.first);
}

QString payload(Generator &random)
{
    QString text;
    text.reserve(120);
    while (text.size() < 100) {
        if (!text.isEmpty())
            text += u' ';
        text += QString::fromUtf16(random.pick(words));
    }
    return text;
}

struct Keys
{
    // Built once: every record's map shares these strings.
    const QString name = QStringLiteral("name"), email = QStringLiteral("email"),
                  balance = QStringLiteral("balance"), active = QStringLiteral("active"),
                  visits = QStringLiteral("visits"), since = QStringLiteral("since"),
                  sku = QStringLiteral("sku"), title = QStringLiteral("title"),
                  price = QStringLiteral("price"), stock = QStringLiteral("stock"),
                  discontinued = QStringLiteral("discontinued"),
                  updated = QStringLiteral("updated"), customer = QStringLiteral("customer"),
                  product = QStringLiteral("product"), quantity = QStringLiteral("quantity"),
                  total = QStringLiteral("total"), paid = QStringLiteral("paid"),
                  placed = QStringLiteral("placed"), kind = QStringLiteral("kind"),
                  payload = QStringLiteral("payload"), severity = QStringLiteral("severity"),
                  at = QStringLiteral("at");
};

bool write(ServerBackend *store, const QString &entity, const QList<Record> &records,
           QString *error)
{
    for (qsizetype from = 0; from < records.size(); from += ChunkSize) {
        if (!store->upsert(entity, records.mid(from, ChunkSize), error))
            return false;
    }
    return true;
}

/*
    Writes \a records, then changes some of them again (a few twice) and deletes a few
    hundred per 100,000, so that the change log looks like a live system's.
*/
bool writeWithHistory(ServerBackend *store, Generator &random, const QString &entity,
                      QList<Record> &records, const std::function<void(QVariantMap &)> &change,
                      QString *error)
{
    if (!write(store, entity, records, error))
        return false;
    const qsizetype count = records.size();
    for (int round = 0; round < 2 && count > 0; ++round) {
        QList<Record> updates;
        const qsizetype updateCount = count / (round == 0 ? 50 : 100);
        updates.reserve(updateCount);
        for (qsizetype i = 0; i < updateCount; ++i) {
            Record &record = records[random.bounded(int(count))];
            change(record.second);
            updates.append(record);
        }
        if (!write(store, entity, updates, error))
            return false;
    }
    QStringList deleted;
    const int step = 300;
    for (qsizetype i = random.bounded(step); i < count; i += step)
        deleted.append(records.at(i).first);
    return store->remove(entity, deleted, error);
}

} // namespace

qint64 recordCount(double scale)
{
    return scaled(BaseCustomers, scale) + scaled(BaseProducts, scale) + scaled(BaseOrders, scale)
        + scaled(BaseEvents, scale);
}

bool populate(ServerBackend *store, double scale, quint32 seed, QString *error)
{
    if (!store || !store->isOpen()) {
        if (error)
            *error = QStringLiteral("the server database is not open");
        return false;
    }
    const Keys k;
    Generator random(seed);
    using F = FieldType;

    const QList<EntitySchema> schemas = {
        { QStringLiteral("customers"),
          { { k.name, F::String },
            { k.email, F::String },
            { k.balance, F::Real },
            { k.active, F::Bool },
            { k.visits, F::Int },
            { k.since, F::DateTime } } },
        { QStringLiteral("products"),
          { { k.sku, F::String },
            { k.title, F::String },
            { k.price, F::Real },
            { k.stock, F::Int },
            { k.discontinued, F::Bool },
            { k.updated, F::DateTime } } },
        { QStringLiteral("orders"),
          { { k.customer, F::String },
            { k.product, F::String },
            { k.quantity, F::Int },
            { k.total, F::Real },
            { k.paid, F::Bool },
            { k.placed, F::DateTime } } },
        { QStringLiteral("events"),
          { { k.kind, F::String },
            { k.payload, F::String },
            { k.severity, F::Int },
            { k.at, F::DateTime } } },
    };
    for (const EntitySchema &schema : schemas) {
        if (!store->addEntity(schema, error))
            return false;
    }

    QList<Record> customers;
    customers.reserve(scaled(BaseCustomers, scale));
    for (qint64 i = 0; i < scaled(BaseCustomers, scale); ++i) {
        QString email;
        const QString name = displayName(random, &email, int(i));
        QVariantMap data { { k.name, name },
                           { k.balance, random.amount(-500.0, 4500.0) },
                           { k.active, random.chance(85) },
                           { k.visits, random.bounded(500) },
                           { k.since, random.timestamp() } };
        // A few customers without an e-mail address: nulls are part of the protocol.
        data.insert(k.email, random.chance(2) ? QVariant() : QVariant(email));
        customers.append({ random.id(), data });
    }
    const auto changeCustomer = [&](QVariantMap &data) {
        data[k.balance] = random.amount(-500.0, 4500.0);
        data[k.visits] = data.value(k.visits).toInt() + 1;
    };
    if (!writeWithHistory(store, random, QStringLiteral("customers"), customers, changeCustomer,
                          error)) {
        return false;
    }

    QList<Record> products;
    products.reserve(scaled(BaseProducts, scale));
    for (qint64 i = 0; i < scaled(BaseProducts, scale); ++i) {
        const QVariantMap data {
            { k.sku, QStringLiteral("SKU-%1").arg(i, 6, 10, QLatin1Char('0')) },
            { k.title,
              QString::fromUtf16(random.pick(adjectives)) + u' '
                  + QString::fromUtf16(random.pick(nouns)) },
            { k.price, random.amount(0.99, 999.99) },
            { k.stock, random.bounded(1000) },
            { k.discontinued, random.chance(5) },
            { k.updated, random.timestamp() },
        };
        products.append({ random.id(), data });
    }
    const auto changeProduct = [&](QVariantMap &data) {
        data[k.stock] = random.bounded(1000);
        data[k.updated] = random.timestamp();
    };
    if (!writeWithHistory(store, random, QStringLiteral("products"), products, changeProduct,
                          error)) {
        return false;
    }

    QList<Record> orders;
    orders.reserve(scaled(BaseOrders, scale));
    for (qint64 i = 0; i < scaled(BaseOrders, scale); ++i) {
        const int quantity = 1 + random.bounded(9);
        const QVariantMap data {
            { k.customer,
              customers.isEmpty()
                  ? QVariant()
                  : QVariant(customers.at(random.bounded(int(customers.size()))).first) },
            { k.product,
              products.isEmpty()
                  ? QVariant()
                  : QVariant(products.at(random.bounded(int(products.size()))).first) },
            { k.quantity, quantity },
            { k.total, std::round(random.amount(1.0, 250.0) * quantity * 100.0) / 100.0 },
            { k.paid, random.chance(80) },
            { k.placed, random.timestamp() },
        };
        orders.append({ random.id(), data });
    }
    const auto changeOrder = [&](QVariantMap &data) { data[k.paid] = true; };
    if (!writeWithHistory(store, random, QStringLiteral("orders"), orders, changeOrder, error))
        return false;

    QList<Record> events;
    events.reserve(scaled(BaseEvents, scale));
    for (qint64 i = 0; i < scaled(BaseEvents, scale); ++i) {
        const QVariantMap data {
            { k.kind, QString::fromUtf16(random.pick(eventKinds)) },
            { k.payload, payload(random) },
            { k.severity, random.bounded(6) },
            { k.at, random.timestamp() },
        };
        events.append({ random.id(), data });
    }
    const auto changeEvent
        = [&](QVariantMap &data) { data[k.severity] = data.value(k.severity).toInt() + 1; };
    if (!writeWithHistory(store, random, QStringLiteral("events"), events, changeEvent, error))
        return false;

    qCDebug(lcServer) << "demo data:" << recordCount(scale) << "records, seed" << seed;
    return true;
}

} // namespace BatchSync::DemoData
