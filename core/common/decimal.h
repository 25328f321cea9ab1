#pragma once

#include <QString>
#include <QStringView>
#include <optional>

/*!
    \file decimal.h
    The protocol's exact \c decimal values: text in plain notation, never passed through a
    double. Pure functions; any thread.

    Plain notation is JSON's number grammar without an exponent: an optional '-', then "0" or
    a digit 1-9 followed by digits, then optionally '.' and at least one digit. So "12.50",
    "-0.003", "0" and "-0" are plain; "007", "+1", ".5", "5.", "1e3", " 1" and "" are not. At
    most MaxSignificantDigits significant digits: the digits from the first non-zero one to the
    end, trailing zeros included ("0.00120" has 3, "100" has 3, "0" has none). A value is kept
    as it was written: "12.50" stays "12.50".
*/

namespace BatchSync::Decimal {

/*! The most significant digits a decimal value may have. */
constexpr int MaxSignificantDigits = 38;

/*! Whether \a text is a decimal value in plain notation (see the file's description). */
bool isValid(QStringView text);

/*!
    A JSON number's text (\a text follows JSON's number grammar, exponent allowed) as a decimal
    value in plain notation, exactly: "1.5E+3" is "1500", "25e-4" is "0.0025", and text without
    an exponent is kept as it is. nullopt when \a text is not a JSON number or its plain form
    is not a valid decimal (more than MaxSignificantDigits significant digits, or an exponent
    that would write more than 1,000 zeros after the point); then \a tooLong, if given, says
    whether it was a JSON number all the same.
*/
std::optional<QString> fromJsonNumber(QStringView text, bool *tooLong = nullptr);

/*!
    Why \a text is not a valid decimal value, in words ("has an exponent", "has 39 significant
    digits; at most 38 are allowed"), or an empty string when it is.
*/
QString problem(QStringView text);

} // namespace BatchSync::Decimal
