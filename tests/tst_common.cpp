#include "common/decimal.h"
#include "common/identifier.h"
#include "common/timestamp.h"
#include "common/types.h"

#include <QTest>
#include <QTimeZone>

using namespace BatchSync;

class TestCommon final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void matchesRule_data();
    void matchesRule();
    void isReserved_data();
    void isReserved();
    void check_data();
    void check();
    void printable_data();
    void printable();
    void quoted_data();
    void quoted();

    void timestampIsValid_data();
    void timestampIsValid();
    void timestampParse();
    void timestampFormat();
    void timestampRoundTrip_data();
    void timestampRoundTrip();
    void timestampOrderIsTextOrder();
    void previousMillisecond_data();
    void previousMillisecond();
    void now();

    void decimalIsValid_data();
    void decimalIsValid();
    void decimalFromJsonNumber_data();
    void decimalFromJsonNumber();

    void fieldTypeNames();
    void pagingModeNames();
    void syncStateNames();
    void errorCategoryNames();
    void entitySchemaFieldIndex();
    void syncErrorTransient();
    void syncPosition();
};

// Identifier

void TestCommon::matchesRule_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("matches");

    QTest::newRow("simple") << "customers" << true;
    QTest::newRow("upper") << "Customers" << true;
    QTest::newRow("digits") << "table2" << true;
    QTest::newRow("underscore-inside") << "order_lines" << true;
    QTest::newRow("leading-underscore") << "_x" << true;
    QTest::newRow("single-letter") << "a" << true;
    QTest::newRow("single-underscore") << "_" << true;
    QTest::newRow("64-chars") << QString(64, u'a') << true;
    QTest::newRow("65-chars") << QString(65, u'a') << false;
    QTest::newRow("64-mixed") << (u'x' + QString(63, u'9')) << true;
    QTest::newRow("empty") << QString() << false;
    QTest::newRow("leading-digit") << "1abc" << false;
    QTest::newRow("space") << "first name" << false;
    QTest::newRow("hyphen") << "first-name" << false;
    QTest::newRow("sql-injection") << "x; DROP TABLE y" << false;
    QTest::newRow("double-quote") << "a\"b" << false;
    QTest::newRow("single-quote") << "a'b" << false;
    QTest::newRow("backtick") << "a`b" << false;
    QTest::newRow("dot") << "main.customers" << false;
    QTest::newRow("unicode-letter") << QStringLiteral("kunde_ä") << false;
    QTest::newRow("unicode-only") << QStringLiteral("данные") << false;
    QTest::newRow("fullwidth-letter") << QStringLiteral("\uFF41bc") << false;
    QTest::newRow("arabic-digit") << QStringLiteral("a\u0661") << false;
    QTest::newRow("nul") << QString::fromUtf16(u"a\0b", 3) << false;
    QTest::newRow("newline") << "a\nb" << false;
    QTest::newRow("tab") << "a\tb" << false;
}

void TestCommon::matchesRule()
{
    QFETCH(QString, name);
    QFETCH(bool, matches);
    QCOMPARE(Identifier::matchesRule(name), matches);
}

void TestCommon::isReserved_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("reserved");

    QTest::newRow("id") << "id" << true;
    QTest::newRow("ID") << "ID" << true;
    QTest::newRow("Id") << "Id" << true;
    QTest::newRow("iD") << "iD" << true;
    QTest::newRow("_x") << "_x" << true;
    QTest::newRow("_sync_state") << "_sync_state" << true;
    QTest::newRow("underscore") << "_" << true;
    QTest::newRow("sqlite_master") << "sqlite_master" << true;
    QTest::newRow("SQLITE_sequence") << "SQLITE_sequence" << true;
    QTest::newRow("sqlite_") << "sqlite_" << true;
    QTest::newRow("ids") << "ids" << false;
    QTest::newRow("uid") << "uid" << false;
    QTest::newRow("id_") << "id_" << false;
    QTest::newRow("x_") << "x_" << false;
    QTest::newRow("sqlite") << "sqlite" << false;
    QTest::newRow("mysqlite_x") << "mysqlite_x" << false;
    QTest::newRow("customers") << "customers" << false;
}

