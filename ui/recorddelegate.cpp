#include "recorddelegate.h"

#include "common/decimal.h"
#include "common/types.h"
#include "recordmodel.h"

#include <QComboBox>
#include <QDateTimeEdit>
#include <QLineEdit>
#include <QLocale>
#include <QRegularExpression>
#include <QValidator>
#include <cmath>

namespace BatchSync::Ui {

namespace {

// QIntValidator stops at 32 bits; the database's integers have 64.
class Int64Validator final : public QValidator
{
public:
    using QValidator::QValidator;

    State validate(QString &input, int &) const override
    {
        static const QRegularExpression digits(QStringLiteral("^\\s*[+-]?\\d*\\s*$"));
        const QString text = input.trimmed();
        if (text.isEmpty())
            return Acceptable; // NULL
        if (!digits.match(input).hasMatch())
            return Invalid;
        bool ok = false;
        text.toLongLong(&ok);
        if (ok)
            return Acceptable;
        // A lone sign may still become a number; more digits never bring one back in range.
        return text.size() == 1 ? Intermediate : Invalid;
    }
};

// A number with '.' whatever the locale says (QDoubleValidator follows the locale).
class RealValidator final : public QValidator
{
public:
    using QValidator::QValidator;

    State validate(QString &input, int &) const override
    {
        static const QRegularExpression partial(
            QStringLiteral("^\\s*[+-]?\\d*\\.?\\d*([eE][+-]?\\d*)?\\s*$"));
        const QString text = input.trimmed();
        if (text.isEmpty())
            return Acceptable; // NULL
        bool ok = false;
        const double value = QLocale::c().toDouble(text, &ok);
        if (ok && std::isfinite(value))
            return Acceptable;
        return partial.match(input).hasMatch() ? Intermediate : Invalid;
    }
};

// An exact decimal in plain notation (Decimal::isValid): its text is stored as typed.
class DecimalValidator final : public QValidator
{
public:
    using QValidator::QValidator;

    State validate(QString &input, int &) const override
    {
        static const QRegularExpression partial(QStringLiteral("^\\s*-?\\d*\\.?\\d*\\s*$"));
        const QString text = input.trimmed();
        if (text.isEmpty() || Decimal::isValid(text))
            return Acceptable; // empty: NULL
        return partial.match(input).hasMatch() ? Intermediate : Invalid;
    }
};

class NonEmptyValidator final : public QValidator
{
public:
    using QValidator::QValidator;

    State validate(QString &input, int &) const override
    {
        return input.isEmpty() ? Intermediate : Acceptable;
    }
};

FieldType typeOf(const QModelIndex &index)
{
    return FieldType(index.data(RecordModel::FieldTypeRole).toInt());
}

bool isIdColumn(const QModelIndex &index)
{
    return index.model()->headerData(index.column(), Qt::Horizontal).toString() == u"id";
}

} // namespace

RecordDelegate::RecordDelegate(QObject *parent)
    : QStyledItemDelegate(parent)
{
}

QString RecordDelegate::dateTimeFormat()
{
    return QStringLiteral("yyyy-MM-dd HH:mm:ss.zzz 'UTC'");
}

QWidget *RecordDelegate::createEditor(QWidget *parent, const QStyleOptionViewItem &,
                                      const QModelIndex &index) const
{
    switch (typeOf(index)) {
    case FieldType::Bool: {
        auto *combo = new QComboBox(parent);
        combo->setObjectName(QStringLiteral("boolEditor"));
        combo->addItem(tr("true"), qlonglong(1));
        combo->addItem(tr("false"), qlonglong(0));
        combo->addItem(tr("null"), QVariant());
        return combo;
    }
    case FieldType::DateTime: {
        auto *edit = new QDateTimeEdit(parent);
        edit->setObjectName(QStringLiteral("dateTimeEditor"));
        edit->setTimeSpec(Qt::UTC);
        edit->setDisplayFormat(dateTimeFormat());
        edit->setMinimumDateTime(QDateTime(QDate(1, 1, 1), QTime(0, 0), Qt::UTC));
        edit->setMaximumDateTime(QDateTime(QDate(9999, 12, 31), QTime(23, 59, 59, 999), Qt::UTC));
        return edit;
    }
    case FieldType::Int: {
        auto *edit = new QLineEdit(parent);
        edit->setObjectName(QStringLiteral("intEditor"));
        edit->setValidator(new Int64Validator(edit));
        edit->setPlaceholderText(tr("null"));
        return edit;
    }
    case FieldType::Real: {
        auto *edit = new QLineEdit(parent);
        edit->setObjectName(QStringLiteral("realEditor"));
        edit->setValidator(new RealValidator(edit));
        edit->setPlaceholderText(tr("null"));
        return edit;
    }
    case FieldType::Decimal: {
        auto *edit = new QLineEdit(parent);
        edit->setObjectName(QStringLiteral("decimalEditor"));
        edit->setValidator(new DecimalValidator(edit));
        edit->setPlaceholderText(tr("null"));
        return edit;
    }
    case FieldType::String:
    default: { // any other type is edited as its text
        auto *edit = new QLineEdit(parent);
        edit->setObjectName(QStringLiteral("textEditor"));
        if (isIdColumn(index))
            edit->setValidator(new NonEmptyValidator(edit));
        return edit;
    }
    }
}

void RecordDelegate::setEditorData(QWidget *editor, const QModelIndex &index) const
{
    const QVariant value = index.data(Qt::EditRole);
    if (auto *combo = qobject_cast<QComboBox *>(editor)) {
        combo->setCurrentIndex(value.isNull() ? 2 : (value.toLongLong() != 0 ? 0 : 1));
    } else if (auto *edit = qobject_cast<QDateTimeEdit *>(editor)) {
        QDateTime time = QDateTime::fromString(value.toString(), Qt::ISODateWithMs);
        if (!time.isValid())
            time = QDateTime::currentDateTimeUtc();
        edit->setDateTime(time.toUTC());
    } else if (auto *line = qobject_cast<QLineEdit *>(editor)) {
        if (value.isNull())
            line->clear();
        else if (value.typeId() == QMetaType::Double)
            line->setText(
                QLocale::c().toString(value.toDouble(), 'g', QLocale::FloatingPointShortest));
        else
            line->setText(value.toString());
    }
}

void RecordDelegate::setModelData(QWidget *editor, QAbstractItemModel *model,
                                  const QModelIndex &index) const
{
    if (auto *combo = qobject_cast<QComboBox *>(editor)) {
        model->setData(index, combo->currentData());
    } else if (auto *edit = qobject_cast<QDateTimeEdit *>(editor)) {
        model->setData(index, RecordModel::dateTimeText(edit->dateTime()));
    } else if (auto *line = qobject_cast<QLineEdit *>(editor)) {
        if (!line->hasAcceptableInput())
            return; // never written: the view keeps the database's value
        const FieldType type = typeOf(index);
        const bool text
            = type != FieldType::Int && type != FieldType::Real && type != FieldType::Decimal;
        // Cleared: NULL for numbers; an empty text stays a text.
        model->setData(index,
                       !text && line->text().trimmed().isEmpty() ? QVariant() : line->text());
    }
}

} // namespace BatchSync::Ui
