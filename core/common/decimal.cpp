#include "decimal.h"

namespace BatchSync::Decimal {

namespace {

enum class Fault { None, Empty, Form, Exponent, LeadingZero, TooLong };

bool isDigit(QChar c)
{
    return c >= u'0' && c <= u'9';
}

// One reading of plain notation; \a significant receives the significant digits.
Fault check(QStringView text, int *significant)
{
    *significant = 0;
    if (text.isEmpty())
        return Fault::Empty;
    qsizetype p = 0;
    if (text.at(p) == u'-')
        ++p;
    const qsizetype integerStart = p;
    while (p < text.size() && isDigit(text.at(p)))
        ++p;
    if (p == integerStart)
        return Fault::Form;
    if (text.at(integerStart) == u'0' && p - integerStart > 1)
        return Fault::LeadingZero;
    if (p < text.size() && text.at(p) == u'.') {
        const qsizetype fractionStart = ++p;
        while (p < text.size() && isDigit(text.at(p)))
            ++p;
        if (p == fractionStart)
            return Fault::Form;
    }
    if (p < text.size())
        return text.at(p) == u'e' || text.at(p) == u'E' ? Fault::Exponent : Fault::Form;
    bool counting = false;
    for (qsizetype i = integerStart; i < text.size(); ++i) {
        const QChar c = text.at(i);
        counting = counting || (isDigit(c) && c != u'0');
        if (counting && isDigit(c))
            ++*significant;
    }
    return *significant > MaxSignificantDigits ? Fault::TooLong : Fault::None;
}

// Plain text longer than this is not made from an exponent (1e-100000 would be 100,002
// characters of zeros); no decimal type of a database writes such a value.
constexpr qsizetype MaxPlainLength = 1000;

// fromJsonNumber(); \a tooLong: a JSON number whose plain form is too long.
std::optional<QString> plainNumber(QStringView text, bool *tooLong)
{
    int significant = 0;
    const qsizetype e = text.indexOf(u'e', 0, Qt::CaseInsensitive);
    if (e < 0) {
        const Fault fault = check(text, &significant);
        *tooLong = fault == Fault::TooLong;
        return fault == Fault::None ? std::optional<QString>(text.toString()) : std::nullopt;
    }

    const QStringView mantissa = text.left(e);
    QStringView exponentText = text.mid(e + 1);
    const Fault fault = check(mantissa, &significant);
    if (fault != Fault::None && fault != Fault::TooLong)
        return std::nullopt;
    const bool negative = mantissa.startsWith(u'-');
    if (exponentText.startsWith(u'+') || exponentText.startsWith(u'-'))
        exponentText = exponentText.mid(1);
    if (exponentText.isEmpty())
        return std::nullopt;
    qint64 exponent = 0;
    for (const QChar c : exponentText) {
        if (!isDigit(c))
            return std::nullopt;
        exponent = std::min<qint64>(exponent * 10 + (c.unicode() - u'0'), MaxPlainLength * 2);
    }
    if (text.at(e + 1) == u'-')
        exponent = -exponent;
    // A JSON number from here on: what fails is its length.
    *tooLong = true;
    if (fault == Fault::TooLong)
        return std::nullopt;

    // The digits without the point, and where the point goes after the exponent moves it.
    QString digits = mantissa.mid(negative ? 1 : 0).toString();
    const qsizetype dot = digits.indexOf(u'.');
    const qsizetype integerDigits = dot < 0 ? digits.size() : dot;
    if (dot >= 0)
        digits.remove(dot, 1);
    if (significant == 0) { // zero, whatever the exponent
        *tooLong = false;
        return negative ? QStringLiteral("-0") : QStringLiteral("0");
    }
    const qint64 point = integerDigits + exponent;
    if (point > digits.size() + MaxSignificantDigits || -point > MaxPlainLength)
        return std::nullopt;

    QString plain;
    if (point <= 0)
        plain = QStringLiteral("0.") + QString(-point, u'0') + digits;
    else if (point >= digits.size())
        plain = digits + QString(point - digits.size(), u'0');
    else
        plain = digits.left(point) + u'.' + digits.mid(point);
    // The integer part without its leading zeros (moving the point right can leave some).
    qsizetype zeros = 0;
    while (zeros + 1 < plain.size() && plain.at(zeros) == u'0' && isDigit(plain.at(zeros + 1)))
        ++zeros;
    plain.remove(0, zeros);
    if (negative)
        plain.prepend(u'-');
    if (check(plain, &significant) != Fault::None)
        return std::nullopt;
    *tooLong = false;
    return plain;
}

} // namespace

bool isValid(QStringView text)
{
    int significant = 0;
    return check(text, &significant) == Fault::None;
}

QString problem(QStringView text)
{
    int significant = 0;
    switch (check(text, &significant)) {
    case Fault::None:
        return QString();
    case Fault::Empty:
        return QStringLiteral("is empty");
    case Fault::Form:
        return QStringLiteral("is not a number in plain notation (like 12.50 or -0.003)");
    case Fault::Exponent:
        return QStringLiteral("has an exponent; a decimal is written in plain notation (like "
                              "12.50 or -0.003)");
    case Fault::LeadingZero:
        return QStringLiteral("has a leading zero");
    case Fault::TooLong:
        return QStringLiteral("has %1 significant digits; at most %2 are allowed")
            .arg(significant)
            .arg(MaxSignificantDigits);
    }
    return QString();
}

std::optional<QString> fromJsonNumber(QStringView text, bool *tooLong)
{
    bool longNumber = false;
    const std::optional<QString> plain = plainNumber(text, &longNumber);
    if (tooLong)
        *tooLong = !plain && longNumber;
    return plain;
}

} // namespace BatchSync::Decimal