void TestCommon::isReserved()
{
    QFETCH(QString, name);
    QFETCH(bool, reserved);
    QCOMPARE(Identifier::isReserved(name), reserved);
}

void TestCommon::check_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("what");
    // Empty: accepted; otherwise a substring of the message.
    QTest::addColumn<QString>("expected");

    QTest::newRow("ok-entity") << "customers"
                               << "entity" << QString();
    QTest::newRow("ok-field") << "balance"
                              << "field" << QString();
    QTest::newRow("ok-64") << QString(64, u'b') << "field" << QString();
    QTest::newRow("empty") << QString() << "entity"
                           << "entity name is empty";
    QTest::newRow("65") << QString(65, u'b') << "field"
                        << "is not a valid identifier";
    QTest::newRow("injection") << "x; DROP TABLE y"
                               << "entity"
                               << "entity name \"x; DROP TABLE y\" is not a valid identifier";
    QTest::newRow("space") << "first name"
                           << "field"
                           << "field name \"first name\" is not a valid identifier";
    QTest::newRow("quote") << "a\"b"
                           << "field"
                           << "field name \"a\\u0022b\" is not a valid";
    QTest::newRow("unicode") << QStringLiteral("straße") << "field"
                             << "is not a valid identifier";
    QTest::newRow("id") << "id"
                        << "field"
                        << "field name \"id\" is reserved";
    QTest::newRow("ID") << "ID"
                        << "field"
                        << "field name \"ID\" is reserved";
    QTest::newRow("_x") << "_x"
                        << "entity"
                        << "entity name \"_x\" is reserved";
    QTest::newRow("sqlite_master") << "sqlite_master"
                                   << "entity"
                                   << "entity name \"sqlite_master\" is reserved";
}

void TestCommon::check()
{
    QFETCH(QString, name);
    QFETCH(QString, what);
    QFETCH(QString, expected);
    const QString message = Identifier::check(name, what);
    if (expected.isEmpty()) {
        QVERIFY2(message.isEmpty(), qPrintable(message));
    } else {
        QVERIFY2(message.contains(expected), qPrintable(message));
    }
}

void TestCommon::printable_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");

    QTest::newRow("plain") << "customers"
                           << "customers";
    QTest::newRow("spaces-kept") << "x; DROP TABLE y"
                                 << "x; DROP TABLE y";
    QTest::newRow("quote") << "a\"b"
                           << "a\\u0022b";
    QTest::newRow("backslash") << "a\\b"
                               << "a\\u005cb";
    QTest::newRow("newline") << "a\nb"
                             << "a\\u000ab";
    QTest::newRow("nul") << QString::fromUtf16(u"a\0b", 3) << "a\\u0000b";
    QTest::newRow("escape") << "\x1b[2J"
                            << "\\u001b[2J";
    QTest::newRow("unicode-letter") << QStringLiteral("straße") << QStringLiteral("straße");
    QTest::newRow("80") << QString(80, u'x') << QString(80, u'x');
    QTest::newRow("81") << QString(81, u'x') << QString(80, u'x') + QStringLiteral("…");
    QTest::newRow("huge") << QString(100000, u'y') << QString(80, u'y') + QStringLiteral("…");
}

void TestCommon::printable()
{
    QFETCH(QString, name);
    QFETCH(QString, expected);
    QCOMPARE(Identifier::printable(name), expected);
}

void TestCommon::quoted_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");

    QTest::newRow("plain") << "customers"
                           << "\"customers\"";
    QTest::newRow("underscore") << "_sync_state"
                                << "\"_sync_state\"";
    QTest::newRow("embedded-quote") << "a\"b"
                                    << "\"a\"\"b\"";
    QTest::newRow("only-quote") << "\""
                                << "\"\"\"\"";
    QTest::newRow("empty") << QString() << "\"\"";
}

void TestCommon::quoted()
{
    QFETCH(QString, name);
    QFETCH(QString, expected);
    QCOMPARE(Identifier::quoted(name), expected);
}

// Timestamp

void TestCommon::timestampIsValid_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");

    QTest::newRow("ok") << "2026-11-26T06:20:16.123Z" << true;
    QTest::newRow("epoch") << "1970-01-01T00:00:00.000Z" << true;
    QTest::newRow("end-of-day") << "2025-12-31T23:59:59.999Z" << true;
    QTest::newRow("leap-day") << "2024-02-29T12:00:00.000Z" << true;
    QTest::newRow("not-leap-day") << "2025-02-29T12:00:00.000Z" << false;
    QTest::newRow("century-not-leap") << "1900-02-29T00:00:00.000Z" << false;
    QTest::newRow("feb-30") << "2024-02-30T00:00:00.000Z" << false;
    QTest::newRow("april-31") << "2025-04-31T00:00:00.000Z" << false;
    QTest::newRow("month-13") << "2025-13-01T00:00:00.000Z" << false;
    QTest::newRow("month-00") << "2025-00-01T00:00:00.000Z" << false;
    QTest::newRow("day-00") << "2025-01-00T00:00:00.000Z" << false;
    QTest::newRow("hour-24") << "2025-01-01T24:00:00.000Z" << false;
    QTest::newRow("minute-60") << "2025-01-01T00:60:00.000Z" << false;
    QTest::newRow("second-60") << "2025-01-01T00:00:60.000Z" << false;
    QTest::newRow("no-millis") << "2025-01-01T00:00:00Z" << false;
    QTest::newRow("two-digit-millis") << "2025-01-01T00:00:00.00Z" << false;
    QTest::newRow("micros") << "2025-01-01T00:00:00.000000Z" << false;
    QTest::newRow("missing-z") << "2025-01-01T00:00:00.000" << false;
    QTest::newRow("missing-z-padded") << "2025-01-01T00:00:00.0000" << false;
    QTest::newRow("lower-z") << "2025-01-01T00:00:00.000z" << false;
    QTest::newRow("offset") << "2025-01-01T00:00:00.000+01:00" << false;
    QTest::newRow("zero-offset") << "2025-01-01T00:00:00.000+00" << false;
    QTest::newRow("space-separator") << "2025-01-01 00:00:00.000Z" << false;
    QTest::newRow("lower-t") << "2025-01-01t00:00:00.000Z" << false;
    QTest::newRow("slashes") << "2025/01/01T00:00:00.000Z" << false;
    QTest::newRow("comma-millis") << "2025-01-01T00:00:00,000Z" << false;
    QTest::newRow("letters") << "2025-0a-01T00:00:00.000Z" << false;
    QTest::newRow("sign") << "+025-01-01T00:00:00.000Z" << false;
    QTest::newRow("arabic-digits") << QStringLiteral("\u0662025-01-01T00:00:00.000Z") << false;
    QTest::newRow("leading-space") << " 2025-01-01T00:00:00.000Z" << false;
    QTest::newRow("trailing-space") << "2025-01-01T00:00:00.000Z " << false;
    QTest::newRow("date-only") << "2025-01-01" << false;
    QTest::newRow("empty") << QString() << false;
    QTest::newRow("garbage-24") << "xxxxxxxxxxxxxxxxxxxxxxxx" << false;
}

void TestCommon::timestampIsValid()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QCOMPARE(Timestamp::isValid(text), valid);
    QCOMPARE(Timestamp::parse(text).isValid(), valid);
}

void TestCommon::timestampParse()
{
    const QDateTime parsed = Timestamp::parse(u"2026-11-26T06:20:16.123Z");
    QVERIFY(parsed.isValid());
    QCOMPARE(parsed.timeSpec(), Qt::UTC);
    QCOMPARE(parsed.date(), QDate(2026, 11, 26));
    QCOMPARE(parsed.time(), QTime(6, 20, 16, 123));
    QVERIFY(!Timestamp::parse(u"2025-01-01T24:00:00.000Z").isValid());
}

void TestCommon::timestampFormat()
{
    QCOMPARE(Timestamp::format(QDateTime(QDate(2025, 1, 2), QTime(3, 4, 5, 6), Qt::UTC)),
             QStringLiteral("2025-01-02T03:04:05.006Z"));
    // Converted to UTC first.
    const QDateTime plusTwo(QDate(2025, 1, 2), QTime(3, 4, 5, 6), QTimeZone(7200));
    QCOMPARE(Timestamp::format(plusTwo), QStringLiteral("2025-01-02T01:04:05.006Z"));
    const QDateTime minusOne(QDate(2025, 12, 31), QTime(23, 30, 0, 0), QTimeZone(-3600));
    QCOMPARE(Timestamp::format(minusOne), QStringLiteral("2026-01-01T00:30:00.000Z"));
}

void TestCommon::timestampRoundTrip_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("ordinary") << "2026-11-26T06:20:16.123Z";
    QTest::newRow("midnight") << "2025-01-01T00:00:00.000Z";
    QTest::newRow("last-ms") << "2025-12-31T23:59:59.999Z";
    QTest::newRow("leap") << "2024-02-29T23:59:59.999Z";
    QTest::newRow("far-future") << "9999-12-31T23:59:59.999Z";
    QTest::newRow("year-1000") << "1000-06-15T12:00:00.500Z";
}

void TestCommon::timestampRoundTrip()
{
    QFETCH(QString, text);
    const QDateTime parsed = Timestamp::parse(text);
    QVERIFY(parsed.isValid());
    QCOMPARE(Timestamp::format(parsed), text);
    QCOMPARE(Timestamp::parse(Timestamp::format(parsed)), parsed);
}

void TestCommon::timestampOrderIsTextOrder()
{
    const QDateTime base(QDate(2025, 3, 30), QTime(0, 59, 59, 990), Qt::UTC);
    QString previous = Timestamp::format(base);
    for (int i = 1; i < 2000; i += 7) {
        const QString next = Timestamp::format(base.addMSecs(qint64(i) * 997));
        QVERIFY2(previous < next, qPrintable(previous + u' ' + next));
        previous = next;
    }
}

void TestCommon::previousMillisecond_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");

    QTest::newRow("ordinary") << "2026-11-26T06:20:16.123Z"
                              << "2026-11-26T06:20:16.122Z";
    QTest::newRow("second-boundary") << "2026-11-26T06:20:16.000Z"
                                     << "2026-11-26T06:20:15.999Z";
    QTest::newRow("minute-boundary") << "2026-11-26T06:20:00.000Z"
                                     << "2026-11-26T06:19:59.999Z";
    QTest::newRow("hour-boundary") << "2026-11-26T06:00:00.000Z"
                                   << "2026-11-26T05:59:59.999Z";
    QTest::newRow("day-boundary") << "2026-11-26T00:00:00.000Z"
                                  << "2026-11-25T23:59:59.999Z";
    QTest::newRow("month-boundary") << "2026-03-01T00:00:00.000Z"
                                    << "2026-02-28T23:59:59.999Z";
    QTest::newRow("leap-month-boundary") << "2024-03-01T00:00:00.000Z"
                                         << "2024-02-29T23:59:59.999Z";
    QTest::newRow("year-boundary") << "2026-01-01T00:00:00.000Z"
                                   << "2025-12-31T23:59:59.999Z";
    QTest::newRow("invalid") << "2026-01-01T00:00:00Z" << QString();
    QTest::newRow("empty") << QString() << QString();
}

void TestCommon::previousMillisecond()
{
    QFETCH(QString, text);
    QFETCH(QString, expected);
    const QString previous = Timestamp::previousMillisecond(text);
    QCOMPARE(previous, expected);
    if (!expected.isEmpty()) {
        QVERIFY(Timestamp::isValid(previous));
        QVERIFY(previous < text);
    }
}

void TestCommon::now()
{
    const QDateTime before = QDateTime::currentDateTimeUtc().addMSecs(-1);
    const QString text = Timestamp::now();
    const QDateTime after = QDateTime::currentDateTimeUtc().addMSecs(1);
    QVERIFY2(Timestamp::isValid(text), qPrintable(text));
    const QDateTime parsed = Timestamp::parse(text);
    QVERIFY(parsed >= before.addMSecs(-1) && parsed <= after);
}

// decimal.h

void TestCommon::decimalIsValid_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("problem"); // a word of the reason; empty: valid

    QTest::newRow("integer") << "12"
                             << "";
    QTest::newRow("money") << "12.50"
                           << "";
    QTest::newRow("negative fraction") << "-0.003"
                                       << "";
    QTest::newRow("zero") << "0"
                          << "";
    QTest::newRow("negative zero") << "-0"
                                   << "";
    QTest::newRow("zero with scale") << "0.0000000000"
                                     << "";
    QTest::newRow("trailing zeros kept") << "1.5000000000"
                                         << "";
    QTest::newRow("38 digits") << "12345678901234567890.123456789012345678"
                               << "";
    QTest::newRow("38 digits negative") << "-99999999999999999999999999999999999999"
                                        << "";
    QTest::newRow("leading fraction zeros are not significant")
        << "0.00000000000000000000000000000000000000000012345"
        << "";
    QTest::newRow("39 digits") << "123456789012345678901234567890123456789"
                               << "39 significant";
    QTest::newRow("39 digits with trailing zeros") << "1.00000000000000000000000000000000000000"
                                                   << "39 significant";
    QTest::newRow("39 digits across the point") << "1234567890123456789.01234567890123456789"
                                                << "39 significant";
    QTest::newRow("exponent") << "1e3"
                              << "exponent";
    QTest::newRow("exponent upper") << "1.5E+3"
                                    << "exponent";
    QTest::newRow("plus") << "+1"
                          << "plain notation";
    QTest::newRow("leading zero") << "007"
                                  << "leading zero";
    QTest::newRow("leading zero before point") << "00.5"
                                               << "leading zero";
    QTest::newRow("negative leading zero") << "-01"
                                           << "leading zero";
    QTest::newRow("no integer part") << ".5"
                                     << "plain notation";
    QTest::newRow("no fraction digits") << "5."
                                        << "plain notation";
    QTest::newRow("lone minus") << "-"
                                << "plain notation";
    QTest::newRow("empty") << ""
                           << "empty";
    QTest::newRow("leading space") << " 1"
                                   << "plain notation";
    QTest::newRow("trailing space") << "1 "
                                    << "plain notation";
    QTest::newRow("comma") << "1,5"
                           << "plain notation";
    QTest::newRow("two points") << "1.2.3"
                                << "plain notation";
    QTest::newRow("NaN") << "NaN"
                         << "plain notation";
    QTest::newRow("Infinity") << "Infinity"
                              << "plain notation";
    QTest::newRow("hex") << "0x10"
                         << "plain notation";
    QTest::newRow("full-width digits") << "\uFF11\uFF12"
                                       << "plain notation";
    QTest::newRow("Arabic-Indic digits") << "\u0661"
                                         << "plain notation";
}

void TestCommon::decimalIsValid()
{
    QFETCH(QString, text);
    QFETCH(QString, problem);
    QCOMPARE(Decimal::isValid(text), problem.isEmpty());
    const QString reason = Decimal::problem(text);
    if (problem.isEmpty())
        QCOMPARE(reason, QString());
    else
        QVERIFY2(reason.contains(problem), qPrintable(reason));
}

void TestCommon::decimalFromJsonNumber_data()
{
    QTest::addColumn<QString>("number");
    QTest::addColumn<QString>("plain"); // "-": refused
    QTest::addColumn<bool>("tooLong"); // refused as a number too long, not as no number

    QTest::newRow("plain kept as written") << "12.50"
                                           << "12.50" << false;
    QTest::newRow("integer") << "42"
                             << "42" << false;
    QTest::newRow("exponent") << "1.5E+3"
                              << "1500" << false;
    QTest::newRow("exponent lower") << "1.5e3"
                                    << "1500" << false;
    QTest::newRow("exponent inside") << "1.2345e2"
                                     << "123.45" << false;
    QTest::newRow("negative exponent") << "25e-4"
                                       << "0.0025" << false;
    QTest::newRow("negative number") << "-1.5e-1"
                                     << "-0.15" << false;
    QTest::newRow("trailing zeros kept") << "1.50e1"
                                         << "15.0" << false;
    QTest::newRow("exponent zero") << "7e0"
                                   << "7" << false;
    QTest::newRow("zero with exponent") << "0e5"
                                        << "0" << false;
    QTest::newRow("negative zero with exponent") << "-0.0e-7"
                                                 << "-0" << false;
    QTest::newRow("fraction moved left of zero") << "0.5e-2"
                                                 << "0.005" << false;
    QTest::newRow("38 digits from an exponent")
        << "1.2345678901234567890123456789012345678e37"
        << "12345678901234567890123456789012345678" << false;
    QTest::newRow("39 digits from an exponent") << "1e38"
                                                << "-" << true;
    QTest::newRow("huge exponent") << "1e999999999999"
                                   << "-" << true;
    QTest::newRow("tiny exponent") << "1e-999999999999"
                                   << "-" << true;
    QTest::newRow("39 digits plain") << "123456789012345678901234567890123456789"
                                     << "-" << true;
    QTest::newRow("no exponent digits") << "1e"
                                        << "-" << false;
    QTest::newRow("exponent sign only") << "1e+"
                                        << "-" << false;
    QTest::newRow("leading zero") << "01e2"
                                  << "-" << false;
    QTest::newRow("not a number") << "abc"
                                  << "-" << false;
    QTest::newRow("empty") << ""
                           << "-" << false;
}

void TestCommon::decimalFromJsonNumber()
{
    QFETCH(QString, number);
    QFETCH(QString, plain);
    QFETCH(bool, tooLong);
    bool longNumber = !tooLong;
    const std::optional<QString> result = Decimal::fromJsonNumber(number, &longNumber);
    QCOMPARE(longNumber, tooLong);
    if (plain == u"-") {
        QCOMPARE(result, std::nullopt);
    } else {
        QCOMPARE(result, std::optional<QString>(plain));
        QVERIFY(Decimal::isValid(*result));
    }
}

// types.h

void TestCommon::fieldTypeNames()
{
    const QList<std::pair<FieldType, QString>> expected = {
        { FieldType::String, QStringLiteral("string") },
        { FieldType::Int, QStringLiteral("int") },
        { FieldType::Real, QStringLiteral("real") },
        { FieldType::Bool, QStringLiteral("bool") },
        { FieldType::DateTime, QStringLiteral("datetime") },
        { FieldType::Decimal, QStringLiteral("decimal") },
    };
    for (const auto &[type, name] : expected) {
        QCOMPARE(fieldTypeName(type), name);
        QCOMPARE(fieldTypeFromName(name), std::optional<FieldType>(type));
    }
    QCOMPARE(fieldTypeFromName(u"String"), std::nullopt);
    QCOMPARE(fieldTypeFromName(u"blob"), std::nullopt);
    QCOMPARE(fieldTypeFromName(u"integer"), std::nullopt);
    QCOMPARE(fieldTypeFromName(u""), std::nullopt);
    QCOMPARE(fieldTypeFromName(u" int"), std::nullopt);
}

void TestCommon::pagingModeNames()
{
    for (PagingMode mode : { PagingMode::Cursor, PagingMode::Offset })
        QCOMPARE(pagingModeFromName(pagingModeName(mode)), std::optional<PagingMode>(mode));
    QCOMPARE(pagingModeName(PagingMode::Cursor), QStringLiteral("cursor"));
    QCOMPARE(pagingModeName(PagingMode::Offset), QStringLiteral("offset"));
    QCOMPARE(pagingModeFromName(u"Cursor"), std::nullopt);
    QCOMPARE(pagingModeFromName(u"keyset"), std::nullopt);
}

void TestCommon::syncStateNames()
{
    const SyncState states[]
        = { SyncState::Idle,   SyncState::Queued,    SyncState::Counting, SyncState::Running,
            SyncState::Paused, SyncState::Completed, SyncState::Failed };
    QStringList names;
    for (SyncState state : states) {
        const QString name = syncStateName(state);
        QVERIFY(!name.isEmpty());
        QCOMPARE(name, name.toLower());
        QVERIFY2(!names.contains(name), qPrintable(name));
        names.append(name);
        QCOMPARE(syncStateFromName(name), std::optional<SyncState>(state));
    }
    QCOMPARE(syncStateName(SyncState::Paused), QStringLiteral("paused"));
    QCOMPARE(syncStateFromName(u"PAUSED"), std::nullopt);
    QCOMPARE(syncStateFromName(u"unknown"), std::nullopt);
}

void TestCommon::errorCategoryNames()
{
    const ErrorCategory categories[]
        = { ErrorCategory::None,    ErrorCategory::Network,  ErrorCategory::Auth,
            ErrorCategory::Request, ErrorCategory::Protocol, ErrorCategory::Storage,
            ErrorCategory::Aborted };
    QStringList names;
    for (ErrorCategory category : categories) {
        const QString name = errorCategoryName(category);
        QVERIFY(!name.isEmpty());
        QVERIFY2(!names.contains(name), qPrintable(name));
        names.append(name);
    }
    QCOMPARE(errorCategoryName(ErrorCategory::Network), QStringLiteral("network"));
}

void TestCommon::entitySchemaFieldIndex()
{
    EntitySchema schema;
    schema.name = QStringLiteral("customers");
    schema.fields = { { QStringLiteral("name"), FieldType::String },
                      { QStringLiteral("balance"), FieldType::Real } };
    QCOMPARE(schema.fieldIndex(u"name"), 0);
    QCOMPARE(schema.fieldIndex(u"balance"), 1);
    QCOMPARE(schema.fieldIndex(u"Balance"), -1);
    QCOMPARE(schema.fieldIndex(u"missing"), -1);

    EntitySchema copy = schema;
    QCOMPARE(copy, schema);
    copy.fields[1].type = FieldType::Int;
    QVERIFY(copy != schema);
}

void TestCommon::syncErrorTransient()
{
    SyncError error;
    QVERIFY(!error.isError());
    QVERIFY(!error.isTransient());
    QCOMPARE(error.retryAfterSeconds, -1);
    error.category = ErrorCategory::Network;
    QVERIFY(error.isError());
    QVERIFY(error.isTransient());
    for (ErrorCategory category :
         { ErrorCategory::Auth, ErrorCategory::Request, ErrorCategory::Protocol,
           ErrorCategory::Storage, ErrorCategory::Aborted }) {
        error.category = category;
        QVERIFY(error.isError());
        QVERIFY(!error.isTransient());
    }
}

void TestCommon::syncPosition()
{
    SyncPosition position;
    QVERIFY(position.isStart());
    position.cursor = QStringLiteral("42");
    QVERIFY(!position.isStart());
    QVERIFY(position != SyncPosition());
    QCOMPARE(position, (SyncPosition { QStringLiteral("42"), QString() }));
}

QTEST_GUILESS_MAIN(TestCommon)
#include "tst_common.moc"
